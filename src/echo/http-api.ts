import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TokenBucket } from 'limiter';
import { asRoomcastError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Engine } from '../rooms/engine.js';
import type { RoomManager } from '../rooms/manager.js';
import { EventLimit } from '../socket/event-limit.js';
import { channelKind, isEchoChannel, MAX_EVENT_NAME, toEchoMember } from './channels.js';

/** One `apps` entry of an Echo namespace, with the namespace's room manager. */
export interface EchoApp {
  appId: string;
  key: string;
  ns: string;
  rooms: RoomManager;
  roomNameLength: number;
  /** The app's rate-limit bucket, made at its first request. */
  bucket?: TokenBucket;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The Echo app whose key the request carries (set before the body is read). */
    echoApp: EchoApp | null;
  }
}

export interface EchoApiDeps {
  apps: readonly EchoApp[];
  limits: {
    /** `api.maxRoomsPerPublish`: channels of one event. */
    maxChannels: number;
    /** `api.rateLimitPerSecond`: requests per second per app. */
    perSecond: number;
  };
  engine: Engine;
  log: Logger;
  /** Connections open on this node (all namespaces), for `/status`. */
  connections(): number;
}

const UNAUTHORIZED = { error: 'Unauthorized' };
const BAD_EVENT = { error: 'Event must include channel, event name and data' };

/**
 * laravel-echo-server's HTTP API, in its shapes (docs/laravel.md): `POST /apps/:appId/events`,
 * `GET /apps/:appId/status`, `/channels`, `/channels/:channel`, `/channels/:channel/users`. The app's key
 * comes as `Authorization: Bearer <key>` or `?auth_key=<key>`; a wrong one is 403
 * `{"error":"Unauthorized"}`. Publishing goes through the namespace's room manager like every
 * other publish. The body is read as JSON whatever its Content-Type, as laravel-echo-server did.
 * Past laravel-echo-server, the limits of roomcast's own API hold: the key is checked before the
 * body is read, each app has `api.rateLimitPerSecond` (429 with `Retry-After`), an event goes to
 * at most `api.maxRoomsPerPublish` channels (each once), and its name is at most 200 characters.
 *
 * @example
 * await http.register(async (scope) => registerEchoApi(scope, { apps, limits, engine, log, connections }));
 */
export function registerEchoApi(scope: FastifyInstance, deps: EchoApiDeps): void {
  const { maxChannels, perSecond } = deps.limits;
  const limit = new EventLimit(perSecond, `more than ${perSecond} requests per second with this app key`);
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch {
      done(Object.assign(new Error('body is not JSON'), { statusCode: 400 }));
    }
  });
  scope.setErrorHandler((err: unknown, _req, reply) => {
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) return reply.code(status).send({ error: (err as Error).message });
    const e = asRoomcastError(err);
    if (e.code === 'internal') deps.log.error({ err }, 'echo api');
    if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
    const code = { unavailable: 503, payload_too_large: 413, rate_limited: 429 }[e.code as string] ?? 400;
    return reply.code(e.code === 'internal' ? 500 : code).send({ error: e.message });
  });
  const apps = new Map(deps.apps.map((app) => [app.appId, app]));
  // The app and its key are checked before the body is read (nothing is parsed for a caller
  // without the key), and so is the app's rate limit (`api.rateLimitPerSecond`, as for /v1 keys).
  scope.decorateRequest('echoApp', null);
  scope.addHook('onRequest', (req, reply, done) => {
    const app = apps.get((req.params as { appId: string }).appId);
    const key = keyOf(req);
    if (!app || key === undefined || !sameKey(key, app.key)) return void reply.code(403).send(UNAUTHORIZED);
    try {
      limit.take(app);
    } catch (err) {
      return done(err as Error);
    }
    req.echoApp = app;
    done();
  });
  const appOf = (req: FastifyRequest): EchoApp => req.echoApp as EchoApp;

  scope.post('/apps/:appId/events', async (req, reply) => {
    const app = appOf(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const channels = body.channels ?? (body.channel === undefined ? undefined : [body.channel]);
    const { name, socket_id: socketId } = body;
    if (!Array.isArray(channels) || channels.length === 0 || typeof name !== 'string' || !name || !body.data)
      return reply.code(400).send(BAD_EVENT);
    if (channels.length > maxChannels)
      return reply
        .code(400)
        .send({ error: `At most ${maxChannels} channels per event (api.maxRoomsPerPublish)` });
    if (name.length > MAX_EVENT_NAME)
      return reply.code(400).send({ error: `Event name longer than ${MAX_EVENT_NAME} characters` });
    if (channels.some((c) => typeof c !== 'string' || !isEchoChannel(c, app.roomNameLength)))
      return reply.code(400).send({ error: 'Invalid channel name' });
    let data = body.data;
    if (typeof data === 'string') {
      try {
        data = JSON.parse(data);
      } catch {
        // a plain string stays a string, as in laravel-echo-server
      }
    }
    const payload = app.rooms.checkMessage(name, data);
    const except = typeof socketId === 'string' && socketId ? { except: socketId } : {};
    // A channel listed twice gets the event once.
    for (const room of new Set(channels as string[]))
      await app.rooms.publish(null, { room, event: name, data }, { source: 'api', payload, ...except });
    return { message: 'ok' };
  });

  scope.get('/apps/:appId/status', async () => {
    // As laravel-echo-server: connections of this node, its uptime in seconds, its memory.
    return {
      subscription_count: deps.connections(),
      uptime: process.uptime(),
      memory_usage: process.memoryUsage(),
    };
  });

  scope.get('/apps/:appId/channels', async (req) => {
    const app = appOf(req);
    const prefix = (req.query as { filter_by_prefix?: unknown }).filter_by_prefix;
    const stats = await deps.engine.rooms(app.ns, typeof prefix === 'string' ? prefix : '');
    // Own properties whatever the name (a channel may be called `__proto__`).
    const channels = Object.fromEntries(
      stats.map((s) => [s.room, { subscription_count: s.connections, occupied: s.connections > 0 }]),
    );
    return { channels };
  });

  scope.get('/apps/:appId/channels/:channel', async (req) => {
    const app = appOf(req);
    const { channel } = req.params as { channel: string };
    if (!isEchoChannel(channel, app.roomNameLength)) return { subscription_count: 0, occupied: false };
    const stat = await deps.engine.room(app.ns, channel);
    const count = stat?.connections ?? 0;
    const out: Record<string, unknown> = { subscription_count: count, occupied: count > 0 };
    if (channelKind(channel) === 'presence') out.user_count = stat?.members ?? 0;
    return out;
  });

  scope.get('/apps/:appId/channels/:channel/users', async (req, reply) => {
    const app = appOf(req);
    const { channel } = req.params as { channel: string };
    if (channelKind(channel) !== 'presence' || !isEchoChannel(channel, app.roomNameLength))
      return reply.code(400).send({ error: 'User list is only possible for Presence Channels' });
    const members = await app.rooms.presence(null, channel);
    return {
      users: members.map((m) => {
        const { user_id: id, user_info } = toEchoMember(m);
        return { id, user_info };
      }),
    };
  });
}

function keyOf(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string' && header) return header.replace(/^Bearer /, '');
  const q = (req.query as { auth_key?: unknown }).auth_key;
  return typeof q === 'string' ? q : undefined;
}

function sameKey(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
