import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RoomcastError } from '../errors.js';
import type { StreamPosition } from '../protocol.js';
import type { Engine } from '../rooms/engine.js';
import type { NamespaceRuntime } from '../socket/namespaces.js';
import { parsePayload } from '../socket/schemas.js';
import type { ApiCaller, ApiKeyring } from './api-keys.js';
import { type PublishDeps, publishBatch, publishOne } from './publish.js';
import type { ApiSchemas } from './schemas.js';

export interface RouteDeps {
  keys: ApiKeyring;
  schemas: ApiSchemas;
  engine: Engine;
  namespaces: ReadonlyMap<string, NamespaceRuntime>;
  idempotencyWindowMs: number;
  disconnect(ns: string, sub: string, reconnect: boolean): Promise<number>;
}

const callers = new WeakMap<FastifyRequest, ApiCaller>();

/** The API caller of a request that passed `identify` (the rate limiter keys its buckets by it). */
export function callerOf(req: FastifyRequest): ApiCaller {
  const caller = callers.get(req);
  if (!caller) throw new RoomcastError('unauthorized', 'an API key is required');
  return caller;
}

/**
 * The server-to-server routes of contract section 5, each thin over the namespace's room manager
 * or the engine. The key is checked in `onRequest`, before the body is read; the per-key rate
 * limit runs right after it; the namespace (from the body or the query) is authorised in the
 * handler. `rateLimit: {}` enables @fastify/rate-limit's per-route hook with the plugin's options.
 */
export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const identify = async (req: FastifyRequest) => {
    callers.set(req, deps.keys.identify(req.headers.authorization));
  };
  const route = { onRequest: [identify], config: { rateLimit: {} } };
  const publishDeps: PublishDeps = deps;
  const runtime = (req: FastifyRequest, namespace: string | undefined): NamespaceRuntime => {
    const ns = namespace ?? '/';
    deps.keys.authorize(callerOf(req), ns);
    const rt = deps.namespaces.get(ns);
    if (!rt) throw new RoomcastError('not_found', `unknown namespace "${ns}"`);
    return rt;
  };

  app.post('/v1/publish', route, async (req) => {
    const body = parsePayload(deps.schemas.publish, req.body);
    return { ok: true, results: await publishOne(publishDeps, callerOf(req), body) };
  });

  app.post('/v1/batch', route, async (req) => {
    const body = parsePayload(deps.schemas.batch, req.body);
    return { ok: true, results: await publishBatch(publishDeps, callerOf(req), body.messages) };
  });

  app.get('/v1/rooms', route, async (req) => {
    const query = parsePayload(deps.schemas.rooms, req.query);
    const rt = runtime(req, query.namespace);
    return { ok: true, rooms: await deps.engine.rooms(rt.name, query.prefix ?? '') };
  });

  app.get<{ Params: { room: string } }>('/v1/rooms/:room/presence', route, async (req) => {
    const query = parsePayload(deps.schemas.presence, req.query);
    const rt = runtime(req, query.namespace);
    return { ok: true, members: await rt.rooms.presence(null, req.params.room) };
  });

  app.get<{ Params: { room: string } }>('/v1/rooms/:room/history', route, async (req) => {
    const query = parsePayload(deps.schemas.history, req.query);
    const rt = runtime(req, query.namespace);
    const room = req.params.room;
    let since: StreamPosition | undefined;
    if (query.since !== undefined) {
      // `since` alone counts in the room's current epoch (one extra read for its epoch).
      const epoch = query.epoch ?? (await rt.rooms.historyOf(null, room, undefined, 0)).epoch;
      since = { offset: Number(query.since), epoch };
    }
    const limit = query.limit === undefined ? undefined : Number(query.limit);
    const result = await rt.rooms.historyOf(null, room, since, limit);
    return { ok: true, ...result };
  });

  app.post('/v1/disconnect', route, async (req) => {
    const body = parsePayload(deps.schemas.disconnect, req.body);
    const rt = runtime(req, body.namespace);
    return { ok: true, disconnected: await deps.disconnect(rt.name, body.sub, body.reconnect !== false) };
  });
}
