import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import { api } from '../api/http.js';
import { type RunningBroker, startBroker, token, until } from '../helpers/broker.js';

/**
 * A third-party Socket.IO client against roomcast: python-socketio (Debian's python3-socketio,
 * with python3-websocket and python3-requests; .ci/run installs them), unmodified, driven by
 * examples/python/subscribe.py. Debian's interpreter by path: a python3 earlier in PATH (pyenv,
 * a virtualenv) may not see Debian's packages.
 */
const PYTHON = '/usr/bin/python3';
const SCRIPT = resolve(import.meta.dirname, '../../examples/python/subscribe.py');

interface Run {
  child: ChildProcess;
  /** Messages printed so far (one JSON line each). */
  messages: Array<Envelope & { replayed: boolean }>;
  stderr: () => string;
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];

function subscribe(room: string, env: Record<string, string>): Run {
  const child = spawn(PYTHON, [SCRIPT, room], {
    env: { PATH: '/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  const messages: Run['messages'] = [];
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
      messages.push(JSON.parse(out.slice(0, nl)));
      out = out.slice(nl + 1);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, messages, stderr: () => err, exited };
}

/** Resolves with the exit code, or fails after `ms`. */
function exitWithin(run: Run, ms: number): Promise<number | null> {
  return Promise.race([
    run.exited,
    new Promise<never>((_, fail) =>
      setTimeout(() => fail(new Error(`still running after ${ms} ms; stderr: ${run.stderr()}`)), ms).unref(),
    ),
  ]);
}

/** Waits until the script says it joined `room`, at `#offset` when one is given. */
function joined(run: Run, room: string, offset?: number, ms = 15_000): Promise<unknown> {
  const line = `joined ${room} at #${offset ?? ''}`;
  return until(() => run.stderr().includes(line), ms, `"${line}"`);
}

async function publish(b: RunningBroker, room: string, data: unknown): Promise<void> {
  const reply = await api(b.url, 'POST', '/v1/publish', { room, event: 'note', data });
  expect(reply.status).toBe(200);
}

/** The script over WebSocket as user `sub`, once it has joined `room` at #0. */
async function joinedOverWebSocket(room: string, sub: string, messages?: number): Promise<Run> {
  const run = subscribe(room, {
    ROOMCAST_URL: b.url,
    ROOMCAST_TOKEN: token(sub),
    ROOMCAST_TRANSPORTS: 'websocket',
    ...(messages ? { ROOMCAST_MESSAGES: String(messages) } : {}),
  });
  await joined(run, room, 0);
  return run;
}

/** `POST /v1/disconnect` of `sub`, which has one connection. */
async function kick(sub: string, body: { reconnect?: boolean } = {}): Promise<void> {
  const reply = await api(b.url, 'POST', '/v1/disconnect', { sub, ...body });
  expect(reply.body).toMatchObject({ ok: true, disconnected: 1 });
}

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker();
});
afterEach(() => {
  for (const child of running.splice(0)) child.kill('SIGKILL');
});
afterAll(() => b.close());

describe('python-socketio (examples/python/subscribe.py)', () => {
  for (const transports of ['websocket', 'polling']) {
    it(`joins with a token and receives messages in order over ${transports}`, async () => {
      const room = `py:${transports}`;
      const run = subscribe(room, {
        ROOMCAST_URL: b.url,
        ROOMCAST_TOKEN: token('py-user'),
        ROOMCAST_TRANSPORTS: transports,
        ROOMCAST_MESSAGES: '3',
      });
      await joined(run, room, 0);
      for (const n of [1, 2, 3]) await publish(b, room, { n });
      expect(await exitWithin(run, 15_000)).toBe(0);
      expect(run.messages.map((m) => [m.offset, m.data, m.replayed])).toEqual([
        [1, { n: 1 }, false],
        [2, { n: 2 }, false],
        [3, { n: 3 }, false],
      ]);
      expect(run.messages[0]).toMatchObject({ room, event: 'note', from: null, epoch: expect.any(String) });
    });
  }

  it('resumes from a saved position: what was published meanwhile comes from history', async () => {
    const room = 'py:resume';
    const env = {
      ROOMCAST_URL: b.url,
      ROOMCAST_TOKEN: token('py-resume'),
      POSITION_FILE: join(mkdtempSync(join(tmpdir(), 'roomcast-py-')), 'position.json'),
    };
    const first = subscribe(room, { ...env, ROOMCAST_MESSAGES: '1' });
    await joined(first, room);
    await publish(b, room, 'one');
    expect(await exitWithin(first, 15_000)).toBe(0);
    const saved = JSON.parse(readFileSync(env.POSITION_FILE, 'utf8'));
    expect(saved).toEqual({ offset: 1, epoch: first.messages[0]!.epoch });
    // Published while nobody is subscribed.
    await publish(b, room, 'two');
    await publish(b, room, 'three');
    const second = subscribe(room, { ...env, ROOMCAST_MESSAGES: '3' });
    await until(() => second.messages.length === 2, 15_000, 'the replayed messages');
    await publish(b, room, 'four');
    expect(await exitWithin(second, 15_000)).toBe(0);
    expect(second.messages.map((m) => [m.offset, m.data, m.replayed])).toEqual([
      [2, 'two', true],
      [3, 'three', true],
      [4, 'four', false],
    ]);
  });

  it('saves the join position of a run that saw no message, so the next run misses nothing', async () => {
    const room = 'py:quiet';
    await publish(b, room, 'before');
    const env = {
      ROOMCAST_URL: b.url,
      ROOMCAST_TOKEN: token('py-quiet'),
      POSITION_FILE: join(mkdtempSync(join(tmpdir(), 'roomcast-py-')), 'position.json'),
    };
    const first = subscribe(room, env);
    await joined(first, room, 1);
    await until(() => existsSync(env.POSITION_FILE), 5000, 'the saved position');
    first.child.kill('SIGINT');
    await exitWithin(first, 15_000);
    expect(JSON.parse(readFileSync(env.POSITION_FILE, 'utf8'))).toMatchObject({ offset: 1 });
    await publish(b, room, 'while away');
    const second = subscribe(room, { ...env, ROOMCAST_MESSAGES: '1' });
    expect(await exitWithin(second, 15_000)).toBe(0);
    expect(second.messages.map((m) => [m.offset, m.data, m.replayed])).toEqual([[2, 'while away', true]]);
  });

  it('reconnects after the connection drops, and gets what it missed from history', async () => {
    // A TCP proxy in front of the broker: destroying its sockets drops the connection without a
    // goodbye from either side, as a network failure does. While `held`, a new connection waits
    // (its bytes buffered) until the test lets it through.
    const open = new Set<Socket>();
    let held: Array<() => void> | null = null;
    const port = new URL(b.url).port;
    const proxy = createServer((client) => {
      open.add(client);
      client.on('error', () => undefined);
      client.on('close', () => open.delete(client));
      const forward = () => {
        const upstream = tcpConnect(Number(port), '127.0.0.1');
        open.add(upstream);
        upstream.on('error', () => undefined);
        upstream.on('close', () => open.delete(upstream));
        client.pipe(upstream).pipe(client);
      };
      if (held) held.push(forward);
      else forward();
    });
    await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
    try {
      const room = 'py:drop';
      const address = proxy.address();
      if (typeof address !== 'object' || address === null) throw new Error('no proxy address');
      const run = subscribe(room, {
        ROOMCAST_URL: `http://127.0.0.1:${address.port}`,
        ROOMCAST_TOKEN: token('py-drop'),
        ROOMCAST_TRANSPORTS: 'websocket',
        ROOMCAST_MESSAGES: '4',
      });
      await joined(run, room, 0);
      await publish(b, room, 1);
      await until(() => run.messages.length === 1, 15_000, 'the first message');
      held = [];
      for (const s of open) s.destroy();
      // Published while the client cannot reach the broker.
      await publish(b, room, 2);
      await publish(b, room, 3);
      await until(() => held !== null && held.length > 0, 20_000, 'a reconnect attempt');
      const waiting = held;
      held = null;
      for (const forward of waiting) forward();
      await joined(run, room, 3, 20_000);
      await publish(b, room, 4);
      expect(await exitWithin(run, 15_000)).toBe(0);
      expect(run.messages.map((m) => [m.offset, m.data, m.replayed])).toEqual([
        [1, 1, false],
        [2, 2, true],
        [3, 3, true],
        [4, 4, false],
      ]);
    } finally {
      for (const child of running.splice(0)) child.kill('SIGKILL');
      for (const s of open) s.destroy();
      await new Promise((done) => proxy.close(done));
    }
  }, 60_000);

  it('connects again when the broker closes the connection (POST /v1/disconnect), and misses nothing', async () => {
    const room = 'py:kick';
    const run = await joinedOverWebSocket(room, 'py-kick', 3);
    await publish(b, room, 1);
    await until(() => run.messages.length === 1, 15_000, 'the first message');
    await kick('py-kick');
    // Published while the script is reconnecting, or just after: from the join reply or live.
    await publish(b, room, 2);
    await until(
      () => run.stderr().includes(`joined ${room} at #`) && run.messages.length === 2,
      15_000,
      'message 2',
    );
    await publish(b, room, 3);
    expect(await exitWithin(run, 15_000)).toBe(0);
    expect(run.messages.map((m) => [m.offset, m.data])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(run.stderr()).toContain('server closing: disconnected');
    expect(run.stderr().match(/joined py:kick at #/g)).toHaveLength(2);
  }, 60_000);

  it('exits 1 when the broker closes the connection and revokes its token (reconnect: false)', async () => {
    const run = await joinedOverWebSocket('py:revoked', 'py-revoked');
    await kick('py-revoked', { reconnect: false });
    expect(await exitWithin(run, 15_000)).toBe(1);
    expect(run.stderr()).toMatch(/^roomcast: token_revoked: /m);
  }, 60_000);

  it("exits 1 with the broker's code for a bad token, and for a room the token does not open", async () => {
    const refused = subscribe('py:any', { ROOMCAST_URL: b.url, ROOMCAST_TOKEN: 'not-a-jwt' });
    expect(await exitWithin(refused, 15_000)).toBe(1);
    expect(refused.stderr()).toMatch(/^roomcast: token_invalid: /m);
    const forbidden = subscribe('secret:room', {
      ROOMCAST_URL: b.url,
      ROOMCAST_TOKEN: token('py-limited', { subscribe: ['py:*'] }),
    });
    expect(await exitWithin(forbidden, 15_000)).toBe(1);
    expect(forbidden.stderr()).toMatch(/^roomcast: forbidden: /m);
  });
});
