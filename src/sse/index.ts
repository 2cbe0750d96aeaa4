import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clearExpiry, type Expiring, scheduleExpiry } from '../auth/expiry.js';
import { checkNotRevoked, tokenHash } from '../auth/revocation.js';
import type { Config } from '../config.js';
import { RoomcastError } from '../errors.js';
import { bearer } from '../http/api-keys.js';
import { type ApiSchemas, presentParams } from '../http/schemas.js';
import type { Receivers } from '../hub/streams.js';
import type { JoinReply, UserClaims } from '../protocol.js';
import type { Engine } from '../rooms/engine.js';
import type { Client } from '../rooms/manager-types.js';
import { clientFor, expiresAtOf } from '../socket/connection.js';
import { admitToNode, admitUser } from '../socket/limits.js';
import type { NamespaceRuntime } from '../socket/namespaces.js';
import { parsePayload } from '../socket/schemas.js';
import { decodeEventId } from './id.js';
import { SseStream } from './stream.js';

export interface SseDeps {
  config: Config;
  namespaces: ReadonlyMap<string, NamespaceRuntime>;
  receivers: Receivers;
  /** For the revocation check and the per-user connection count. */
  engine: Pick<Engine, 'isRevoked' | 'addMember' | 'removeMember' | 'memberConnections'>;
  /** Connections this node holds now (Engine.IO connections and streams), for `limits.maxConnections`. */
  nodeConnections: () => number;
  schemas: ApiSchemas;
  /** False once the broker is shutting down. */
  accepting: () => boolean;
}

/**
 * `GET /v1/events?namespace=/&room=a&room=b`: Server-Sent Events for subscribe-only clients.
 * The user JWT comes as `Authorization: Bearer` or `?token=`, and is checked by the namespace's
 * verifier; each room is joined through `RoomManager.join` like a socket's, so rights, limits and
 * presence are the same (an SSE stream is a presence member). Every refusal (bad token 401,
 * forbidden room 403, too many streams 429, ...) is a JSON error before the stream starts.
 * `Last-Event-ID` (or `?lastEventId=`, for a first connect) resumes every room from history.
 */
export function registerSse(app: FastifyInstance, deps: SseDeps): void {
  const { sse } = deps.config;
  let admitting = 0;
  const admittingOf = new Map<string, number>();
  // No HEAD twin (fastify adds one to every GET): a HEAD ran the whole handler, joined the rooms
  // and held a stream no body could ever be written to, for as long as its connection lived.
  app.get('/v1/events', { exposeHeadRoute: false }, async (req: FastifyRequest, reply: FastifyReply) => {
    if (!deps.accepting()) throw new RoomcastError('unavailable', 'the server is shutting down');
    // A stream counts on the node (and for its user) once its receiver is added, after Redis
    // answered; those admitted meanwhile count too, or a burst of them passes the limits together.
    const max = deps.config.limits.maxConnections;
    if (max !== null) admitToNode(deps.nodeConnections() + admitting + 1, max);
    admitting++;
    let user: string | undefined;
    let stream: SseStream;
    let rt: NamespaceRuntime;
    let client: Client;
    let claims: UserClaims;
    let rooms: string[];
    try {
      const query = parsePayload(deps.schemas.events, presentParams(req.query));
      const ns = query.namespace ?? '/';
      const found = deps.namespaces.get(ns);
      if (!found) throw new RoomcastError('not_found', `unknown namespace "${ns}"`);
      rt = found;
      const token = bearer(req.headers.authorization) ?? query.token;
      claims = rt.context.verifier.verify(token);
      const hash = tokenHash(token as string);
      // A stream has no later event to check it at: one whose token cannot be checked now (Redis
      // away) is not opened (its rooms could not be joined then either, on one Redis).
      const checked = await checkNotRevoked(deps.engine, ns, claims, hash, (err) =>
        req.log.warn({ err }, 'revocation check unavailable; stream refused'),
      );
      if (!checked)
        throw new RoomcastError(
          'unavailable',
          'the token could not be checked for revocation (Redis is unreachable); try again',
        );
      const runtime = rt;
      rooms = [...new Set(typeof query.room === 'string' ? [query.room] : query.room)].map((r) =>
        runtime.rooms.roomName(r),
      );
      if (rooms.length === 0) throw new RoomcastError('bad_request', 'room: give at least one room');
      if (rooms.length > sse.maxRoomsPerStream)
        throw new RoomcastError('too_many_rooms', `at most ${sse.maxRoomsPerStream} rooms per stream`);
      client = clientFor(`sse:${randomUUID()}`, claims, rt.config);
      for (const room of rooms) rt.rooms.require(client, 'subscribe', room);
      const key = `${ns}\u0000${claims.sub}`;
      const pending = admittingOf.get(key) ?? 0;
      if (deps.receivers.ofUser(ns, claims.sub) + pending >= sse.maxStreamsPerUser)
        throw new RoomcastError('rate_limited', `at most ${sse.maxStreamsPerUser} streams per user`, {
          retryAfter: 1,
        });
      admittingOf.set(key, pending + 1);
      user = key;

      const perUser = rt.config.limits.connectionsPerUser;
      const release =
        perUser === null
          ? undefined
          : await admitUser(deps.engine, ns, claims.sub, client.id, perUser, req.log);
      const lastEventId = header(req, 'last-event-id') ?? query.lastEventId;
      const opened = new SseStream(ns, client, rooms, decodeEventId(lastEventId), hash);
      opened.onClose(() => {
        release?.();
        void leave(runtime, opened);
      });
      deps.receivers.add(opened);
      stream = opened;
    } finally {
      admitting--;
      if (user !== undefined) {
        const left = (admittingOf.get(user) ?? 1) - 1;
        if (left > 0) admittingOf.set(user, left);
        else admittingOf.delete(user);
      }
    }
    // Settle every join before giving up, so a failed one never races the leave of the others.
    const settled = await Promise.allSettled(
      // `async`: a join that fails at once (it may throw) is a rejection here like the others.
      // A stream cannot page with `history` as a socket client does: its replay may hold up to
      // MAX_CATCH_UP messages a room (sent paced by the reader), not `limits.historyLimit`.
      rooms.map(async (room) => rt.rooms.join(client, room, stream.resumeFrom(room), MAX_CATCH_UP)),
    );
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) {
      stream.close();
      throw failed.reason;
    }
    if (req.raw.socket.destroyed || stream.isClosed) {
      // The client left while the rooms were joined, or the stream ended meanwhile (a revocation,
      // or more arrived than it may hold before its start): nothing to answer. The connection is
      // ended, so a reader still there retries (and resumes) instead of waiting on no reply.
      stream.close();
      reply.hijack();
      reply.raw.destroy();
      return reply;
    }
    const joins = settled.map((s) => (s as PromiseFulfilledResult<JoinReply>).value);

    reply.hijack();
    const heartbeat = setInterval(() => stream.heartbeat(), sse.heartbeatMs);
    heartbeat.unref();
    const expiry: Expiring = { expiresAt: expiresAtOf(claims) };
    stream.onClose(() => {
      clearInterval(heartbeat);
      clearExpiry(expiry);
    });
    stream.start(reply.raw, joins, streamHeaders(reply));
    // A start can end the stream at once (more pending than it may hold): its cleanup ran already.
    if (stream.isClosed) return reply;
    scheduleExpiry(stream, expiry, {
      leadMs: 0,
      graceMs: rt.config.jwt.clockToleranceSec * 1000,
      warn: () => undefined,
      expire: (s) => s.close('token_expired', 'the token has expired'),
    });
    return reply;
  });
}

/**
 * The most messages of one room a resuming stream replays. A reader further behind gets
 * `roomcast:gap` and the latest ones, as a socket's join past `limits.historyLimit` does.
 */
const MAX_CATCH_UP = 10_000;

async function leave(rt: NamespaceRuntime, stream: SseStream): Promise<void> {
  await rt.rooms.leaveAll(stream.client);
}

function header(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The stream's headers: those already set on the reply (the CORS headers of the origin policy,
 * written by @fastify/cors in its hook; see src/http/origins.ts) plus the event-stream ones. The
 * reply is hijacked, so fastify would not send them itself.
 */
function streamHeaders(reply: FastifyReply): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  headers['content-type'] = 'text/event-stream; charset=utf-8';
  headers['cache-control'] = 'no-cache, no-transform';
  headers.connection = 'keep-alive';
  headers['x-accel-buffering'] = 'no';
  return headers;
}
