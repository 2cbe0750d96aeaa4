import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readyz } from '../cluster/stream-scenario.js';
import {
  closeClients,
  collect,
  connect,
  connectError,
  nextEvent,
  type RunningBroker,
  request,
  SECRET,
  startBroker,
  token,
  until,
} from '../helpers/broker.js';
import { startCluster } from '../helpers/cluster.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { api, closeStreams, isRefusal, openSse } from './http.js';

const EVERY = { subscribe: ['*'], publish: ['*'], presence: ['*'] };

/** A token issued `ago` seconds before now (negative: in the future), with `info` when given. */
function issuedAgo(sub: string, ago: number, info?: unknown): string {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ sub, rooms: EVERY, iat: now - ago, exp: now + 3600, ...(info ? { info } : {}) }, SECRET);
}

/**
 * `POST /v1/disconnect { reconnect: false }` on one node (memory) and across two nodes over Redis:
 * the user's earlier tokens are refused everywhere (`token_revoked`), a token issued later works.
 */
describe.each(['one node', 'two nodes over Redis'])('revocation (%s)', (mode) => {
  let redis: TestRedis | undefined;
  let nodes: RunningBroker[];
  beforeAll(async () => {
    if (mode === 'one node') nodes = [await startBroker()];
    else {
      redis = await startRedis();
      nodes = await startCluster(2, redis.url);
    }
  });
  afterEach(() => {
    closeClients();
    closeStreams();
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis?.stop();
  });
  const last = () => nodes[nodes.length - 1]!;

  it('refuses the closed connections’ tokens and earlier ones, on every node and over SSE', async () => {
    const sub = `rev-${mode.length}-a`;
    const live = token(sub);
    const older = issuedAgo(sub, 10);
    const socket = await connect(nodes[0]!.url, live);
    const closing = nextEvent<{ code: string }>(socket, 'closing');
    const res = await api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub, reconnect: false });
    expect(res.body).toEqual({ ok: true, disconnected: 1 });
    expect(await closing).toMatchObject({ code: 'disconnected' });
    for (const tok of [live, older]) {
      for (const node of nodes) {
        const err = await connectError(node.url, tok);
        expect(err.message).toBe('token_revoked');
        expect(err.data).toMatchObject({ code: 'token_revoked' });
      }
    }
    const sse = await openSse(`${last().url}/v1/events?room=r&token=${live}`);
    expect(isRefusal(sse) && sse.status).toBe(401);
    expect(isRefusal(sse) && sse.body.error.code).toBe('token_revoked');
    // A token the app issues after the call works (another string, even within the same second).
    const fresh = token(sub, EVERY, { info: { name: 'again' } });
    const again = await connect(last().url, fresh);
    expect(await request(again, 'join', { room: 'rev:room' })).toMatchObject({ ok: true });
  });

  it('refuses a revoked token in `refresh`, and the refused refresh changes nothing', async () => {
    const sub = `rev-${mode.length}-e`;
    const live = token(sub);
    const older = issuedAgo(sub, 10);
    await connect(nodes[0]!.url, live);
    await api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub, reconnect: false });
    const fresh = token(sub, EVERY, { info: { name: 'later' } });
    const socket = await connect(last().url, fresh);
    expect(await request(socket, 'join', { room: 'rev:after' })).toMatchObject({ ok: true });
    for (const tok of [live, older]) {
      expect(await request(socket, 'refresh', { token: tok })).toMatchObject({
        ok: false,
        error: { code: 'token_revoked' },
      });
    }
    // Still the connection's own token: its info (a refresh would have set the refused token's).
    const presence = await request<{ members: Array<{ sub: string; info: unknown }> }>(socket, 'presence', {
      room: 'rev:after',
    });
    expect(presence.members).toEqual([expect.objectContaining({ sub, info: { name: 'later' } })]);
    const renewed = token(sub, EVERY, { info: { name: 'renewed' } });
    expect(await request(socket, 'refresh', { token: renewed })).toMatchObject({ ok: true });
  });

  it('revokes every token a connection presented, the one it connected with and its refreshes', async () => {
    const sub = `rev-${mode.length}-f`;
    // Issued "in the future": `iat` alone can never refuse them, only their hashes can.
    const first = issuedAgo(sub, -60, { n: 1 });
    const second = issuedAgo(sub, -60, { n: 2 });
    const socket = await connect(nodes[0]!.url, first);
    expect(await request(socket, 'refresh', { token: second })).toMatchObject({ ok: true });
    await api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub, reconnect: false });
    for (const tok of [first, second]) {
      const err = await connectError(last().url, tok);
      expect(err.message).toBe('token_revoked');
    }
  });

  it('revokes a refreshed token whose check is still in flight when the revocation starts', async () => {
    // Needs Redis to hold the refresh's revocation check in flight (CLIENT PAUSE, shorter than the
    // nodes' request timeout): on one node in memory the check never waits.
    if (!redis) return;
    const sub = `rev-${mode.length}-g`;
    const first = issuedAgo(sub, -60, { n: 1 });
    const second = issuedAgo(sub, -60, { n: 2 });
    const socket = await connect(nodes[0]!.url, first);
    await redis.command('CLIENT', 'PAUSE', '600', 'ALL');
    const refreshed = request(socket, 'refresh', { token: second }).catch(() => null);
    // Events of a connection are handled in order: once this one is answered (`not_joined`, no
    // Redis involved), the refresh has started and its revocation check waits in Redis.
    expect(await request(socket, 'leave', { room: 'rev:never-joined' })).toMatchObject({
      error: { code: 'not_joined' },
    });
    const res = await api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub, reconnect: false });
    expect(res.body).toEqual({ ok: true, disconnected: 1 });
    // The refresh does not come back renewed (no ack at all when the close came first) ...
    const ack = await refreshed;
    if (ack) expect(ack).toMatchObject({ ok: false, error: { code: 'token_revoked' } });
    // ... and its token is revoked with the rest, by hash (its `iat` alone would let it through).
    for (const tok of [first, second]) {
      expect((await connectError(last().url, tok)).message).toBe('token_revoked');
    }
  });

  it('refuses a refresh that arrives while a revocation of its connection is under way', async () => {
    // A revocation marks its connections before it stores the rule and closes them; a refresh in
    // between passes the stored check (nothing stored yet) and must be refused by the mark. The
    // mark is set here as `POST /v1/disconnect` sets it, so the refresh falls in that window.
    const sub = `rev-${mode.length}-h`;
    const socket = await connect(nodes[0]!.url, issuedAgo(sub, -60, { n: 1 }));
    const onServer = nodes[0]!.broker.namespaces.get('/')!.nsp.sockets.get(socket.id!)!;
    onServer.data.revoking = true;
    expect(await request(socket, 'refresh', { token: issuedAgo(sub, -60, { n: 2 }) })).toMatchObject({
      ok: false,
      error: { code: 'token_revoked' },
    });
    // The refused token is remembered with the connection's, for the revocation to take it too.
    expect(onServer.data.tokens).toHaveLength(2);
  });

  it('lets the user reconnect by default (reconnect: true)', async () => {
    const sub = `rev-${mode.length}-b`;
    const tok = token(sub);
    await connect(nodes[0]!.url, tok);
    const res = await api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub });
    expect(res.body).toEqual({ ok: true, disconnected: 1 });
    const back = await connect(last().url, tok);
    expect(back.connected).toBe(true);
  });

  it('revokes no one else', async () => {
    await api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub: `rev-${mode.length}-c`, reconnect: false });
    expect((await connect(last().url, issuedAgo(`rev-${mode.length}-d`, 10))).connected).toBe(true);
  });

  it('refuses a reconnect that is not a boolean', async () => {
    const res = await api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub: 'x', reconnect: 'no' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });
});

/**
 * Redis away (killed): a node refuses the tokens it revoked itself from its own copy. Every node a
 * `POST /v1/disconnect` reaches revokes (by `iat` for all, by hash for its own connections'
 * tokens), so each refuses the user's earlier tokens. A user nobody revoked is let in: the check
 * cannot be made, and connections go on through an outage.
 */
describe('revocation while Redis is away (two nodes)', () => {
  let redis: TestRedis;
  let nodes: RunningBroker[];
  beforeAll(async () => {
    redis = await startRedis();
    nodes = await startCluster(2, redis.url);
  });
  afterEach(() => {
    closeClients();
    closeStreams();
  });
  afterAll(async () => {
    // Back before the nodes close: what a close does while Redis is away is not this file's test.
    await redis.restart();
    await Promise.all(nodes.map((n) => n.close()));
    await redis.stop();
  });

  it('each node refuses the tokens it revoked before Redis went, over Socket.IO and SSE', async () => {
    const sub = 'rev-away';
    const live = token(sub);
    const older = issuedAgo(sub, 10);
    const socket = await connect(nodes[0]!.url, live);
    const closing = nextEvent<{ code: string }>(socket, 'closing');
    const res = await api(nodes[1]!.url, 'POST', '/v1/disconnect', { sub, reconnect: false });
    expect(res.body).toEqual({ ok: true, disconnected: 1 });
    expect(await closing).toMatchObject({ code: 'disconnected' });
    await redis.kill();
    // The connection's own token, by its hash, on the node that closed it (another node has only
    // `iat` to go by, and this token may be from the revocation's own second).
    const tries: Array<[RunningBroker, string]> = [
      [nodes[0]!, live],
      [nodes[0]!, older],
      [nodes[1]!, older],
    ];
    for (const [node, tok] of tries) {
      const err = await connectError(node.url, tok);
      expect(err.message).toBe('token_revoked');
      expect(err.data).toMatchObject({ code: 'token_revoked' });
    }
    const sse = await openSse(`${nodes[1]!.url}/v1/events?room=r&token=${older}`);
    expect(isRefusal(sse) && sse.status).toBe(401);
    expect(isRefusal(sse) && sse.body.error.code).toBe('token_revoked');
    const other = await connect(nodes[1]!.url, issuedAgo('rev-away-other', 10));
    expect(other.connected).toBe(true);
    // A stream has no later event to be checked at: one whose token cannot be checked is refused.
    const unknown = await openSse(`${nodes[1]!.url}/v1/events?room=r&token=${issuedAgo('rev-away-sse', 10)}`);
    expect(isRefusal(unknown) && unknown.status).toBe(503);
    expect(isRefusal(unknown) && unknown.body.error.code).toBe('unavailable');
  });
});

/**
 * A node that cannot check a token (Redis frozen) lets it in; the connection's next event checks it
 * again, and a token revoked meanwhile, by a node this one has no copy from, closes it.
 */
describe('a connection let in unchecked while Redis is away', () => {
  let redis: TestRedis;
  let nodes: RunningBroker[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    redis.thaw();
    closeClients();
    await Promise.all(nodes.map((n) => n.close()));
    nodes = [];
  });
  afterAll(() => redis.stop());

  it('is closed at its next event once Redis says its token was revoked', async () => {
    const sub = 'rev-unchecked';
    const older = issuedAgo(sub, 10);
    const [first] = await startCluster(1, redis.url);
    nodes.push(first!);
    const res = await api(first!.url, 'POST', '/v1/disconnect', { sub, reconnect: false });
    expect(res.body).toEqual({ ok: true, disconnected: 0 });
    // Started after the call: this node has no copy of the revocation; only Redis has it.
    const [late] = await startCluster(1, redis.url);
    nodes.push(late!);
    redis.freeze();
    const socket = await connect(late!.url, older);
    const closing = collect<{ code: string }>(socket, 'closing');
    redis.thaw();
    await until(async () => (await readyz(late!.url)) === 200, 15_000, 'the late node ready again');
    const reply = await request(socket, 'join', { room: 'rev:room' });
    expect(reply).toMatchObject({ ok: false, error: { code: 'token_revoked' } });
    await until(() => closing.length > 0 && !socket.connected, 5000, 'the connection closed');
    expect(closing).toEqual([{ code: 'disconnected', message: expect.any(String) }]);
  });

  it('goes on once the check is made and the token was not revoked, without checking again', async () => {
    const [node] = await startCluster(1, redis.url);
    nodes.push(node!);
    redis.freeze();
    const socket = await connect(node!.url, issuedAgo('rev-unchecked-ok', 10));
    redis.thaw();
    await until(async () => (await readyz(node!.url)) === 200, 15_000, 'the node ready again');
    expect(await request(socket, 'join', { room: 'rev:ok' })).toMatchObject({ ok: true });
    // Checked now: with Redis frozen again, an event that needs no Redis is answered at once. Were
    // the token still unchecked, it would wait for the check and fail with unavailable.
    redis.freeze();
    expect(await request(socket, 'no-such-event', {})).toMatchObject({
      ok: false,
      error: { code: 'bad_request' },
    });
    redis.thaw();
    expect(socket.connected).toBe(true);
  });

  it('while the check cannot be made, refuses what needs it (unavailable) and runs a leave', async () => {
    const [node] = await startCluster(1, redis.url);
    nodes.push(node!);
    redis.freeze();
    const socket = await connect(node!.url, issuedAgo('rev-unchecked-away', 10));
    // An unknown event needs no Redis: `unavailable` here is the recheck's, not the event's.
    expect(await request(socket, 'no-such-event', {})).toMatchObject({
      ok: false,
      error: { code: 'unavailable' },
    });
    expect(await request(socket, 'leave', { room: 'rev:away' })).toMatchObject({
      ok: false,
      error: { code: 'not_joined' },
    });
    redis.thaw();
    await until(async () => (await readyz(node!.url)) === 200, 15_000, 'the node ready again');
    expect(await request(socket, 'join', { room: 'rev:away' })).toMatchObject({ ok: true });
  });

  it('does not run an event whose connection closed while its check was out (no member left behind)', async () => {
    // A command timeout long enough that the check is still out when the client has gone.
    const [node] = await startCluster(1, redis.url, { requestTimeoutMs: 2000 });
    nodes.push(node!);
    const room = 'rev:ghost';
    redis.freeze();
    const socket = await connect(node!.url, issuedAgo('rev-ghost', 10));
    const nsp = node!.broker.io.of('/');
    const [serverSide] = [...nsp.sockets.values()];
    socket.emit('join', { room }, () => undefined);
    // The join is waiting for its check (Redis frozen) before the client goes.
    await until(
      () => serverSide?.data.unchecked?.pending !== undefined,
      1500,
      'the join waits for its check',
    );
    socket.disconnect();
    await until(() => nsp.sockets.size === 0, 1500, 'the server saw the disconnect');
    redis.thaw();
    await until(async () => (await readyz(node!.url)) === 200, 15_000, 'the node ready again');
    // The check answers once Redis is back; a join run after it would register rev-ghost. A
    // member that never comes is awaited for a set time: the join, had it run, takes milliseconds.
    const deadline = Date.now() + 1000;
    while (Date.now() < deadline) {
      const res = await api(node!.url, 'GET', `/v1/rooms/${encodeURIComponent(room)}/presence`);
      expect(res.body).toMatchObject({ ok: true, members: [] });
    }
  });
});
