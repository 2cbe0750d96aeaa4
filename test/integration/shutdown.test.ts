import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import jwt from 'jsonwebtoken';
import { pino } from 'pino';
import { io as ioClient } from 'socket.io-client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBroker } from '../../src/broker/create-broker.js';
import {
  API_KEY,
  closeClients,
  connect,
  connectError,
  nextEvent,
  request,
  SECRET,
  startBroker,
  type TestClient,
  testConfig,
  token,
  until,
  within,
} from '../helpers/broker.js';
import { assertBuilt, MAIN, startServer, stopServers } from '../helpers/process.js';
import { rawConnect } from '../helpers/raw.js';
import { tempFile } from '../helpers/tmp.js';

const ADMIN = 'admin-secret-0123456789abcdef0123';
beforeAll(() => assertBuilt());
afterEach(() => {
  closeClients();
  stopServers();
});

type Closing = { code: string; message: string };

/** Resolves with the `closing` payload, and checks that the disconnect follows it. */
async function closingThenDisconnect(c: TestClient): Promise<Closing> {
  const order: string[] = [];
  c.on('closing', () => order.push('closing'));
  const closing = nextEvent<Closing>(c, 'closing', 10_000);
  await nextEvent(c, 'disconnect', 10_000);
  expect(order).toEqual(['closing']);
  return closing;
}

describe('health', () => {
  it('is alive before it listens but ready only while listening', async () => {
    const broker = await createBroker(testConfig(), { logger: pino({ level: 'silent' }) });
    expect((await broker.http.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await broker.http.inject({ url: '/readyz' })).statusCode).toBe(503);
    const { port } = await broker.listen();
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    await broker.close();
    expect(broker.isReady()).toBe(false);
  });
});

describe('broker.close()', () => {
  it('sends closing shutting_down to every client of every namespace and transport, then stops', async () => {
    const config = testConfig({ namespaces: { '/admin': { jwt: { secrets: [ADMIN] } } } });
    const b = await startBroker(config);
    const clients = [
      await connect(b.url, token('ws')),
      await connect(b.url, token('poll'), { transports: ['polling'] }),
      await connect(b.url, token('up'), { transports: ['polling', 'websocket'] }),
      await connect(b.url, token('root', undefined, { config, ns: '/admin' }), { ns: '/admin' }),
    ];
    await request(clients[0]!, 'join', { room: 'chat:1' });
    const seen = clients.map(closingThenDisconnect);
    const health = await fetch(`${b.url}/healthz`);
    expect(health.status).toBe(200);
    expect((await fetch(`${b.url}/readyz`)).status).toBe(200);
    await b.close();
    for (const closing of await Promise.all(seen)) {
      expect(closing).toEqual({ code: 'shutting_down', message: expect.any(String) });
    }
    await expect(fetch(`${b.url}/healthz`)).rejects.toThrow();
    await b.close(); // idempotent
  });

  it('refuses new connections with unavailable while draining, and is not ready', async () => {
    const b = await startBroker(testConfig({ shutdownGraceMs: 20_000 }));
    const holder = await connect(b.url, token('holder'), { transports: ['polling'] });
    const told = nextEvent<Closing>(holder, 'closing');
    // An Engine.IO connection with no namespace keeps the drain open (the holder's own connection
    // is closed with its namespace, and the drain may otherwise end before the checks below).
    const idle = await rawConnect(b.url);
    const closed = b.broker.close();
    expect(b.broker.isReady()).toBe(false);
    const err = await connectError(b.url, token('late'));
    expect(err.data?.code).toBe('unavailable');
    // Still serving while it drains, but no longer ready (a load balancer stops sending clients).
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${b.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ok: false });
    expect(await told).toMatchObject({ code: 'shutting_down' });
    closeClients();
    idle.close();
    await closed;
  });

  it('does not wait out the grace period for a client that reconnects at once', async () => {
    const b = await startBroker(testConfig({ shutdownGraceMs: 20_000 }));
    // The connection closes under the client (`transport close`), so Socket.IO's own reconnection
    // comes back at once (as after a crash) and is refused while the node drains.
    const c: TestClient = ioClient(b.url, {
      auth: { token: token('eager') },
      transports: ['websocket'],
      reconnection: true,
      reconnectionDelay: 0,
    });
    await nextEvent(c, 'connect');
    const reason = nextEvent<string>(c, 'disconnect');
    const refused = nextEvent<Error & { data?: { code: string } }>(c, 'connect_error', 10_000);
    await within(b.close(), 10_000, 'close with a 20 s grace period');
    expect(await reason).toBe('transport close');
    expect((await refused).message).toMatch(/unavailable|websocket error/);
    c.close();
  });

  it('lets every Socket.IO client reconnect by itself: `closing` on each namespace, then the connection closes', async () => {
    const config = testConfig({ namespaces: { '/second': {} } });
    const b = await startBroker(config);
    const main = await connect(b.url, token('multi'));
    // A second namespace over the same Engine.IO connection (one Manager).
    const second = main.io.socket('/second', {
      auth: { token: token('multi', undefined, { config, ns: '/second' }) },
    });
    second.connect();
    await nextEvent(second, 'connect');
    const told = [nextEvent(main, 'closing'), nextEvent(second, 'closing')];
    const reasons = [nextEvent<string>(main, 'disconnect'), nextEvent<string>(second, 'disconnect')];
    await within(b.close(), 10_000, 'close');
    for (const t of await Promise.all(told)) expect(t).toMatchObject({ code: 'shutting_down' });
    // Not `io server disconnect`, after which Socket.IO never reconnects on its own.
    expect(await Promise.all(reasons)).toEqual(['transport close', 'transport close']);
    second.close();
  });
});

describe('close', () => {
  it('ends connections that sent no request, or half of one (a preconnect, a TCP health check)', async () => {
    const b = await startBroker();
    const silent = createConnection(b.port, '127.0.0.1');
    const partial = createConnection(b.port, '127.0.0.1');
    await Promise.all([once(silent, 'connect'), once(partial, 'connect')]);
    partial.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    // The broker destroys them: a reset is how they may end here.
    const ended = [silent, partial].map((c) => {
      c.on('error', () => undefined);
      return new Promise((resolve) => c.once('close', resolve));
    });
    await within(b.close(), 10_000, 'close with an idle and a half-sent connection open');
    await within(Promise.all(ended), 10_000, 'both connections closed by the broker');
  });
});

describe('the process', () => {
  const env = {
    ROOMCAST_JWT_SECRET: SECRET,
    ROOMCAST_API_KEYS: API_KEY,
    ROOMCAST_ALLOWED_ORIGINS: '*',
    NODE_ENV: 'production',
  };

  it('drains on SIGTERM: every client gets closing, the process exits 0', async () => {
    const server = await startServer(env);
    const ws = await connect(server.url, token('ws'));
    const poll = await connect(server.url, token('poll'), { transports: ['polling'] });
    await request(ws, 'join', { room: 'chat:1' });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const seen = [ws, poll].map(closingThenDisconnect);
    server.child.kill('SIGTERM');
    for (const closing of await Promise.all(seen)) expect(closing.code).toBe('shutting_down');
    const result = await server.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(result.signal).toBeNull();
  });

  it('drains on SIGTERM sent to `npm start` too (npm passes it to the broker)', async () => {
    const server = await startServer(env, 30_000, 'npm start');
    const ws = await connect(server.url, token('ws'));
    const seen = closingThenDisconnect(ws);
    server.child.kill('SIGTERM');
    expect((await seen).code).toBe('shutting_down');
    const result = await server.exited;
    expect(result.code, result.stderr).toBe(0);
    // The broker itself is gone, not only npm: nothing listens on its port any more.
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('in development generates keys and prints a demo token that works', async () => {
    const server = await startServer({});
    const out = server.output();
    const demo = /Demo token[^\n]*\n\s+(\S+)/.exec(out)?.[1];
    expect(demo, out).toBeDefined();
    expect(out).toMatch(/ROOMCAST_JWT_SECRET=\S+/);
    expect(out).toMatch(/ROOMCAST_API_KEYS=rc_\S+/);
    const c = await connect(server.url, demo);
    expect(await request(c, 'join', { room: 'chat:lobby' })).toMatchObject({ ok: true });
    expect(
      await request(c, 'publish', { room: 'chat:lobby', event: 'msg', data: 'hi', echo: true }),
    ).toMatchObject({
      ok: true,
      offset: 1,
    });
    // The printed one-line client runs as printed, from the project folder.
    const snippet = /Connect[^\n]*\n\s+(node -e .+)\n/.exec(out)?.[1];
    expect(snippet, out).toBeDefined();
    // `exec`: the shell becomes the client, so that killing it ends the client (it would otherwise
    // outlive the test, reconnecting forever to the stopped server).
    const client = spawn('sh', ['-c', `exec ${snippet!}`], {
      cwd: dirname(dirname(MAIN)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let printed = '';
    client.stdout.on('data', (d: Buffer) => {
      printed += d.toString();
    });
    try {
      await until(() => printed.includes('ok: true'), 10_000, 'the snippet joined');
      await request(c, 'publish', { room: 'chat:lobby', event: 'msg', data: 'from the test' });
      await until(() => printed.includes('from the test'), 5000, 'the snippet got the message');
    } finally {
      client.kill();
    }
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(0);
  });

  it('prints a secret generated for another namespace as that namespace’s, not as ROOMCAST_JWT_SECRET', async () => {
    // `/` has its secret from the env; `/support` has none and gets one for this run.
    const file = tempFile(
      'support.json',
      JSON.stringify({ namespaces: { '/support': { apiKeys: ['support-key-0001'] } } }),
    );
    const server = await startServer({ ROOMCAST_JWT_SECRET: SECRET, ROOMCAST_CONFIG: file });
    await until(() => server.output().includes('Publish from your backend'), 5000, 'the banner');
    const out = server.output();
    expect(out).not.toMatch(/ROOMCAST_JWT_SECRET=/);
    const printed = /JWT secret of namespaces \/support [^:]*: (\S+)/.exec(out)?.[1];
    expect(printed, out).toBeDefined();
    const signed = jwt.sign({ sub: 'sam', rooms: { subscribe: ['*'] } }, printed!, { expiresIn: 60 });
    const c = await connect(server.url, signed, { ns: '/support' });
    expect(await request(c, 'join', { room: 'help:1' })).toMatchObject({ ok: true });
    // The banner's demo token is still one of `/` (signed with the env's secret).
    const demo = /Demo token[^\n]*\n\s+(\S+)/.exec(out)?.[1];
    expect(jwt.verify(demo!, SECRET)).toMatchObject({ sub: 'demo' });
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(0);
  });
});
