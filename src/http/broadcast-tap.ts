import type { Logger } from '../logger.js';
import type { Envelope } from '../protocol.js';

/**
 * Sees every room message that a namespace's Socket.IO adapter delivers on this node, whether it
 * was published here or arrived from another node, so that connections that are not sockets (SSE
 * streams) get it too, and so deliveries can be counted once per broadcast.
 *
 * Why here: Socket.IO adapters deliver only to real sockets. Every adapter roomcast runs with ends a
 * broadcast in socket.io-adapter's base `Adapter.prototype.broadcast`, which encodes the packet
 * once with the instance's `_encode` before writing it to the matching sockets:
 * - the in-memory adapter: `broadcast` itself (local publishes are all there is);
 * - `ClusterAdapter` (the sharded Redis adapter): `broadcast` and, for remote BROADCAST messages,
 *   `onMessage` -> `super.broadcast`, which bypasses an instance `broadcast` wrapper;
 * - the classic Redis adapter: its subscriber listener is bound at construction and calls
 *   `super.broadcast` too, so neither `broadcast` nor `onmessage` can be wrapped afterwards.
 * So the one place that sees both local and remote broadcasts for all three is the instance's
 * `_encode`. The instance's public `broadcast` is wrapped as well, only to learn the `except` set
 * of local broadcasts (a publishing socket without echo), keyed by packet identity. If a future
 * socket.io-adapter drops `_encode`, the tap falls back to `broadcast` (local publishes only) and
 * warns; test/api/broadcast-tap.test.ts runs all three adapters against a real redis-server.
 */
export type BroadcastListener = (envelope: Envelope, except: ReadonlySet<string>) => void;

interface Packet {
  type?: number;
  data?: unknown;
}

interface TappableAdapter {
  broadcast(packet: Packet, opts: { except?: Set<string> }): unknown;
  _encode?: (packet: Packet, packetOpts: unknown) => unknown;
}

const NO_EXCEPT: ReadonlySet<string> = new Set();
const EVENT_PACKET = 2;

/** Installs the tap on one adapter instance; returns a function that removes it. */
export function tapBroadcasts(adapter: object, listener: BroadcastListener, log?: Logger): () => void {
  const a = adapter as TappableAdapter;
  const originalBroadcast = a.broadcast;
  const originalEncode = a._encode;
  const exceptOf = new WeakMap<Packet, ReadonlySet<string>>();

  const deliver = (packet: Packet, except: ReadonlySet<string>) => {
    const envelope = roomMessage(packet);
    if (envelope) listener(envelope, except);
  };

  if (typeof originalEncode === 'function') {
    a.broadcast = function (this: TappableAdapter, packet, opts) {
      if (opts.except?.size) exceptOf.set(packet, opts.except);
      return originalBroadcast.call(this, packet, opts);
    };
    a._encode = function (this: TappableAdapter, packet, packetOpts) {
      deliver(packet, exceptOf.get(packet) ?? NO_EXCEPT);
      return originalEncode.call(this, packet, packetOpts);
    };
  } else {
    log?.warn('socket.io-adapter has no _encode: SSE streams get local publishes only');
    a.broadcast = function (this: TappableAdapter, packet, opts) {
      deliver(packet, opts.except ?? NO_EXCEPT);
      return originalBroadcast.call(this, packet, opts);
    };
  }
  return () => {
    a.broadcast = originalBroadcast;
    if (originalEncode) a._encode = originalEncode;
  };
}

/** The envelope of a `message` event packet, or null for anything else (presence, acks). */
function roomMessage(packet: Packet): Envelope | null {
  if (packet.type !== undefined && packet.type !== EVENT_PACKET) return null;
  const data = packet.data;
  if (!Array.isArray(data) || data[0] !== 'message') return null;
  const envelope = data[1] as Envelope | undefined;
  if (typeof envelope !== 'object' || envelope === null || typeof envelope.room !== 'string') return null;
  return envelope;
}
