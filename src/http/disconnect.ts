import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import { closeConnection } from '../socket/connection.js';
import type { NamespaceRuntime } from '../socket/namespaces.js';

/** Closes a user's connections that are not Socket.IO sockets (SSE streams); returns how many. */
export type CloseOtherConnections = (ns: string, sub: string) => number;

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

/**
 * `POST /v1/disconnect`, cluster-wide: every connection of `sub` in the namespace gets
 * `closing { code: "disconnected" }` and is closed, on this node directly and on the others through
 * the adapter's server-side events. Nodes that do not answer within `timeoutMs` (under the
 * contract's 3 s) are left out of the count. Without a cluster adapter there are no other nodes
 * (and Socket.IO's in-memory adapter has no server-side events), so only the local part runs.
 *
 * @example
 * const disconnect = createDisconnector(namespaces, closeSse, { clustered: true, timeoutMs: 2500, log });
 * const count = await disconnect('/', 'alice');
 */
export function createDisconnector(
  namespaces: ReadonlyMap<string, NamespaceRuntime>,
  closeOthers: CloseOtherConnections,
  opts: { clustered: boolean; timeoutMs: number; log: Logger },
): (ns: string, sub: string) => Promise<number> {
  const pending = new Map<string, Pending>();

  function local(ns: string, sub: string): number {
    const rt = namespaces.get(ns);
    if (!rt) return 0;
    let count = 0;
    for (const socket of rt.nsp.sockets.values()) {
      if (socket.data.client?.sub !== sub || !socket.connected) continue;
      closeConnection(socket, 'disconnected', 'disconnected by the server API');
      count++;
    }
    return count + closeOthers(ns, sub);
  }

  if (opts.clustered) {
    for (const rt of namespaces.values()) {
      const channel = rt.nsp as unknown as ServerSideChannel;
      channel.on(REQUEST, (payload) => {
        const req = payload as { requestId?: unknown; sub?: unknown };
        if (typeof req.requestId !== 'string' || typeof req.sub !== 'string') return;
        channel.serverSideEmit(RESPONSE, { requestId: req.requestId, count: local(rt.name, req.sub) });
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

  async function remote(rt: NamespaceRuntime, sub: string): Promise<number> {
    const channel = rt.nsp as unknown as ServerSideChannel;
    let others: number;
    try {
      others = (await channel.adapter.serverCount()) - 1;
    } catch (err) {
      opts.log.warn({ err }, 'disconnect: cannot count the other nodes; closing local connections only');
      return 0;
    }
    if (others <= 0) return 0;
    const requestId = randomUUID();
    return new Promise<number>((resolve) => {
      const p: Pending = { total: 0, missing: others, finish: () => undefined };
      const timer = setTimeout(() => p.finish(), opts.timeoutMs);
      p.finish = () => {
        clearTimeout(timer);
        pending.delete(requestId);
        resolve(p.total);
      };
      pending.set(requestId, p);
      channel.serverSideEmit(REQUEST, { requestId, sub });
    });
  }

  return async (ns, sub) => {
    const rt = namespaces.get(ns);
    if (!rt) return 0;
    const here = local(ns, sub);
    return here + (opts.clustered ? await remote(rt, sub) : 0);
  };
}
