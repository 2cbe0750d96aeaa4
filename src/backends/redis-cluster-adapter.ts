import type { Cluster } from 'ioredis';
import { decode, encode } from 'notepack.io';
import type { Namespace } from 'socket.io';
import { ClusterAdapter, type ClusterMessage, type ClusterResponse } from 'socket.io-adapter';
import type { ShardSubscriber } from './redis-shard-subscriber.js';

/**
 * The Socket.IO adapter of a node on a Redis Cluster: socket.io-adapter's `ClusterAdapter` (its
 * documented base class for a cluster-ready adapter) over sharded pub/sub, on the same wire as
 * `@socket.io/redis-adapter`'s sharded adapter in `static` mode (channels `P#<ns>#` and
 * `P#<ns>#<uid>#`, JSON or MessagePack), so both can serve one deployment.
 *
 * Why not that adapter here: on a Redis Cluster it subscribes through ioredis's own sharded
 * subscribers, which do not come back after every shard was away at once (the slot map is
 * unchanged, so ioredis sees nothing to rebuild): the node then never again hears the other
 * nodes' requests (disconnect-by-user), and closing the adapter leaves an unhandled SUNSUBSCRIBE
 * rejection. Here the subscriptions run on roomcast's own per-shard subscriber
 * (redis-shard-subscriber.ts), the one that already carries the room channels through outages,
 * failovers and slot migrations.
 *
 * @example
 * const subscriber = new ShardSubscriber(clients.command as Cluster, { connectionName: 'roomcast-adapter' });
 * new Server(http, { adapter: clusterAdapter(clients.pub as Cluster, subscriber, 'roomcast') });
 */
export function clusterAdapter(
  pub: Cluster,
  subscriber: ShardSubscriber,
  channelPrefix: string,
): new (
  nsp: Namespace,
) => ClusterAdapter {
  const handlers = new Map<string, (payload: Buffer) => void>();
  subscriber.on('message', (channel: string, payload: Buffer) => handlers.get(channel)?.(payload));
  const shared: Shared = { pub, subscriber, handlers, channelPrefix };
  // Socket.IO constructs the adapter class it is given, once per namespace.
  return class extends ShardedClusterAdapter {
    constructor(nsp: Namespace) {
      super(nsp, shared);
    }
  };
}

interface Shared {
  pub: Cluster;
  subscriber: ShardSubscriber;
  handlers: Map<string, (payload: Buffer) => void>;
  channelPrefix: string;
}

class ShardedClusterAdapter extends ClusterAdapter {
  private readonly channel: string;
  private readonly responseChannel: string;

  constructor(
    nsp: Namespace,
    private readonly shared: Shared,
  ) {
    super(nsp);
    this.channel = `${shared.channelPrefix}#${nsp.name}#`;
    this.responseChannel = `${this.channel}${this.uid}#`;
    for (const channel of [this.channel, this.responseChannel]) {
      shared.handlers.set(channel, (payload) => this.receive(channel, payload));
      // Resolves once attached; waits through an outage; rejects only when the subscriber closes.
      shared.subscriber.subscribe(channel).catch(() => undefined);
    }
  }

  override close(): void {
    for (const channel of [this.channel, this.responseChannel]) {
      this.shared.handlers.delete(channel);
      this.shared.subscriber.unsubscribe(channel);
    }
  }

  protected override async doPublish(message: ClusterMessage): Promise<string> {
    await this.shared.pub.spublish(this.channel, pack(message));
    return '';
  }

  protected override async doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    await this.shared.pub.spublish(`${this.channel}${requesterUid}#`, pack(response));
  }

  /**
   * The nodes subscribed to the namespace channel: SHARDNUMSUB, asked of every primary (only the
   * channel's shard has its subscribers; the others answer 0). A primary that is down elsewhere
   * does not matter; when none answered more than 0 and one failed, the channel's shard may be the
   * one down, and the count is unknown: that throws.
   */
  override async serverCount(): Promise<number> {
    const replies = await Promise.allSettled(
      this.shared.pub
        .nodes('master')
        .map((node) => node.call('PUBSUB', 'SHARDNUMSUB', this.channel) as Promise<[string, number]>),
    );
    let count = 0;
    let failed: unknown;
    for (const reply of replies) {
      if (reply.status === 'fulfilled') count += Number(reply.value[1]);
      else failed ??= reply.reason;
    }
    if (count === 0 && failed !== undefined) throw failed;
    return count;
  }

  private receive(channel: string, payload: Buffer): void {
    let message: ClusterMessage | ClusterResponse;
    try {
      message = payload[0] === 0x7b ? JSON.parse(payload.toString()) : decode(payload);
    } catch {
      return; // not a message of this protocol
    }
    if (channel === this.responseChannel) this.onResponse(message as ClusterResponse);
    else this.onMessage(message as ClusterMessage);
  }
}

/** JSON, or MessagePack when the message carries binary (as @socket.io/redis-adapter does). */
function pack(message: ClusterMessage | ClusterResponse): string | Buffer {
  return hasBinary(message) ? encode(message) : JSON.stringify(message);
}

function hasBinary(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object' || depth > 32) return false;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return true;
  if (Array.isArray(value)) return value.some((v) => hasBinary(v, depth + 1));
  return Object.values(value).some((v) => hasBinary(v, depth + 1));
}
