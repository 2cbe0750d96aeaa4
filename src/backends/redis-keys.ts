/**
 * Every Redis key and pub/sub channel roomcast uses, built here and nowhere else. `KEY_LAYOUT` is
 * the table docs/cluster.md shows (a test holds the two equal, and checks the builders below
 * against it).
 *
 * Everything of one room shares one hash tag, `{<ns>:<room>}`, so on a Redis Cluster a room's
 * publish script touches one slot and its channel is served by the shard that owns that slot.
 * A namespace never holds `:` and neither name holds `{`, `}` or `|`, so no two rooms share a tag.
 */
export const KEY_LAYOUT: ReadonlyArray<{ key: string; type: string; holds: string }> = [
  {
    key: 'P:{ns:room}:s',
    type: 'hash',
    holds:
      "`e` epoch, `o` last offset, `r` the replication ID of the primary that wrote it and `n` that process's run_id (the room's stream)",
  },
  { key: 'P:{ns:room}:h', type: 'list', holds: '`<offset>|<ts>|<msgpack draft>`, oldest first' },
  { key: 'P:{ns:room}:c', type: 'hash', holds: '`<node>|<connection id>` → user (`sub`)' },
  { key: 'P:{ns:room}:u', type: 'hash', holds: 'user → number of connections' },
  { key: 'P:{ns:room}:i', type: 'hash', holds: 'user → `info` JSON' },
  {
    key: 'P:{ns:room}:k:<key>',
    type: 'string',
    holds: "`<epoch>|<offset>|<room>` of a publish's idempotency key (Redis Cluster: per room)",
  },
  { key: 'P:{ns:room}:m', type: 'channel', holds: "the room's messages and presence events" },
  { key: 'P:rooms:<ns>', type: 'sorted set', holds: 'rooms with members (read by prefix)' },
  { key: 'P:{nodes}', type: 'sorted set', holds: 'node id → alive until (Redis clock, ms)' },
  { key: 'P:{nodes}:reaping', type: 'sorted set', holds: 'dead nodes being cleaned up → lease end' },
  { key: 'P:node:<id>', type: 'set', holds: 'JSON `[ns, room, connection id]` of each membership of a node' },
  { key: 'P:{nodes}:reaped:<id>', type: 'string', holds: 'tombstone: the node was reaped (24 h)' },
  {
    key: 'P:k:<ns>:<key>',
    type: 'string',
    holds: "`<epoch>|<offset>|<room>` of a publish's idempotency key (one primary or Sentinel)",
  },
  {
    key: 'P:revoked:<ns>:<sub>',
    type: 'hash',
    holds: '`before` (tokens issued earlier are refused), `t:<hash>` per revoked token',
  },
  { key: 'P#<ns>#…', type: 'channel', holds: 'Socket.IO adapter traffic between nodes (stock adapter)' },
];

/**
 * The keys and channel of one room. Each is built when it is read: a publish reads three of the
 * seven, and building all of them (and a closure) cost six strings per publish for nothing.
 */
export class RoomKeys {
  /** `<prefix>:{<ns>:<room>}:`, the room's hash tag and the start of every key of it. */
  private readonly base: string;

  constructor(prefix: string, ns: string, room: string) {
    this.base = `${prefix}:{${ns}:${room}}:`;
  }

  get stream(): string {
    return `${this.base}s`;
  }
  get history(): string {
    return `${this.base}h`;
  }
  get connections(): string {
    return `${this.base}c`;
  }
  get users(): string {
    return `${this.base}u`;
  }
  get info(): string {
    return `${this.base}i`;
  }
  get channel(): string {
    return `${this.base}m`;
  }
  /** The key that remembers one idempotency key of this room. */
  idempotency(key: string): string {
    return `${this.base}k:${key}`;
  }
}

/** Keys and channel of one room under `prefix`. */
export function roomKeys(prefix: string, ns: string, room: string): RoomKeys {
  return new RoomKeys(prefix, ns, room);
}

/** The namespace and room a room channel belongs to, or null for any other channel. */
export function parseRoomChannel(prefix: string, channel: string): { ns: string; room: string } | null {
  const head = `${prefix}:{`;
  if (!channel.startsWith(head) || !channel.endsWith('}:m')) return null;
  const tag = channel.slice(head.length, -3);
  const colon = tag.indexOf(':');
  if (colon <= 0) return null;
  return { ns: tag.slice(0, colon), room: tag.slice(colon + 1) };
}

/** Keys that span rooms. */
export function clusterKeys(prefix: string) {
  return {
    rooms: (ns: string) => `${prefix}:rooms:${ns}`,
    // One hash tag: the heartbeat and claim scripts touch both, on one Redis Cluster slot.
    nodes: `${prefix}:{nodes}`,
    reaping: `${prefix}:{nodes}:reaping`,
    node: (id: string) => `${prefix}:node:${id}`,
    // In the node list's slot: set by the claim script, with the node's removal from the list.
    reaped: (id: string) => `${prefix}:{nodes}:reaped:${id}`,
    /** A namespace's idempotency key, where one script may touch any key (not a Redis Cluster). */
    idempotency: (ns: string, key: string) => `${prefix}:k:${ns}:${key}`,
    revoked: (ns: string, sub: string) => `${prefix}:revoked:${ns}:${sub}`,
  };
}

/** The channel prefix of the Socket.IO adapter's requests between nodes. */
export function adapterChannelPrefix(prefix: string): string {
  return prefix;
}

/** The Redis Cluster hash slot of a key or channel (CRC16/XMODEM of its hash tag, mod 16384). */
export function hashSlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
