<?php
/**
 * broadcast.php — publish a Laravel broadcast event through Laravel's own
 * Illuminate\Broadcasting\Broadcasters\RedisBroadcaster (Debian php-illuminate-*
 * 8.83 packages + Predis 1.1), exactly the way a queued/`ShouldBroadcastNow`
 * event is published by a Laravel app whose BROADCAST_DRIVER=redis:
 *
 *   event  -> Illuminate\Broadcasting\BroadcastEvent::handle($factory)
 *          -> RedisBroadcaster::broadcast($channels, $name, $payload)
 *          -> EVAL "for i = 2, #ARGV do redis.call('publish', ARGV[i], ARGV[1]) end" 0 <json> <prefix.channel>...
 *
 * Usage:
 *   REDIS_PORT=6390 php broadcast.php [options] CHANNEL [CHANNEL...]
 *
 *   CHANNEL      'orders'            -> new Channel('orders')
 *                'private-orders.1'  -> new PrivateChannel('orders.1')
 *                'presence-chat.1'   -> new PresenceChannel('chat.1')
 *
 * Options:
 *   --event=FQCN      event class name (default App\Events\OrderShipped). Without --as this
 *                     FQCN is the wire event name (Echo: .listen('OrderShipped') with namespace App.Events).
 *   --as=NAME         define broadcastAs() returning NAME (Echo must then .listen('.NAME')).
 *   --data=JSON       JSON object. Default mode: each top-level key becomes a declared public
 *                     property of the event (Laravel's default payload = public properties).
 *   --with            use broadcastWith() returning --data instead of public properties.
 *   --socket=ID       socket id of the "current user" (what dontBroadcastToCurrentUser()/toOthers()
 *                     take from the X-Socket-ID request header) -> payload 'socket' key.
 *
 * Env:
 *   REDIS_HOST (127.0.0.1)  REDIS_PORT (6379)  REDIS_DB (0)
 *   REDIS_PREFIX (laravel_database_)  = config('database.redis.options.prefix'); Laravel <=12 default
 *                                       is Str::slug(APP_NAME,'_').'_database_', Laravel 13 'laravel-database-'.
 *                                       Set REDIS_PREFIX= (empty) for no prefix.
 *
 * Prints the JSON payload and the Redis channel names it published to.
 */

declare(strict_types=1);

set_include_path('/usr/share/php' . PATH_SEPARATOR . get_include_path());
require_once 'Illuminate/Broadcasting/autoload.php';
require_once 'Illuminate/Redis/autoload.php';      // also includes Predis/autoload.php when present
require_once 'Predis/autoload.php';

use Illuminate\Broadcasting\BroadcastEvent;
use Illuminate\Broadcasting\Broadcasters\RedisBroadcaster;
use Illuminate\Broadcasting\Channel;
use Illuminate\Broadcasting\PresenceChannel;
use Illuminate\Broadcasting\PrivateChannel;
use Illuminate\Contracts\Broadcasting\Factory as BroadcastingFactory;
use Illuminate\Redis\RedisManager;

// ---------------------------------------------------------------- arguments
$opts = ['event' => 'App\\Events\\OrderShipped', 'as' => null, 'data' => '{}', 'with' => false, 'socket' => null];
$channelArgs = [];
foreach (array_slice($argv, 1) as $arg) {
    if (preg_match('/^--(event|as|data|socket)=(.*)$/s', $arg, $m)) {
        $opts[$m[1]] = $m[2];
    } elseif ($arg === '--with') {
        $opts['with'] = true;
    } elseif ($arg === '-h' || $arg === '--help') {
        fwrite(STDOUT, "usage: REDIS_PORT=N php broadcast.php [--event=FQCN] [--as=NAME] [--data=JSON] [--with] [--socket=ID] CHANNEL...\n");
        exit(0);
    } else {
        $channelArgs[] = $arg;
    }
}
if (!$channelArgs) {
    fwrite(STDERR, "broadcast.php: at least one channel is required (see --help)\n");
    exit(2);
}
$data = json_decode($opts['data'], true, 512, JSON_THROW_ON_ERROR);
if (!is_array($data)) {
    fwrite(STDERR, "broadcast.php: --data must be a JSON object\n");
    exit(2);
}

// ---------------------------------------------------------------- channels
$channels = array_map(static function (string $name) {
    if (str_starts_with($name, 'private-')) {
        return new PrivateChannel(substr($name, strlen('private-')));
    }
    if (str_starts_with($name, 'presence-')) {
        return new PresenceChannel(substr($name, strlen('presence-')));
    }
    return new Channel($name);
}, $channelArgs);

// ---------------------------------------------------------------- event class (generated)
$fqcn = ltrim($opts['event'], '\\');
if (!preg_match('/^[A-Za-z_][A-Za-z0-9_]*(\\\\[A-Za-z_][A-Za-z0-9_]*)*$/', $fqcn)) {
    fwrite(STDERR, "broadcast.php: bad --event class name\n");
    exit(2);
}
$pos = strrpos($fqcn, '\\');
$ns = $pos === false ? '' : substr($fqcn, 0, $pos);
$short = $pos === false ? $fqcn : substr($fqcn, $pos + 1);

$props = '';
if (!$opts['with']) {
    foreach (array_keys($data) as $key) {
        if (!is_string($key) || !preg_match('/^[A-Za-z_][A-Za-z0-9_]*$/', $key) || $key === 'socket') {
            fwrite(STDERR, "broadcast.php: key '$key' cannot be a PHP property; use --with\n");
            exit(2);
        }
        $props .= "    public \$$key;\n";
    }
}
$methods = '';
if ($opts['as'] !== null) {
    $methods .= '    public function broadcastAs() { return ' . var_export($opts['as'], true) . "; }\n";
}
if ($opts['with']) {
    $methods .= "    public function broadcastWith() { return \$this->__with; }\n";
}
// The class mirrors `php artisan make:event` output: implements ShouldBroadcast, uses
// InteractsWithSockets (which declares `public $socket`).
$code = ($ns !== '' ? "namespace $ns;\n" : '') . <<<PHP
class $short implements \\Illuminate\\Contracts\\Broadcasting\\ShouldBroadcast
{
    use \\Illuminate\\Broadcasting\\InteractsWithSockets;
$props
    private \$__channels;
    private \$__with;
    public function __construct(array \$channels, array \$data, \$with)
    {
        \$this->__channels = \$channels;
        if (\$with) { \$this->__with = \$data; } else { foreach (\$data as \$k => \$v) { \$this->\$k = \$v; } }
    }
    public function broadcastOn() { return \$this->__channels; }
$methods}
PHP;
eval($code);

$event = new $fqcn($channels, $data, $opts['with']);
if ($opts['socket'] !== null && $opts['socket'] !== '') {
    // What InteractsWithSockets::dontBroadcastToCurrentUser() does: $this->socket = Broadcast::socket()
    // and BroadcastManager::socket() returns $request->header('X-Socket-ID').
    $event->socket = $opts['socket'];
}

// ---------------------------------------------------------------- broadcaster
$prefix = getenv('REDIS_PREFIX');
if ($prefix === false) {
    $prefix = 'laravel_database_';
}
$redisConfig = [
    'client' => 'predis',
    'options' => [
        // Same option Laravel passes to Predis; EVAL with numkeys=0 is NOT key-prefixed by Predis,
        // which is why RedisBroadcaster prepends $prefix to the channel names itself.
        'prefix' => $prefix,
    ],
    'default' => [
        'host' => getenv('REDIS_HOST') ?: '127.0.0.1',
        'port' => (int) (getenv('REDIS_PORT') ?: 6379),
        'database' => (int) (getenv('REDIS_DB') ?: 0),
    ],
];
$redis = new RedisManager(null, 'predis', $redisConfig);
// BroadcastManager::createRedisDriver(): new RedisBroadcaster($app->make('redis'), $config['connection'] ?? null,
//     $app['config']->get('database.redis.options.prefix', ''))
$broadcaster = new RedisBroadcaster($redis, null, $prefix);

$factory = new class($broadcaster) implements BroadcastingFactory {
    public function __construct(private $broadcaster) {}
    public function connection($name = null) { return $this->broadcaster; }
};

// Show what will be published (same json_encode expression as RedisBroadcaster::broadcast()).
$probe = new class extends BroadcastEvent {
    public function __construct() {}
    public function payloadOf($event) { return $this->getPayloadFromEvent($event); }
};
$payload = $probe->payloadOf($event);
$wire = json_encode(['event' => $opts['as'] ?? $fqcn,
    'data' => $payload, 'socket' => $payload['socket'] ?? null]);

(new BroadcastEvent($event))->handle($factory);

fwrite(STDOUT, "published: " . $wire . "\n");
fwrite(STDOUT, "redis channels: " . implode(' ', array_map(static fn ($c) => $prefix . $c, $channels)) . "\n");
