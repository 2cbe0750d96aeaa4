<?php
/**
 * auth-server.php — a stand-in for a Laravel app's `/broadcasting/auth` route, answered by
 * Laravel's own RedisBroadcaster::auth() (Debian php-illuminate-broadcasting 8.83) with
 * channel callbacks registered the way routes/channels.php does (Broadcast::channel(...)).
 *
 *   php -S 127.0.0.1:PORT auth-server.php
 *
 * Routes
 *   GET|POST /broadcasting/auth   Laravel registers both verbs (BroadcastManager::routes()).
 *   GET      /health              "ok"
 *   GET      /log                 JSON array of every auth request seen so far (needs AUTH_LOG)
 *
 * Who is the user (stand-in for the `web` session guard / sanctum):
 *   Cookie: laravel_session=user-<ID>          (what a browser sends; laravel-echo-server forwards it)
 *   Authorization: Bearer user-<ID>            (Echo option bearerToken / auth.headers)
 *   Users: 1 Alice, 2 Bob, 3 Carol. Anything else = guest (no user).
 *
 * Channels (patterns as in routes/channels.php, names WITHOUT private-/presence- prefix):
 *   App.Models.User.{id}  private: allowed iff the user's id == {id}      (Laravel's stock channel)
 *   orders.{orderId}      private: allowed for any authenticated user     (callback returns true)
 *   secret.{any}          private: always denied                          (callback returns false -> 403)
 *   chat.{roomId}         presence: returns ['id' => .., 'name' => ..]   -> {"channel_data":{...}}
 *   Unknown channel / guest on guarded channel -> 403 (AccessDeniedHttpException).
 *
 * Env
 *   REDIS_PREFIX (default empty here)  RedisBroadcaster::auth() strips it from channel_name first.
 *   AUTH_LOG=/path/file.jsonl          append one JSON line per auth request (method, uri, headers, body, status, reply).
 *
 * Replies are what a real Laravel app sends: the broadcaster returns a JSON *string*, which the
 * router wraps in `new Response($string, 200, ['Content-Type' => 'text/html'])`; so the body is
 * `true` or `{"channel_data":{"user_id":1,"user_info":{...}}}` with Content-Type text/html; charset=UTF-8.
 * Denials: 403; the body mimics Laravel's JSON error rendering ({"message":""}) when the request
 * "expects JSON" (X-Requested-With: XMLHttpRequest or an Accept header naming json), else a plain text page.
 */

declare(strict_types=1);

set_include_path('/usr/share/php' . PATH_SEPARATOR . get_include_path());
require_once 'Illuminate/Broadcasting/autoload.php';
require_once 'Illuminate/Http/autoload.php';
require_once 'Illuminate/Redis/autoload.php';
require_once 'Illuminate/Container/autoload.php';

use Illuminate\Broadcasting\Broadcasters\RedisBroadcaster;
use Illuminate\Contracts\Auth\Authenticatable;
use Illuminate\Http\Request;
use Illuminate\Redis\RedisManager;
use Symfony\Component\HttpKernel\Exception\HttpExceptionInterface;

final class DemoUser implements Authenticatable
{
    public function __construct(public int $id, public string $name) {}
    public function getAuthIdentifierName() { return 'id'; }
    public function getAuthIdentifier() { return $this->id; }
    public function getAuthPassword() { return ''; }
    public function getRememberToken() { return null; }
    public function setRememberToken($value) {}
    public function getRememberTokenName() { return 'remember_token'; }
}

const USERS = [1 => 'Alice', 2 => 'Bob', 3 => 'Carol'];

function user_from_request(Request $request): ?DemoUser
{
    $token = null;
    $cookie = $request->cookies->get('laravel_session');
    if (is_string($cookie) && $cookie !== '') {
        $token = $cookie;
    } elseif (($bearer = $request->bearerToken()) !== null) {
        $token = $bearer;
    }
    if ($token !== null && preg_match('/^user-(\d+)$/', $token, $m) && isset(USERS[(int) $m[1]])) {
        return new DemoUser((int) $m[1], USERS[(int) $m[1]]);
    }
    return null;
}

function log_request(Request $request, int $status, string $body): void
{
    $file = getenv('AUTH_LOG');
    if (!$file) {
        return;
    }
    $headers = [];
    foreach ($request->headers->all() as $k => $v) {
        $headers[$k] = count($v) === 1 ? $v[0] : $v;
    }
    $line = json_encode([
        'method' => $request->getMethod(),
        'uri' => $request->getRequestUri(),
        'headers' => $headers,
        'content_type' => $request->headers->get('Content-Type'),
        'raw_body' => $request->getContent(),
        'input' => $request->all(),
        'status' => $status,
        'reply' => $body,
    ], JSON_UNESCAPED_SLASHES) . "\n";
    file_put_contents($file, $line, FILE_APPEND | LOCK_EX);
}

$request = Request::capture();
$path = '/' . trim($request->path(), '/');

if ($path === '/health') {
    header('Content-Type: text/plain');
    echo "ok\n";
    return;
}
if ($path === '/log') {
    header('Content-Type: application/json');
    $file = getenv('AUTH_LOG');
    $lines = ($file && is_file($file)) ? file($file, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) : [];
    echo '[' . implode(',', $lines) . "]\n";
    return;
}
if ($path !== '/broadcasting/auth' || !in_array($request->getMethod(), ['GET', 'POST'], true)) {
    http_response_code(404);
    header('Content-Type: text/plain');
    echo "not found\n";
    return;
}

// Same as Auth's RequestGuard wiring: $request->user($guard) calls this resolver.
$request->setUserResolver(static fn ($guard = null) => user_from_request($request));

$prefix = getenv('REDIS_PREFIX') ?: '';
// auth() never touches Redis; a RedisManager is only needed to construct the broadcaster.
$broadcaster = new RedisBroadcaster(new RedisManager(null, 'predis', []), null, $prefix);

// routes/channels.php equivalents
$broadcaster->channel('App.Models.User.{id}', static fn ($user, $id) => (int) $user->id === (int) $id);
$broadcaster->channel('orders.{orderId}', static fn ($user, $orderId) => true);
$broadcaster->channel('secret.{any}', static fn ($user, $any) => false);
$broadcaster->channel('chat.{roomId}', static fn ($user, $roomId) => ['id' => $user->id, 'name' => $user->name]);

try {
    $body = $broadcaster->auth($request);           // JSON string, e.g. 'true' or '{"channel_data":...}'
    $status = 200;
    http_response_code(200);
    header('Content-Type: text/html; charset=UTF-8'); // Router::toResponse() for a string response
    echo $body;
} catch (HttpExceptionInterface $e) {               // AccessDeniedHttpException -> 403
    $status = $e->getStatusCode();
    http_response_code($status);
    if ($request->expectsJson()) {
        header('Content-Type: application/json');
        $body = json_encode(['message' => $e->getMessage()]);
    } else {
        header('Content-Type: text/plain; charset=UTF-8');
        $body = $status === 403 ? 'Forbidden' : 'Error';
    }
    echo $body;
}
log_request($request, $status, $body);
