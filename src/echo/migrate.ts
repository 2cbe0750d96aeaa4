/**
 * `roomcast echo-config laravel-echo-server.json`: the roomcast config that does what a
 * laravel-echo-server config did, and a note for every setting that does not carry over
 * (docs/laravel.md, "Moving from laravel-echo-server"). Pure: the CLI reads the file and prints.
 */

import { withoutDefaultPort } from '../config.js';

export interface Migration {
  /** A roomcast config file's content (ROOMCAST_CONFIG). */
  config: Record<string, unknown>;
  /** One line per setting that was not carried over, or was changed on the way. */
  notes: string[];
}

type Json = Record<string, unknown>;

/** laravel-echo-server's keys this migration reads; any other key gets a note. */
const KNOWN = new Set([
  'authHost',
  'authEndpoint',
  'clients',
  'database',
  'databaseConfig',
  'devMode',
  'host',
  'port',
  'protocol',
  'socketio',
  'secureOptions',
  'sslCertPath',
  'sslKeyPath',
  'sslCertChainPath',
  'sslPassphrase',
  'subscribers',
  'apiOriginAllow',
  'headers',
]);

/**
 * @example
 * const { config, notes } = fromEchoServerConfig(JSON.parse(readFileSync('laravel-echo-server.json', 'utf8')));
 */
export function fromEchoServerConfig(les: unknown): Migration {
  if (!isObject(les)) throw new Error('laravel-echo-server.json must hold a JSON object');
  const notes: string[] = [];
  const note = (s: string) => void notes.push(s);
  for (const key of Object.keys(les))
    if (!KNOWN.has(key)) note(`${key}: not a laravel-echo-server setting roomcast knows; not carried over`);

  const echo: Json = {};
  const authHosts = Array.isArray(les.authHost) ? les.authHost : [les.authHost ?? 'http://localhost'];
  const authHost = String(authHosts[0] ?? 'http://localhost').replace(/\/+$/, '');
  echo.authHost = authHost;
  if (authHosts.length > 1)
    note(
      `authHost: ${authHosts.length} hosts given; roomcast authorizes against one (${authHost}), not by the client's Referer`,
    );
  echo.authEndpoint = typeof les.authEndpoint === 'string' ? les.authEndpoint : '/broadcasting/auth';
  if (hasEnvReference(authHost))
    note('authHost: environment references are not expanded by roomcast; write the value');

  const subscribers = isObject(les.subscribers) ? les.subscribers : {};
  const db = isObject(les.databaseConfig) ? les.databaseConfig : {};
  const redis = isObject(db.redis) ? db.redis : {};
  echo.redisPrefix = typeof redis.keyPrefix === 'string' ? redis.keyPrefix : '';
  echo.subscribeRedis = subscribers.redis !== false;
  const url = redisUrl(redis, note);
  if (echo.subscribeRedis) echo.redisUrl = url;

  const clients = Array.isArray(les.clients) ? les.clients : [];
  if (subscribers.http === false) {
    if (clients.length) note('subscribers.http is false: the clients were not given the HTTP API');
    echo.apps = [];
  } else {
    echo.apps = clients
      .filter(isObject)
      .map((c) => ({ appId: String(c.appId ?? ''), key: String(c.key ?? '') }));
    (echo.apps as { appId: string; key: string }[]).forEach((a, i) => {
      if (a.key.length < 8)
        note(`clients.${i}.key: roomcast needs an app key of 8 characters or more; replace "${a.key}"`);
    });
  }

  const config: Json = {
    host: typeof les.host === 'string' && les.host ? les.host : '0.0.0.0',
    port: portOf(les.port, note),
    logLevel: les.devMode === true ? 'debug' : 'info',
  };
  const cors = isObject(les.apiOriginAllow) ? les.apiOriginAllow : {};
  if (cors.allowCors === true && typeof cors.allowOrigin === 'string' && cors.allowOrigin) {
    const origins = cors.allowOrigin
      .split(',')
      .map((s) => withoutDefaultPort(s.trim()))
      .filter(Boolean);
    config.allowedOrigins = origins;
    note(
      `apiOriginAllow.allowOrigin: kept as allowedOrigins (${origins.join(', ')}), which roomcast applies to Socket.IO connections too, where laravel-echo-server applied it to its HTTP API only: list every page's origin`,
    );
    if (cors.allowMethods || cors.allowHeaders)
      note('apiOriginAllow.allowMethods/allowHeaders: roomcast answers CORS itself; not carried over');
  } else {
    config.allowedOrigins = ['*'];
    note(
      'allowedOrigins: laravel-echo-server accepted every origin; set your site\'s origins ("*" kept for now)',
    );
  }
  config.namespaces = { '/': { echo } };

  if (les.database === 'sqlite')
    note('database "sqlite": roomcast keeps presence in memory or in its own Redis; not carried over');
  if (db.publishPresence)
    note('databaseConfig.publishPresence: not supported (no PresenceChannelUpdated messages)');
  if (redis.sentinels) note('databaseConfig.redis.sentinels: give roomcast ROOMCAST_REDIS_SENTINELS instead');
  if (les.protocol === 'https' || les.sslCertPath || les.sslKeyPath)
    note(
      'protocol/sslCertPath/sslKeyPath/sslCertChainPath/sslPassphrase: roomcast serves plain HTTP; terminate TLS in a proxy',
    );
  if (les.secureOptions !== undefined) note("secureOptions: TLS options are the proxy's; not carried over");
  if (isObject(les.socketio) && Object.keys(les.socketio).length)
    note(
      `socketio: Socket.IO server options (${Object.keys(les.socketio).join(', ')}) are roomcast's own; not carried over`,
    );
  if (isObject(les.headers) && Object.keys(les.headers).length)
    note('headers: extra response headers are not supported');
  return { config, notes };
}

function redisUrl(redis: Json, note: (s: string) => void): string {
  const host = typeof redis.host === 'string' && redis.host ? redis.host : '127.0.0.1';
  const port = Number(redis.port ?? 6379);
  const db = Number(redis.db ?? 0);
  const password = typeof redis.password === 'string' && redis.password ? redis.password : '';
  const auth = password ? `:${encodeURIComponent(password)}@` : '';
  for (const key of Object.keys(redis))
    if (!['host', 'port', 'password', 'db', 'keyPrefix'].includes(key))
      note(`databaseConfig.redis.${key}: not carried over (roomcast takes a redis:// URL)`);
  return `redis://${auth}${host}:${Number.isFinite(port) ? port : 6379}/${Number.isFinite(db) ? db : 0}`;
}

function portOf(value: unknown, note: (s: string) => void): number {
  // laravel-echo-server takes "6001" or "6001/" alike.
  const m = /([0-9]{2,5})\/?$/.exec(String(value ?? '6001'));
  const port = m ? Number(m[1]) : 6001;
  if (!m) note(`port: "${String(value)}" is not a port; 6001 used`);
  return port;
}

function hasEnvReference(s: string): boolean {
  return /\$\{[^}]+\}/.test(s);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
