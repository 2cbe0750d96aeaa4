/**
 * The typed Node publisher for roomcast's server API (`roomcast/publisher`): one HTTP call per
 * operation with the global `fetch`, a timeout on each, and failures as `RoomcastApiError` with
 * roomcast's error code (docs/api.md). It imports only the protocol's types.
 *
 * @example
 * import { createPublisher } from 'roomcast/publisher';
 * const rc = createPublisher({ url: 'http://localhost:3000', apiKey: process.env.ROOMCAST_API_KEY! });
 * const { offset } = await rc.publish('chat:1', 'msg', { text: 'hi' }, { idempotencyKey: 'order-42' });
 */
import { ERROR_CATALOGUE, isErrorCode } from '../error-codes.js';
import type {
  ApiDisconnectReply,
  ApiHistoryReply,
  ApiPresenceReply,
  ApiPublishReply,
  ApiPublishRequest,
  ApiPublishResult,
  ApiRoomsReply,
  ErrorCode,
  HistoryReply,
  Member,
  RoomStat,
  StreamPosition,
} from '../protocol.js';

export interface PublisherOptions {
  /** The broker's base URL, e.g. `http://localhost:3000`. */
  url: string;
  /** A server API key of the namespace. */
  apiKey: string;
  /** The namespace every call uses unless it names another; default `/`. */
  namespace?: string;
  /** Per-request timeout in ms; default 10 000. */
  timeoutMs?: number;
}

export interface PublishOptions {
  /** A repeat with the same key within the broker's window returns the first result, delivering nothing twice. */
  idempotencyKey?: string;
  namespace?: string;
}

/** One message of a batch: a publish body (exactly one of `room`, `rooms`); `data` may be left out here (it is sent as `null`). */
export type BatchMessage = Omit<ApiPublishRequest, 'data'> & { data?: unknown };

/** A room's messages and where it stands; with `since`, `recovered` is false when history no longer reaches back that far. */
export type HistoryResult = HistoryReply;

/** A failed call: `code` is roomcast's error code (docs/api.md), `status` the HTTP status (0: no answer). */
export class RoomcastApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds to wait before retrying, from `Retry-After`. */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message: string, status: number, retryAfter?: number) {
    super(message);
    this.name = 'RoomcastApiError';
    this.code = code;
    this.status = status;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }

  /** True when the same call may succeed later (rate limited, Redis away, no answer): the catalogue's flag. */
  get temporary(): boolean {
    return isErrorCode(this.code) && ERROR_CATALOGUE[this.code].temporary;
  }
}

export interface RoomcastPublisher {
  /** Publishes to one room; resolves with its offset. */
  publish(room: string, event: string, data?: unknown, opts?: PublishOptions): Promise<ApiPublishResult>;
  /** Publishes the same message to each room; one result per room. */
  publish(rooms: string[], event: string, data?: unknown, opts?: PublishOptions): Promise<ApiPublishResult[]>;
  /** Several messages in one call, order kept per room; results flat, in order. */
  batch(messages: BatchMessage[]): Promise<ApiPublishResult[]>;
  presence(room: string, opts?: { namespace?: string }): Promise<Member[]>;
  history(
    room: string,
    opts?: { since?: StreamPosition; limit?: number; namespace?: string },
  ): Promise<HistoryResult>;
  rooms(opts?: { prefix?: string; namespace?: string }): Promise<RoomStat[]>;
  /**
   * Closes every connection of `sub` across the cluster; resolves with how many. `reconnect: false`
   * also revokes the user's tokens issued before the call, cluster-wide, until they expire.
   */
  disconnect(sub: string, opts?: { namespace?: string; reconnect?: boolean }): Promise<number>;
}

export function createPublisher(options: PublisherOptions): RoomcastPublisher {
  const base = options.url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const ns = (given?: string) => given ?? options.namespace ?? '/';

  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      // Inside the try: a body cut off or not sent in time is no answer either.
      text = await res.text();
    } catch (err) {
      const why =
        err instanceof Error && err.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : String(err);
      throw new RoomcastApiError('unavailable', `${method} ${path}: ${why}`, 0);
    }
    let reply: { ok?: boolean; error?: { code?: ErrorCode; message?: string } } & Record<string, unknown>;
    try {
      reply = JSON.parse(text);
    } catch {
      throw new RoomcastApiError(
        res.status >= 500 ? 'unavailable' : 'internal',
        `HTTP ${res.status}: not JSON`,
        res.status,
      );
    }
    if (res.ok && reply.ok === true) return reply as T;
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new RoomcastApiError(
      reply.error?.code ?? 'internal',
      reply.error?.message ?? `HTTP ${res.status}`,
      res.status,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    );
  }

  const query = (params: Record<string, string | number | undefined>) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
    return `?${q}`;
  };
  const roomPath = (room: string) => `/v1/rooms/${encodeURIComponent(room)}`;
  // The wire needs `data`; left out here, it is `null`.
  const body = (m: BatchMessage): ApiPublishRequest => ({
    ...m,
    data: m.data ?? null,
    namespace: ns(m.namespace),
  });

  return {
    async publish(target: string | string[], event: string, data?: unknown, opts: PublishOptions = {}) {
      const where = Array.isArray(target) ? { rooms: target } : { room: target };
      const reply = await call<ApiPublishReply>(
        'POST',
        '/v1/publish',
        body({ ...opts, ...where, event, data }),
      );
      return (Array.isArray(target) ? reply.results : reply.results[0]) as ApiPublishResult &
        ApiPublishResult[];
    },
    async batch(messages) {
      return (await call<ApiPublishReply>('POST', '/v1/batch', { messages: messages.map(body) })).results;
    },
    async presence(room, opts = {}) {
      return (
        await call<ApiPresenceReply>(
          'GET',
          `${roomPath(room)}/presence${query({ namespace: ns(opts.namespace) })}`,
        )
      ).members;
    },
    async history(room, opts = {}) {
      const q = query({
        namespace: ns(opts.namespace),
        since: opts.since?.offset,
        epoch: opts.since?.epoch,
        limit: opts.limit,
      });
      const { messages, offset, epoch, recovered } = await call<ApiHistoryReply>(
        'GET',
        `${roomPath(room)}/history${q}`,
      );
      return { messages, offset, epoch, recovered };
    },
    async rooms(opts = {}) {
      return (
        await call<ApiRoomsReply>(
          'GET',
          `/v1/rooms${query({ namespace: ns(opts.namespace), prefix: opts.prefix })}`,
        )
      ).rooms;
    },
    async disconnect(sub, opts = {}) {
      return (
        await call<ApiDisconnectReply>('POST', '/v1/disconnect', {
          namespace: ns(opts.namespace),
          sub,
          ...(opts.reconnect === undefined ? {} : { reconnect: opts.reconnect }),
        })
      ).disconnected;
    },
  };
}
