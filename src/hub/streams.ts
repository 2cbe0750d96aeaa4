import type { ClosingCode, Envelope } from '../protocol.js';

/**
 * A connection that is not a Socket.IO socket (an SSE stream): the hub hands it its rooms'
 * messages. A new transport implements this and registers with the hub.
 */
export interface Receiver {
  readonly id: string;
  readonly ns: string;
  readonly sub: string;
  readonly rooms: readonly string[];
  /** The fingerprint of the token it was opened with (src/auth/revocation.ts), if any. */
  readonly tokenHash?: string | undefined;
  /** One message of one of its rooms; `json` is the envelope as JSON, made once per message. */
  receive(envelope: Envelope, json: string): void;
  close(code: ClosingCode, message: string): void;
  onClose(listener: () => void): void;
}

interface Index {
  byRoom: Map<string, Set<Receiver>>;
  byUser: Map<string, Set<Receiver>>;
}

/**
 * The receivers of this node that are not sockets, by namespace, room and user: the hub delivers
 * through `deliver`, the disconnect API and shutdown close them through here, and per-user limits
 * are counted here (per node).
 */
export class Receivers {
  private readonly namespaces = new Map<string, Index>();
  private readonly ids = new Set<string>();

  add(receiver: Receiver): void {
    const index = this.index(receiver.ns);
    for (const room of receiver.rooms) addTo(index.byRoom, room, receiver);
    addTo(index.byUser, receiver.sub, receiver);
    this.ids.add(receiver.id);
    receiver.onClose(() => {
      for (const room of receiver.rooms) removeFrom(index.byRoom, room, receiver);
      removeFrom(index.byUser, receiver.sub, receiver);
      this.ids.delete(receiver.id);
    });
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Hands a message to every receiver of its room; returns how many. */
  deliver(ns: string, envelope: Envelope): number {
    const set = this.namespaces.get(ns)?.byRoom.get(envelope.room);
    if (!set) return 0;
    const json = JSON.stringify(envelope);
    const size = set.size;
    // A receiver that closes on a full buffer leaves the set mid-loop; Set iteration allows that.
    for (const receiver of set) receiver.receive(envelope, json);
    return size;
  }

  ofUser(ns: string, sub: string): number {
    return this.namespaces.get(ns)?.byUser.get(sub)?.size ?? 0;
  }

  /** Receivers of every namespace on this node. */
  total(): number {
    return this.ids.size;
  }

  count(ns: string): number {
    let n = 0;
    for (const set of this.namespaces.get(ns)?.byUser.values() ?? []) n += set.size;
    return n;
  }

  /** The token fingerprints of a user's receivers. */
  tokensOf(ns: string, sub: string): string[] {
    const out: string[] = [];
    for (const r of this.namespaces.get(ns)?.byUser.get(sub) ?? []) if (r.tokenHash) out.push(r.tokenHash);
    return out;
  }

  /** Closes every receiver of a user with `closing { code }`; returns how many. */
  closeUser(ns: string, sub: string, code: ClosingCode, message: string): number {
    const list = [...(this.namespaces.get(ns)?.byUser.get(sub) ?? [])];
    for (const receiver of list) receiver.close(code, message);
    return list.length;
  }

  closeAll(code: ClosingCode, message: string): void {
    for (const index of this.namespaces.values()) {
      for (const set of [...index.byUser.values()])
        for (const receiver of [...set]) receiver.close(code, message);
    }
  }

  private index(ns: string): Index {
    let index = this.namespaces.get(ns);
    if (!index) {
      index = { byRoom: new Map(), byUser: new Map() };
      this.namespaces.set(ns, index);
    }
    return index;
  }
}

function addTo(map: Map<string, Set<Receiver>>, key: string, receiver: Receiver): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(receiver);
}

function removeFrom(map: Map<string, Set<Receiver>>, key: string, receiver: Receiver): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(receiver);
  if (set.size === 0) map.delete(key);
}
