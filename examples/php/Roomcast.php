<?php
declare(strict_types=1);

/**
 * A failed roomcast API call. getErrorCode() is the contract's code (unauthorized, invalid_room,
 * rate_limited, unavailable, ...); getStatus() the HTTP status (0 when the broker did not answer).
 */
final class RoomcastException extends RuntimeException
{
    public function __construct(
        private string $errorCode,
        string $message,
        private int $status,
        private ?int $retryAfter = null,
    ) {
        parent::__construct($message);
    }

    public function getErrorCode(): string { return $this->errorCode; }
    public function getStatus(): int { return $this->status; }
    /** Seconds to wait before retrying (from Retry-After), when the broker said. */
    public function getRetryAfter(): ?int { return $this->retryAfter; }
    /** True when the same call may succeed later. */
    public function isTemporary(): bool { return in_array($this->errorCode, ['rate_limited', 'unavailable'], true); }
}

/**
 * roomcast's server API from PHP 8.0+: one HTTP call per operation, ext-curl only, no dependencies.
 *
 *   $rc = new Roomcast('http://localhost:3000', getenv('ROOMCAST_API_KEY'));
 *   $result = $rc->publish('chat:1', 'msg', ['text' => 'hi'], 'order-42'); // ['room', 'offset', 'epoch']
 *
 * Pass an idempotency key when you may retry (after a timeout, say): a repeat within the broker's
 * window returns the first result and delivers nothing twice.
 */
final class Roomcast
{
    private string $url;

    public function __construct(
        string $url,
        private string $apiKey,
        private string $namespace = '/',
        private int $timeoutMs = 10000,
    ) {
        $this->url = rtrim($url, '/');
    }

    /** Publishes to one room; returns ['room' => ..., 'offset' => ..., 'epoch' => ...]. */
    public function publish(string $room, string $event, mixed $data = null, ?string $idempotencyKey = null): array
    {
        return $this->publishBody(['room' => $room, 'event' => $event, 'data' => $data], $idempotencyKey)[0];
    }

    /** Publishes the same message to each room; one result per room. */
    public function publishToRooms(array $rooms, string $event, mixed $data = null, ?string $idempotencyKey = null): array
    {
        return $this->publishBody(['rooms' => array_values($rooms), 'event' => $event, 'data' => $data], $idempotencyKey);
    }

    /** Several messages (each ['room' => ..., 'event' => ..., 'data' => ...]); results in order. */
    public function batch(array $messages): array
    {
        $messages = array_map(fn (array $m) => $m + ['namespace' => $this->namespace], array_values($messages));
        return $this->call('POST', '/v1/batch', ['messages' => $messages])['results'];
    }

    /** Members of a room: [['sub' => ..., 'info' => ..., 'connections' => n], ...]. */
    public function presence(string $room): array
    {
        return $this->call('GET', $this->roomPath($room) . '/presence?' . $this->query([]))['members'];
    }

    /** Messages after $since (['offset' => n, 'epoch' => '...']) or the latest ones. */
    public function history(string $room, ?array $since = null, ?int $limit = null): array
    {
        $q = [];
        if ($since !== null) { $q['since'] = $since['offset']; $q['epoch'] = $since['epoch']; }
        if ($limit !== null) { $q['limit'] = $limit; }
        $reply = $this->call('GET', $this->roomPath($room) . '/history?' . $this->query($q));
        unset($reply['ok']);
        return $reply;
    }

    /** Rooms with members: [['room' => ..., 'members' => n, 'connections' => n], ...]. */
    public function rooms(string $prefix = ''): array
    {
        return $this->call('GET', '/v1/rooms?' . $this->query(['prefix' => $prefix]))['rooms'];
    }

    /**
     * Closes every connection of a user; returns how many. With $reconnect false, the user's tokens
     * issued before this call are refused until they expire (issue new ones to let them back).
     */
    public function disconnect(string $sub, bool $reconnect = true): int
    {
        $body = ['namespace' => $this->namespace, 'sub' => $sub, 'reconnect' => $reconnect];
        return $this->call('POST', '/v1/disconnect', $body)['disconnected'];
    }

    private function publishBody(array $body, ?string $idempotencyKey): array
    {
        $body['namespace'] = $this->namespace;
        if ($idempotencyKey !== null) { $body['idempotencyKey'] = $idempotencyKey; }
        return $this->call('POST', '/v1/publish', $body)['results'];
    }

    private function roomPath(string $room): string
    {
        return '/v1/rooms/' . rawurlencode($room);
    }

    private function query(array $params): string
    {
        return http_build_query(['namespace' => $this->namespace] + $params, '', '&', PHP_QUERY_RFC3986);
    }

    private function call(string $method, string $path, ?array $body = null): array
    {
        $retryAfter = null;
        $ch = curl_init($this->url . $path);
        $headers = ['Authorization: Bearer ' . $this->apiKey, 'Accept: application/json'];
        curl_setopt_array($ch, [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT_MS => $this->timeoutMs,
            CURLOPT_HEADERFUNCTION => function ($ch, string $line) use (&$retryAfter): int {
                if (stripos($line, 'retry-after:') === 0) { $retryAfter = (int) trim(substr($line, 12)); }
                return strlen($line);
            },
        ]);
        if ($body !== null) {
            $headers[] = 'Content-Type: application/json';
            curl_setopt($ch, CURLOPT_POSTFIELDS, json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES));
        }
        curl_setopt($ch, CURLOPT_HTTPHEADER, $headers);
        $text = curl_exec($ch);
        $status = (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        $curlError = curl_error($ch);
        if ($text === false || $status === 0) {
            throw new RoomcastException('unavailable', "$method $path: no answer ($curlError)", 0);
        }
        $reply = json_decode((string) $text, true);
        if (!is_array($reply)) {
            throw new RoomcastException($status >= 500 ? 'unavailable' : 'internal', "HTTP $status: not JSON", $status);
        }
        if ($status >= 200 && $status < 300 && ($reply['ok'] ?? false) === true) {
            return $reply;
        }
        $error = $reply['error'] ?? [];
        throw new RoomcastException($error['code'] ?? 'internal', $error['message'] ?? "HTTP $status", $status, $retryAfter);
    }
}
