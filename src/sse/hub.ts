import type { ClosingCode, Envelope } from '../protocol.js';
import type { SseStream } from './stream.js';

interface NamespaceStreams {
  byRoom: Map<string, Set<SseStream>>;
  byUser: Map<string, Set<SseStream>>;
}

/**
 * The SSE streams of this node, indexed by namespace, room and user: the broadcast tap hands a
 * room's messages to `deliver`, the disconnect API and shutdown close streams through here, and
 * the per-user stream limit is counted here (per node).
 *
 * @example
 * const hub = createSseHub();
 * hub.add(stream);
 * hub.deliver('/', envelope); // -> number of streams of the room
 */
export interface SseHub {
  add(stream: SseStream): void;
  /** Hands a message to every stream of its room; returns how many streams that is. */
  deliver(ns: string, envelope: Envelope): number;
  streamsOf(ns: string, sub: string): number;
  count(ns: string): number;
  /** Closes every stream of a user with `closing { code }`; returns how many. */
  closeUser(ns: string, sub: string, code: ClosingCode, message: string): number;
  closeAll(code: ClosingCode, message: string): void;
}

export function createSseHub(): SseHub {
  const namespaces = new Map<string, NamespaceStreams>();
  const streams = (ns: string): NamespaceStreams => {
    let entry = namespaces.get(ns);
    if (!entry) {
      entry = { byRoom: new Map(), byUser: new Map() };
      namespaces.set(ns, entry);
    }
    return entry;
  };

  function remove(stream: SseStream): void {
    const entry = streams(stream.ns);
    for (const room of stream.rooms) removeFrom(entry.byRoom, room, stream);
    removeFrom(entry.byUser, stream.sub, stream);
  }

  return {
    add(stream) {
      const entry = streams(stream.ns);
      for (const room of stream.rooms) addTo(entry.byRoom, room, stream);
      addTo(entry.byUser, stream.sub, stream);
      stream.onClose(() => remove(stream));
    },
    deliver(ns, envelope) {
      const set = namespaces.get(ns)?.byRoom.get(envelope.room);
      if (!set) return 0;
      const json = JSON.stringify(envelope);
      const size = set.size;
      // A stream that closes on a full buffer leaves the set mid-loop; Set iteration allows that.
      for (const stream of set) stream.receive(envelope, json);
      return size;
    },
    streamsOf: (ns, sub) => namespaces.get(ns)?.byUser.get(sub)?.size ?? 0,
    count(ns) {
      let n = 0;
      for (const set of namespaces.get(ns)?.byUser.values() ?? []) n += set.size;
      return n;
    },
    closeUser(ns, sub, code, message) {
      const set = namespaces.get(ns)?.byUser.get(sub);
      if (!set) return 0;
      const list = [...set];
      for (const stream of list) stream.close(code, message);
      return list.length;
    },
    closeAll(code, message) {
      for (const entry of namespaces.values()) {
        for (const set of [...entry.byUser.values()])
          for (const stream of [...set]) stream.close(code, message);
      }
    },
  };
}

function addTo(map: Map<string, Set<SseStream>>, key: string, stream: SseStream): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(stream);
}

function removeFrom(map: Map<string, Set<SseStream>>, key: string, stream: SseStream): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(stream);
  if (set.size === 0) map.delete(key);
}
