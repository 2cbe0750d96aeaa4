import { RoomcastError } from '../errors.js';
import type { ApiPublishResult } from '../protocol.js';
import type { PublishOptions } from '../rooms/manager-types.js';
import { andThen, type MaybePromise } from '../rooms/maybe.js';
import type { NamespaceRuntime } from '../socket/namespaces.js';
import type { ApiCaller, ApiKeyring } from './api-keys.js';
import type { PublishBody } from './schemas.js';

/** What `POST /v1/publish` and `POST /v1/batch` need from the broker. */
export interface PublishDeps {
  keys: ApiKeyring;
  namespaces: ReadonlyMap<string, NamespaceRuntime>;
}

/** One validated publish body: its namespace, its rooms, and the work that publishes it. */
interface PreparedPublish {
  ns: string;
  rooms: string[];
  /** The body's idempotency key: messages of a batch that share one run in batch order. */
  key: string | undefined;
  /** Now with an engine that answers at once (one node), a promise with Redis. */
  run(): MaybePromise<ApiPublishResult[]>;
}

/**
 * Checks a publish body as a whole before anything is published: the key opens the namespace,
 * every room name is valid and distinct, the payload is within the namespace's limit. The
 * returned `run` publishes to each room through the namespace's `RoomManager.publish` (the one
 * publish path), with the body's `idempotencyKey` for each room: a repeat within the window (even
 * a concurrent one, even on another node) gets the first result and delivers nothing.
 */
function preparePublish(deps: PublishDeps, caller: ApiCaller, body: PublishBody): PreparedPublish {
  const ns = body.namespace ?? '/';
  deps.keys.authorize(caller, ns);
  const rt = deps.namespaces.get(ns);
  if (!rt) throw new RoomcastError('not_found', `unknown namespace "${ns}"`);
  const rooms = body.rooms ? body.rooms.map((r, i) => roomAt(rt, r, i)) : [rt.rooms.roomName(body.room)];
  if (rooms.length > 1 && new Set(rooms).size !== rooms.length)
    throw new RoomcastError('bad_request', 'rooms: a room is listed twice');
  const data = body.data === undefined ? null : body.data;
  // Checked once here for every room, before anything is published: a batch stays
  // all-or-nothing on bad input.
  const opts: PublishOptions = { source: 'api', payload: rt.rooms.checkMessage(body.event, data) };
  if (body.idempotencyKey) opts.idempotencyKey = body.idempotencyKey;
  // A key names one publish of the namespace; each room of a `rooms` publish keeps its own.
  const keyed = (room: string): PublishOptions =>
    rooms.length > 1 && body.idempotencyKey
      ? { ...opts, idempotencyKey: `${body.idempotencyKey}\u0000${room}` }
      : opts;
  const publishTo = (room: string): MaybePromise<ApiPublishResult> =>
    andThen(rt.rooms.publish(null, { room, event: body.event, data }, keyed(room)), (p) => ({
      // A repeat of a key first used for another room answers with that room's result.
      room: p.room ?? room,
      offset: p.offset,
      epoch: p.epoch,
    }));
  // One room (most publishes, every message of a typical batch): no list of promises to wait on,
  // and on one node no promise at all.
  const run =
    rooms.length === 1
      ? () => andThen(publishTo(rooms[0] as string), (result) => [result])
      : () => Promise.all(rooms.map((room) => promised(() => publishTo(room))));
  return { ns, rooms, key: body.idempotencyKey, run };
}

/**
 * `POST /v1/publish`: one message to one room or to each of `rooms`. Not async: bad input throws,
 * and a publish to one room on one node answers at once (fastify sends a handler's plain value).
 */
export function publishOne(
  deps: PublishDeps,
  caller: ApiCaller,
  body: PublishBody,
): MaybePromise<ApiPublishResult[]> {
  return preparePublish(deps, caller, body).run();
}

/**
 * `POST /v1/batch`: every message is validated before any is published. Messages to different
 * rooms publish concurrently; messages that share a room (or an idempotency key) publish one after
 * another in batch order,
 * and a failure stops the later messages of that room (so a room never sees 4 without 3). Results
 * are flat, in batch order: one `{ room, offset, epoch }` per message and room.
 */
export async function publishBatch(
  deps: PublishDeps,
  caller: ApiCaller,
  bodies: PublishBody[],
): Promise<ApiPublishResult[]> {
  const prepared = bodies.map((body, i) => {
    try {
      return preparePublish(deps, caller, body);
    } catch (err) {
      if (err instanceof RoomcastError) throw new RoomcastError(err.code, `messages.${i}: ${err.message}`);
      throw err;
    }
  });
  const tails = new Map<string, Promise<unknown>>();
  const runs = prepared.map((p) => {
    // Its rooms, and its idempotency key (the namespace's: the first in batch order must win).
    const keys = p.rooms.map((r) => `${p.ns}\u0000${r}`);
    if (p.key) keys.push(`${p.ns}\u0000k\u0000${p.key}`);
    const before = keys.map((k) => tails.get(k)).filter((t) => t !== undefined);
    // A message whose rooms nothing earlier in the batch touches starts at once.
    const done = before.length === 0 ? promised(p.run) : Promise.all(before).then(p.run);
    for (const k of keys) tails.set(k, done);
    return done;
  });
  const settled = await Promise.allSettled(runs);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
}

/** A room of `rooms[]`, its refusal naming which one (`rooms.2: …`), as a batch names its message. */
function roomAt(rt: NamespaceRuntime, room: unknown, i: number): string {
  try {
    return rt.rooms.roomName(room);
  } catch (err) {
    if (err instanceof RoomcastError) throw new RoomcastError(err.code, `rooms.${i}: ${err.message}`);
    throw err;
  }
}

/** `run()` as a promise: what it throws becomes a rejection, so one message's failure stops only its own rooms. */
function promised<T>(run: () => MaybePromise<T>): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (err) {
    return Promise.reject(err);
  }
}
