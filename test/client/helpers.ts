import type { ClientEvents, ClientOptions, MessageMeta, Room } from '../../src/client/index.js';
import { createClient, type RoomcastClient } from '../../src/client/index.js';
import { type RunningBroker, testConfig } from '../helpers/broker.js';

const open: RoomcastClient[] = [];

/** A client with short backoffs over WebSocket, closed by `closeSdkClients`. */
export function sdkClient(options: ClientOptions): RoomcastClient {
  const client = createClient({
    reconnectionDelay: 50,
    reconnectionDelayMax: 400,
    ackTimeoutMs: 5000,
    connectTimeoutMs: 3000,
    ...options,
    socketOptions: { transports: ['websocket'], ...options.socketOptions },
  });
  open.push(client);
  return client;
}

/** Closes every client made by `sdkClient`. Call in afterEach. */
export function closeSdkClients(): void {
  for (const client of open.splice(0)) client.close();
}

/** Resolves with the next `event` of a client (its first argument), or rejects after `ms`. */
export function nextClientEvent<K extends keyof ClientEvents>(
  client: RoomcastClient,
  event: K,
  ms = 5000,
): Promise<Parameters<ClientEvents[K]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no client "${event}" within ${ms} ms`));
    }, ms);
    const off = client.once(event, ((value: Parameters<ClientEvents[K]>[0]) => {
      clearTimeout(timer);
      resolve(value);
    }) as ClientEvents[K]);
  });
}

/** Every message of a room as the app sees it. */
export function record<M extends object>(
  room: Room<M>,
): { offsets: number[]; data: unknown[]; metas: MessageMeta[] } {
  const seen = { offsets: [] as number[], data: [] as unknown[], metas: [] as MessageMeta[] };
  room.on('*', (data, meta) => {
    seen.offsets.push(meta.offset);
    seen.data.push(data);
    seen.metas.push(meta);
  });
  return seen;
}

/**
 * A config for SDK tests: a generous rate limit so steady streams are not throttled, and history
 * deep enough that every test's messages stay recoverable unless the test says otherwise.
 */
export function sdkConfig(
  ns: { limits?: Record<string, unknown>; history?: unknown[] } = {},
  overrides: Record<string, unknown> = {},
) {
  return testConfig({
    namespaces: {
      '/': {
        limits: { eventsPerSecond: 100_000, ...ns.limits },
        history: ns.history ?? [{ pattern: '*', size: 5000, ttlMs: 0 }],
      },
    },
    ...overrides,
  });
}

/**
 * Holds new connections of user `sub` to a broker's default namespace (after their token is
 * checked) until `open()`: a client that lost its connection stays away while the test publishes.
 */
export function connectionGate(b: RunningBroker): { hold(sub: string): void; open(): void } {
  let held: { sub: string; waiting: Array<() => void> } | null = null;
  b.broker.io.of('/').use((socket, next) => {
    if (held && socket.data.client?.sub === held.sub) held.waiting.push(() => next());
    else next();
  });
  return {
    hold(sub) {
      held = { sub, waiting: [] };
    },
    open() {
      const release = held?.waiting ?? [];
      held = null;
      for (const next of release) next();
    },
  };
}

/** The server side of a client's current connection. */
export function serverSocketOf(b: RunningBroker, client: RoomcastClient) {
  const id = client.socket?.id;
  const socket = id ? b.broker.namespaces.get('/')?.nsp.sockets.get(id) : undefined;
  if (!socket) throw new Error('the client has no server-side socket');
  return socket;
}

export const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
