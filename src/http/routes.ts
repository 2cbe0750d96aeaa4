import type { FastifyRequest, FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { inputErrorMap, RoomcastError } from '../errors.js';
import type { StreamPosition } from '../protocol.js';
import type { Engine } from '../rooms/engine.js';
import { andThen } from '../rooms/maybe.js';
import type { EventLimit } from '../socket/event-limit.js';
import type { NamespaceRuntime } from '../socket/namespaces.js';
import type { ApiCaller, ApiKeyring } from './api-keys.js';
import { type PublishDeps, publishBatch, publishOne } from './publish.js';
import {
  disconnectReply,
  historyReply,
  presenceReply,
  publishReply,
  responses,
  roomsReply,
} from './replies.js';
import { type ApiSchemas, presentParams, roomParams } from './schemas.js';

export interface RouteDeps {
  keys: ApiKeyring;
  schemas: ApiSchemas;
  engine: Engine;
  namespaces: ReadonlyMap<string, NamespaceRuntime>;
  disconnect(ns: string, sub: string, reconnect: boolean): Promise<number>;
  /** `api.rateLimitPerSecond`, per API key. */
  limit: EventLimit;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key that a server-API request passed `identify` with (routes of `apiRoutes` only). */
    apiCaller: ApiCaller | null;
  }
}

/** The API caller of a request that passed `identify`. */
export function callerOf(req: FastifyRequest): ApiCaller {
  const caller = req.apiCaller;
  if (!caller) throw new RoomcastError('unauthorized', 'an API key is required');
  return caller;
}

/**
 * Validates with zod and roomcast's error map; a failure is the `ZodError` itself, which the one
 * error handler turns into `bad_request` naming the fields (`fromHttpError`).
 */
const validatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
  (input) => {
    const data = httpPart === 'querystring' ? presentParams(input) : input;
    // zod's fast path first (options turn it off); only a body that fails is parsed again for
    // roomcast's messages, as for socket payloads (errors.parseInput).
    const fast = schema.safeParse(data);
    if (fast.success) return { value: fast.data };
    const parsed = schema.safeParse(data, { error: inputErrorMap });
    return parsed.success ? { value: parsed.data } : { error: parsed.error };
  };

/**
 * Replies are written with `JSON.stringify`. Every handler returns its protocol type (the reply
 * schemas are checked against those types at compile time, in replies.ts), so parsing each reply
 * with its zod schema again, as fastify-type-provider-zod's serializer does, only cost time: about
 * 30 µs of a publish request's 190 (docs/benchmarks.md). The schemas still document the replies
 * in the OpenAPI document.
 */
const serializerCompiler: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);

/**
 * The server-to-server routes of the README's "Server API": one registration point for the
 * plugins below, each thin over the namespace's room manager or the engine. Every route declares
 * its `schema` (fastify validates bodies, query strings and paths with it before the handler, and
 * the OpenAPI document is generated from it). The key is checked in `onRequest`, before the body
 * is read, and so is the key's rate limit (`api.rateLimitPerSecond`: 429 `rate_limited` with
 * `Retry-After`); the namespace (from the body or the query) is authorised in the handler.
 *
 * @example
 * await app.register(apiRoutes, { keys, schemas, engine, namespaces, disconnect, limit });
 */
export const apiRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: fastify reads text/plain too, and a JSON body sent as text/plain was then refused
  // as "body: expected an object, got a string" instead of for its Content-Type.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('apiCaller', null);
  // Callback hooks, not async ones: no promise per request.
  app.addHook('onRequest', (req, _reply, done) => {
    try {
      const caller = deps.keys.identify(req.headers.authorization, req.raw.socket);
      deps.limit.take(caller);
      req.apiCaller = caller;
      refuseContentEncoding(req.headers['content-encoding']);
    } catch (err) {
      return done(err as Error);
    }
    done();
  });
  await app.register(publishRoutes, deps);
  await app.register(roomRoutes, deps);
  await app.register(disconnectRoutes, deps);
};

/**
 * A body is read as it comes: one sent compressed (`Content-Encoding: gzip`) would be refused as
 * bad JSON, and a plain one labelled compressed taken as plain. Both are refused for their coding.
 */
function refuseContentEncoding(coding: string | undefined): void {
  if (coding === undefined || coding.trim().toLowerCase() === 'identity') return;
  throw new RoomcastError(
    'bad_request',
    `Content-Encoding ${JSON.stringify(coding)} is not supported: send the body uncompressed`,
  );
}

const security = [{ apiKey: [] }];

/** `POST /v1/publish` and `POST /v1/batch`. */
const publishRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  const publishDeps: PublishDeps = deps;
  app.post(
    '/v1/publish',
    {
      schema: {
        summary: 'Publish one message to a room or to each of several rooms',
        security,
        body: deps.schemas.publish,
        response: responses(publishReply),
      },
    },
    // Not async: on one node the reply is sent in this tick (fastify sends a plain return value,
    // and a throw becomes the error reply, as a rejection would).
    (req) =>
      andThen(publishOne(publishDeps, callerOf(req), req.body), (results) => ({
        ok: true as const,
        results,
      })),
  );
  app.post(
    '/v1/batch',
    {
      schema: {
        summary: 'Publish several messages; order is kept per room',
        security,
        body: deps.schemas.batch,
        response: responses(publishReply),
      },
    },
    async (req) => ({
      ok: true as const,
      results: await publishBatch(publishDeps, callerOf(req), req.body.messages),
    }),
  );
};

/** `GET /v1/rooms`, and a room's presence and history. */
const roomRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  app.get(
    '/v1/rooms',
    {
      schema: {
        summary: 'Rooms with members, cluster-wide',
        security,
        querystring: deps.schemas.rooms,
        response: responses(roomsReply),
      },
    },
    async (req) => {
      const rt = runtime(deps, req, req.query.namespace);
      return { ok: true as const, rooms: await deps.engine.rooms(rt.name, req.query.prefix ?? '') };
    },
  );
  app.get(
    '/v1/rooms/:room/presence',
    {
      schema: {
        summary: 'Members of a room, cluster-wide',
        security,
        params: roomParams,
        querystring: deps.schemas.presence,
        response: responses(presenceReply),
      },
    },
    async (req) => {
      const rt = runtime(deps, req, req.query.namespace);
      return { ok: true as const, members: await rt.rooms.presence(null, req.params.room) };
    },
  );
  app.get(
    '/v1/rooms/:room/history',
    {
      schema: {
        summary: 'Messages after an offset, or the latest ones',
        security,
        params: roomParams,
        querystring: deps.schemas.history,
        response: responses(historyReply),
      },
    },
    async (req) => {
      const { namespace, since, epoch, limit } = req.query;
      const rt = runtime(deps, req, namespace);
      const room = req.params.room;
      let position: StreamPosition | undefined;
      if (since !== undefined) {
        // `since` alone counts in the room's current epoch (one extra read for its epoch).
        position = {
          offset: since,
          epoch: epoch ?? (await rt.rooms.historyOf(null, room, undefined, 0)).epoch,
        };
      }
      return { ok: true as const, ...(await rt.rooms.historyOf(null, room, position, limit)) };
    },
  );
};

/** `POST /v1/disconnect`. */
const disconnectRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  app.post(
    '/v1/disconnect',
    {
      schema: {
        summary: 'Close every connection of a user, cluster-wide',
        security,
        body: deps.schemas.disconnect,
        response: responses(disconnectReply),
      },
    },
    async (req) => {
      const rt = runtime(deps, req, req.body.namespace);
      return {
        ok: true as const,
        disconnected: await deps.disconnect(rt.name, req.body.sub, req.body.reconnect !== false),
      };
    },
  );
};

/** The namespace a request names (default `/`), once the caller's key is known to open it. */
function runtime(deps: RouteDeps, req: FastifyRequest, namespace: string | undefined): NamespaceRuntime {
  const ns = namespace ?? '/';
  deps.keys.authorize(callerOf(req), ns);
  const rt = deps.namespaces.get(ns);
  if (!rt) throw new RoomcastError('not_found', `unknown namespace "${ns}"`);
  return rt;
}
