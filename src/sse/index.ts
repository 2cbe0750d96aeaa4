import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clearExpiry, type Expiring, scheduleExpiry } from '../auth/expiry.js';
import { checkNotRevoked, tokenHash } from '../auth/revocation.js';
import type { Config } from '../config.js';
import { RoomcastError } from '../errors.js';
import { bearer } from '../http/api-keys.js';
import { type ApiSchemas, presentParams } from '../http/schemas.js';
import type { Receivers } from '../hub/streams.js';
import type { Envelope, JoinReply, StreamPosition } from '../protocol.js';
import type { Engine } from '../rooms/engine.js';
import type { Client } from '../rooms/manager.js';
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
  app.get('/v1/events', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!deps.accepting()) throw new RoomcastError('unavailable', 'the server is shutting down');
    admitToNode(deps.nodeConnections() + 1, deps.config.limits.maxConnections);
    const query = parsePayload(deps.schemas.events, presentParams(req.query));
    const ns = query.namespace ?? '/';
    const rt = deps.namespaces.get(ns);
    if (!rt) throw new RoomcastError('not_found', `unknown namespace "${ns}"`);
    const token = bearer(req.headers.authorization) ?? query.token;
    const claims = rt.context.verifier.verify(token);
    const hash = tokenHash(token as string);
    await checkNotRevoked(deps.engine, ns, claims, hash, (err) =>
      req.log.warn({ err }, 'revocation check unavailable; stream let in'),
    );
    const rooms = [...new Set(typeof query.room === 'string' ? [query.room] : query.room)].map((r) =>
      rt.rooms.roomName(r),
    );
    if (rooms.length === 0) throw new RoomcastError('bad_request', 'room: give at least one room');
    if (rooms.length > sse.maxRoomsPerStream)
      throw new RoomcastError('too_many_rooms', `at most ${sse.maxRoomsPerStream} rooms per stream`);
    const client = clientFor(`sse:${randomUUID()}`, claims, rt.config);
    for (const room of rooms) rt.rooms.require(client, 'subscribe', room);
    if (deps.receivers.ofUser(ns, claims.sub) >= sse.maxStreamsPerUser)
      throw new RoomcastError('rate_limited', `at most ${sse.maxStreamsPerUser} streams per user`, {
        retryAfter: 1,
      });

    const perUser = rt.config.limits.connectionsPerUser;
    const release =
      perUser === null
        ? undefined
        : await admitUser(deps.engine, ns, claims.sub, client.id, perUser, req.log);
    const lastEventId = header(req, 'last-event-id') ?? query.lastEventId;
    const stream = new SseStream(ns, client, rooms, decodeEventId(lastEventId), hash);
    stream.onClose(() => {
      release?.();
      void leave(rt, stream);
    });
    deps.receivers.add(stream);
    // Settle every join before giving up, so a failed one never races the leave of the others.
    const settled = await Promise.allSettled(
      // `async`: a join that fails at once (it may throw) is a rejection here like the others.
      rooms.map(async (room) => {
        const since = stream.resumeFrom(room);
        return withMissed(rt, client, await rt.rooms.join(client, room, since), since);
      }),
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
 * A join that resumed from `since` but missed more than `limits.historyLimit` messages answers the
 * latest ones with `recovered: false`; the socket SDK then pages through `history` for the rest.
 * A stream has no client to do that, so the route does: it reads the messages between `since` and
 * the reply's first one from history, a page of `historyLimit` at a time. The reply is then
 * recovered, or, when history no longer reaches back to `since`, starts at the oldest message
 * history holds (the stream reports the rest as a `roomcast:gap`). A reader more than
 * `MAX_CATCH_UP` messages behind gets the join's answer as it was (the gap and the latest page).
 */
/** The most messages of one room a resuming stream reads from history past `historyLimit`. */
const MAX_CATCH_UP = 10_000;

async function withMissed(
  rt: NamespaceRuntime,
  client: Client,
  join: JoinReply,
  since: StreamPosition | undefined,
): Promise<JoinReply> {
  const first = join.messages[0];
  if (!since || join.recovered || !first) return join;
  const epoch = since.epoch === '' && since.offset === 0 ? join.epoch : since.epoch;
  if (epoch !== join.epoch || since.offset >= first.offset) return join;
  const missed: Envelope[] = [];
  let recovered = true;
  let from = since.offset;
  while (from < first.offset - 1) {
    // A reader this far behind resumes from the join's answer, after a gap: the pages would be held
    // in memory, and its live messages would pass what a stream may buffer before it starts.
    if (missed.length >= MAX_CATCH_UP) return join;
    const page = await rt.rooms.historyOf(client, join.room, { offset: from, epoch });
    const last = page.messages[page.messages.length - 1];
    if (page.epoch !== epoch || !last) return join;
    if (!page.recovered) {
      // Only the first page may start past `since` (history trimmed there); a later one that does
      // was trimmed while it was read, and would hide a hole: keep the join's answer.
      if (missed.length > 0) return join;
      recovered = false;
    }
    for (const m of page.messages) if (m.offset < first.offset) missed.push(m);
    from = last.offset;
  }
  return { ...join, recovered, messages: [...missed, ...join.messages] };
}

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
