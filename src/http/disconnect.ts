import { randomUUID } from 'node:crypto';
import { REVOCATION_TTL_MS } from '../auth/revocation.js';
import { RoomcastError } from '../errors.js';
import type { Receivers } from '../hub/streams.js';
import type { Logger } from '../logger.js';
import type { Engine } from '../rooms/engine.js';
import { closeConnection } from '../socket/connection.js';
import type { NamespaceRuntime } from '../socket/namespaces.js';

/** The server-side events of the disconnect exchange between nodes (typed loosely on purpose). */
interface ServerSideChannel {
  serverSideEmit(event: string, payload: unknown): boolean;
  on(event: string, listener: (payload: unknown) => void): unknown;
  adapter: { serverCount(): Promise<number> };
}

const REQUEST = 'roomcast:disconnect';
const RESPONSE = 'roomcast:disconnected';

interface Pending {
  total: number;
  missing: number;
  finish(): void;
}

export interface DisconnectDeps {
  namespaces: ReadonlyMap<string, NamespaceRuntime>;
  /** The node's receivers that are not sockets (SSE streams). */
  receivers: Receivers;
  engine: Pick<Engine, 'revoke'>;
  clustered: boolean;
  timeoutMs: number;
  log: Logger;
}

/** Disconnects a user; with `reconnect: false` its tokens issued before now are refused too. */
export type Disconnect = (ns: string, sub: string, reconnect: boolean) => Promise<number>;

/**
 * `POST /v1/disconnect`, cluster-wide: every connection of `sub` in the namespace gets
 * `closing { code: "disconnected" }` and is closed, on this node directly and on the others through
 * the adapter's server-side events. Nodes that do not answer within `timeoutMs` (under the 3 s the
 * API promises, docs/api.md) are left out of the count. Without a cluster adapter there are no
 * other nodes, so only the local part runs.
 *
 * With `reconnect: false` the user's tokens are revoked before anything is closed (so a client
 * that reconnects at once is refused): those issued in an earlier second, and, from every node,
 * the exact tokens of the connections it closes (`iat` has whole seconds only).
 *
 * @example
 * const disconnect = createDisconnector({ namespaces, receivers, engine, clustered: true, timeoutMs: 2500, log });
 * const count = await disconnect('/', 'alice', false);
 */
export function createDisconnector(deps: DisconnectDeps): Disconnect {
  const { namespaces, receivers, log } = deps;
  const pending = new Map<string, Pending>();

  async function local(ns: string, sub: string, revokeBefore: number | undefined): Promise<number> {
    const rt = namespaces.get(ns);
    if (!rt) return 0;
    const sockets = [...rt.nsp.sockets.values()].filter((s) => s.connected && s.data.client?.sub === sub);
    if (revokeBefore !== undefined) {
      // From here a `refresh` on these connections is refused: its token may not be in this list.
      for (const s of sockets) s.data.revoking = true;
      const tokens = [
        ...sockets.flatMap((s) => (s.data.tokens ?? []).map((t) => t.hash)),
        ...receivers.tokensOf(ns, sub),
      ];
      await deps.engine.revoke(ns, sub, { before: revokeBefore, tokens }, REVOCATION_TTL_MS);
    }
    for (const socket of sockets) closeConnection(socket, 'disconnected', 'disconnected by the server API');
    return sockets.length + receivers.closeUser(ns, sub, 'disconnected', 'disconnected by the server API');
  }

  if (deps.clustered) {
    for (const rt of namespaces.values()) {
      const channel = rt.nsp as unknown as ServerSideChannel;
      channel.on(REQUEST, (payload) => {
        const req = payload as { requestId?: unknown; sub?: unknown; revokeBefore?: unknown };
        if (typeof req.requestId !== 'string' || typeof req.sub !== 'string') return;
        const before = typeof req.revokeBefore === 'number' ? req.revokeBefore : undefined;
        void local(rt.name, req.sub, before)
          .catch((err: unknown) => {
            log.warn({ err }, 'disconnect: could not revoke the tokens closed here; closing them anyway');
            return local(rt.name, req.sub as string, undefined);
          })
          .then((count) => channel.serverSideEmit(RESPONSE, { requestId: req.requestId, count }))
          .catch((err: unknown) => log.warn({ err }, 'disconnect: a request from another node failed here'));
      });
      channel.on(RESPONSE, (payload) => {
        const res = payload as { requestId?: unknown; count?: unknown };
        const p = typeof res.requestId === 'string' ? pending.get(res.requestId) : undefined;
        if (!p || typeof res.count !== 'number') return;
        p.total += res.count;
        if (--p.missing <= 0) p.finish();
      });
    }
  }

  async function remote(
    rt: NamespaceRuntime,
    sub: string,
    revokeBefore: number | undefined,
    here: number,
  ): Promise<number> {
    const channel = rt.nsp as unknown as ServerSideChannel;
    let others: number;
    try {
      const nodes = await channel.adapter.serverCount();
      // Not even this node is subscribed: its own subscription between nodes is not back yet.
      if (nodes < 1)
        throw new Error('no node, this one included, is subscribed to the channel between nodes');
      others = nodes - 1;
    } catch (err) {
      // The channel between nodes is down (its Redis, or its shard's primary): the other nodes
      // cannot be asked. An `ok` would say the user is gone everywhere; a retry is safe.
      log.warn({ err }, 'disconnect: the other nodes cannot be reached');
      throw new RoomcastError(
        'unavailable',
        `closed ${here} connection(s) on this node; the other nodes could not be reached through Redis: try again`,
      );
    }
    if (others <= 0) return 0;
    const requestId = randomUUID();
    return new Promise<number>((resolve) => {
      const p: Pending = { total: 0, missing: others, finish: () => undefined };
      const timer = setTimeout(() => p.finish(), deps.timeoutMs);
      p.finish = () => {
        clearTimeout(timer);
        pending.delete(requestId);
        resolve(p.total);
      };
      pending.set(requestId, p);
      channel.serverSideEmit(REQUEST, {
        requestId,
        sub,
        ...(revokeBefore === undefined ? {} : { revokeBefore }),
      });
    });
  }

  return async (ns, sub, reconnect) => {
    const rt = namespaces.get(ns);
    if (!rt) return 0;
    // Tokens issued in an earlier second are refused; this second's are refused by their hash.
    const revokeBefore = reconnect ? undefined : Math.floor(Date.now() / 1000);
    let here: number;
    try {
      here = await local(ns, sub, revokeBefore);
    } catch (err) {
      if (err instanceof RoomcastError) throw err;
      throw new RoomcastError('unavailable', 'the tokens could not be revoked; nothing was disconnected');
    }
    return here + (deps.clustered ? await remote(rt, sub, revokeBefore, here) : 0);
  };
}
