import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Echo from 'laravel-echo';
import { io, type Socket } from 'socket.io-client';
import { until } from './broker.js';
import { freePort } from './redis.js';

/**
 * Laravel on both sides of a test, with unmodified third-party code: the npm `laravel-echo`
 * Socket.IO connector with `socket.io-client` (configured as Laravel's docs did), an auth endpoint
 * answered by Laravel's own `RedisBroadcaster::auth()` under `php -S`, and broadcasts through
 * Laravel's `RedisBroadcaster` (examples/laravel/).
 */
const LARAVEL = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'laravel');

export interface AuthServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** `php -S` serving examples/laravel/auth-server.php (users: cookie `laravel_session=user-<id>`). */
export async function startAuthServer(env: NodeJS.ProcessEnv = {}): Promise<AuthServer> {
  const port = await freePort();
  const proc: ChildProcess = spawn('php', ['-S', `127.0.0.1:${port}`, join(LARAVEL, 'auth-server.php')], {
    stdio: 'ignore',
    env: { ...process.env, ...env },
  });
  const url = `http://127.0.0.1:${port}`;
  await until(
    () =>
      fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      ),
    10_000,
    'php -S auth server',
  );
  return {
    url,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Broadcasts through Laravel's RedisBroadcaster (examples/laravel/broadcast.php). */
export function broadcastPhp(
  redisPort: number,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'php',
      [join(LARAVEL, 'broadcast.php'), ...args],
      { env: { ...process.env, REDIS_PORT: String(redisPort), ...env }, timeout: 15_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
}

export type EchoClient = Echo<'socket.io'>;

const open: EchoClient[] = [];

/** An Echo client as Laravel's docs configure it; `cookie` stands for the browser's session cookie. */
export async function echoClient(
  url: string,
  opts: { cookie?: string; bearer?: string; csrf?: string } = {},
): Promise<EchoClient> {
  const echo = new Echo<'socket.io'>({
    broadcaster: 'socket.io',
    host: url,
    client: io,
    transports: ['websocket'],
    ...(opts.cookie ? { extraHeaders: { Cookie: opts.cookie } } : {}),
    ...(opts.bearer ? { bearerToken: opts.bearer } : {}),
    ...(opts.csrf ? { csrfToken: opts.csrf } : {}),
  });
  open.push(echo);
  const socket = rawSocket(echo);
  if (!socket.connected)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
  return echo;
}

/** The Socket.IO socket under an Echo client (Echo's public `connector.socket`). */
export function rawSocket(echo: EchoClient): Socket {
  return (echo.connector as unknown as { socket: Socket }).socket;
}

/** Every `name` event on the socket under `echo`, as argument arrays. */
export function rawEvents(echo: EchoClient, name: string): unknown[][] {
  const seen: unknown[][] = [];
  rawSocket(echo).on(name, (...args: unknown[]) => seen.push(args));
  return seen;
}

/** Collects what an Echo callback receives. */
export function recorder<T = unknown>(): { seen: T[]; cb: (v: T) => void } {
  const seen: T[] = [];
  return { seen, cb: (v: T) => void seen.push(v) };
}

/** Waits until `list` has at least `n` entries. */
export function atLeast<T>(list: T[], n: number, what = 'events', ms = 8000): Promise<true> {
  return until(() => list.length >= n, ms, `${n} ${what} (have ${list.length})`) as Promise<true>;
}

export function closeEchoClients(): void {
  for (const e of open.splice(0)) e.disconnect();
}
