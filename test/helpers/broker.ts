import { pino } from 'pino';
import {
  type Socket as ClientSocket,
  io as ioClient,
  type ManagerOptions,
  type SocketOptions,
} from 'socket.io-client';
import { mintToken } from '../../src/auth/mint.js';
import { type Broker, createBroker } from '../../src/broker/create-broker.js';
import { type Config, loadConfig } from '../../src/config.js';
import type { ClientToServerEvents, RoomRights, ServerToClientEvents } from '../../src/protocol.js';
import { tempFile } from './tmp.js';

export const SECRET = 'test-secret-0123456789abcdef0123456789';
export const API_KEY = 'test-api-key-0001';

/** A config from default.json, an override object (as a ROOMCAST_CONFIG file) and env vars. */
export function testConfig(overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): Config {
  const file = tempFile(
    'config.json',
    JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'silent', ...overrides }),
  );
  return loadConfig({
    ROOMCAST_JWT_SECRET: SECRET,
    ROOMCAST_API_KEYS: API_KEY,
    ...env,
    ROOMCAST_CONFIG: file,
  });
}

export interface RunningBroker {
  broker: Broker;
  url: string;
  port: number;
  config: Config;
  close(): Promise<void>;
}

/** Starts a broker on a free port; `close()` is idempotent. */
export async function startBroker(config: Config = testConfig()): Promise<RunningBroker> {
  const broker = await createBroker(config, {
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  });
  const { port } = await broker.listen();
  return { broker, url: `http://127.0.0.1:${port}`, port, config, close: () => broker.close() };
}

export type TestClient = ClientSocket<ServerToClientEvents, ClientToServerEvents>;

export function token(
  sub = 'alice',
  rooms: RoomRights = { subscribe: ['*'], publish: ['*'], presence: ['*'] },
  opts: { ttlSec?: number; info?: unknown; config?: Config; ns?: string } = {},
): string {
  const cfg = opts.config ?? testConfig();
  return mintToken(cfg.namespaces[opts.ns ?? '/']!, {
    sub,
    rooms,
    info: opts.info ?? { name: sub },
    ttlSec: opts.ttlSec ?? 3600,
  });
}

const open: TestClient[] = [];

/**
 * Connects a real Socket.IO client and waits for `connect` (or throws the `connect_error`).
 * `before` runs on the socket before it connects: for events the server may send with the
 * connection itself (they can arrive in the same read as `connect`, before `await` returns).
 */
export async function connect(
  url: string,
  tok: string | undefined,
  opts: Partial<ManagerOptions & SocketOptions> & { ns?: string; before?: (s: TestClient) => void } = {},
): Promise<TestClient> {
  const { ns = '/', before, ...rest } = opts;
  const socket: TestClient = ioClient(`${url}${ns === '/' ? '' : ns}`, {
    auth: tok === undefined ? {} : { token: tok },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ...rest,
  });
  open.push(socket);
  before?.(socket);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('connect timed out')), 5000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return socket;
}

/** The `connect_error` a refused connection gets. */
export async function connectError(
  url: string,
  tok: string | undefined,
  opts: Partial<ManagerOptions & SocketOptions> & { ns?: string } = {},
): Promise<Error & { data?: { code: string; message: string } }> {
  try {
    await connect(url, tok, opts);
  } catch (err) {
    return err as Error & { data?: { code: string; message: string } };
  }
  throw new Error('connection was accepted');
}

/** An acknowledgement as a test reads it: `ok`, maybe `error`, and the reply's fields. */
export type AckReply = { ok: boolean; error?: { code: string; message: string } } & Record<string, unknown>;

/** Emits an event with an ack and awaits the reply, bounded. */
export function request<T extends object = Record<string, unknown>>(
  socket: TestClient,
  event: string,
  ...args: unknown[]
): Promise<AckReply & Partial<T>> {
  return (
    socket.timeout(5000) as unknown as { emitWithAck: (e: string, ...a: unknown[]) => Promise<never> }
  ).emitWithAck(event, ...args);
}

/** Resolves with the next `event` on `socket` (first argument), or rejects after `ms`. */
export function nextEvent<T = unknown>(socket: TestClient, event: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms);
    (socket as unknown as { once: (e: string, fn: (v: T) => void) => void }).once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** Collects every `event` on `socket` into an array. */
export function collect<T = unknown>(socket: TestClient, event: string): T[] {
  const seen: T[] = [];
  (socket as unknown as { on: (e: string, fn: (v: T) => void) => void }).on(event, (v: T) => seen.push(v));
  return seen;
}

/** Polls `check` until it returns a truthy value, or throws after `ms`. */
export async function until<T>(
  check: () => T | Promise<T>,
  ms = 5000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Awaits `promise`, or throws after `ms`: a bound on something that must not hang (a stuck Redis, a frozen node). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** Disconnects every client opened by `connect`. Call in afterEach. */
export function closeClients(): void {
  for (const s of open.splice(0)) s.disconnect();
}
