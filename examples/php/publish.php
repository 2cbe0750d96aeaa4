<?php
declare(strict_types=1);

// Publishes one message to a room and prints who is in it, as one JSON line.
//
//   ROOMCAST_URL=http://localhost:3000 ROOMCAST_API_KEY=... php examples/php/publish.php
//
// Optional: ROOMCAST_ROOM (default "chat:lobby"), ROOMCAST_NAMESPACE (default "/"),
// ROOMCAST_TEXT (the message text). Exit code 1 with the error code on stderr when a call fails.

require __DIR__ . '/Roomcast.php';

$url = getenv('ROOMCAST_URL') ?: 'http://localhost:3000';
$key = getenv('ROOMCAST_API_KEY');
if ($key === false || $key === '') {
    fwrite(STDERR, "set ROOMCAST_API_KEY (the broker prints one at start in development)\n");
    exit(2);
}
$room = getenv('ROOMCAST_ROOM') ?: 'chat:lobby';
$text = getenv('ROOMCAST_TEXT') ?: 'Hello from PHP';

$rc = new Roomcast($url, $key, getenv('ROOMCAST_NAMESPACE') ?: '/');
try {
    // The idempotency key makes a retry after a timeout safe: the room never sees it twice.
    $result = $rc->publish($room, 'message', ['text' => $text], 'php-example-' . bin2hex(random_bytes(8)));
    $members = $rc->presence($room);
} catch (RoomcastException $e) {
    fwrite(STDERR, sprintf("roomcast: %s (HTTP %d): %s\n", $e->getErrorCode(), $e->getStatus(), $e->getMessage()));
    exit(1);
} catch (JsonException $e) {
    // Data JSON cannot carry (a string that is not UTF-8): nothing was sent.
    fwrite(STDERR, "roomcast: the data is not valid JSON: {$e->getMessage()}\n");
    exit(1);
}

echo json_encode(['published' => $result, 'members' => $members], JSON_UNESCAPED_SLASHES), "\n";
