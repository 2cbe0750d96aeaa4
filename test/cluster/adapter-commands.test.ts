import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningBroker, until, within } from '../helpers/broker.js';
import { startCluster } from '../helpers/cluster.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * `@socket.io/redis-adapter` sends some commands without awaiting them (its (un)subscribes, and in
 * classic mode the publishes of `serverSideEmit`). A failed one must not end as an unhandled
 * rejection: a Node process that embeds the broker exits on one.
 */
describe("cluster: the Socket.IO adapter's unawaited Redis commands", () => {
  let redis: TestRedis | undefined;
  let node: RunningBroker | undefined;
  let hole: Silent | undefined;
  const rejections: unknown[] = [];
  const record = (reason: unknown) => rejections.push(reason);
  afterEach(async () => {
    process.off('unhandledRejection', record);
    rejections.length = 0;
    await node?.close();
    await hole?.close();
    await redis?.stop();
    node = hole = redis = undefined;
  });

  it('leaves no unhandled rejection when a node closes while its adapter connection waits on a Redis that does not answer', async () => {
    redis = await startRedis();
    [node] = await startCluster(1, redis.url);
    await redis.kill();
    // On Redis's port now: a server that accepts connections and never answers (a hung Redis). The
    // adapter connection reconnects to it and waits for its ready check, with its SSUBSCRIBEs, and
    // the SUNSUBSCRIBEs of the close below, in ioredis's offline queue.
    hole = await silentServer(redis.port);
    await until(() => hole!.opened('roomcast-adapter'), 10_000, 'the adapter connection to reconnect');
    process.on('unhandledRejection', record);
    const closing = node!;
    node = undefined;
    await within(closing.close(), 10_000, 'the node close');
    await until(() => hole!.closed('roomcast-adapter'), 5000, 'the adapter connection to close');
    // A rejection nobody handles is reported once the tick that rejected it has run.
    await new Promise((resolve) => setImmediate(resolve));
    expect(rejections).toEqual([]);
  });

  it('leaves no unhandled rejection when a classic-mode serverSideEmit is made while Redis is away', async () => {
    redis = await startRedis();
    [node] = await startCluster(1, redis.url, { mode: 'classic' });
    await redis.kill();
    await until(() => !node!.broker.isReady(), 5000, 'the node to see Redis gone');
    process.on('unhandledRejection', record);
    // What `POST /v1/disconnect` does on every node: the adapter's PUBLISH fails at once.
    node!.broker.io.of('/').serverSideEmit('roomcast-test', { n: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(rejections).toEqual([]);
  });
});

interface Silent {
  /** Whether a connection that named itself `name` (CLIENT SETNAME) came in. */
  opened(name: string): boolean;
  /** Whether that connection has been closed by its client. */
  closed(name: string): boolean;
  close(): Promise<void>;
}

/** A TCP server on `port` that reads what Redis clients send and never answers. */
async function silentServer(port: number): Promise<Silent> {
  const seen = new Map<string, { text: string; closed: boolean }>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const conn = { text: '', closed: false };
    socket.on('data', (chunk) => {
      conn.text += chunk.toString('latin1');
      const name = /roomcast-[a-z]+/.exec(conn.text)?.[0];
      if (name) seen.set(name, conn);
    });
    socket.on('close', () => {
      conn.closed = true;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    opened: (name) => seen.has(name),
    closed: (name) => seen.get(name)?.closed === true,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
