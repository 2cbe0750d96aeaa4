import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, Member } from '../../src/protocol.js';
import {
  closeClients,
  collect,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  startBroker,
  testConfig,
  token,
  until,
} from '../helpers/broker.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(
    testConfig({
      namespaces: {
        '/': {
          presence: ['chat:*', 'room:*'],
          history: [
            { pattern: 'nohist:*', size: 0, ttlMs: 0 },
            { pattern: '*', size: 50, ttlMs: 0 },
          ],
        },
      },
    }),
  );
});
afterEach(() => closeClients());
afterAll(() => b.close());

const ALL = { subscribe: ['*'], publish: ['*'], presence: ['*'] };

describe('join and leave', () => {
  it('join replies with the room, its position, recovered false and no messages', async () => {
    const c = await connect(b.url, token('alice'));
    const reply = await request(c, 'join', { room: 'chat:j1' });
    expect(reply).toEqual({
      ok: true,
      room: 'chat:j1',
      offset: 0,
      epoch: expect.any(String),
      recovered: false,
      messages: [],
    });
    // A second join of the same room is fine and changes nothing.
    expect(await request(c, 'join', { room: 'chat:j1' })).toMatchObject({ ok: true, epoch: reply.epoch });
  });

  it('leave replies ok once, then not_joined', async () => {
    const c = await connect(b.url, token('alice'));
    await request(c, 'join', { room: 'chat:j2' });
    expect(await request(c, 'leave', { room: 'chat:j2' })).toEqual({ ok: true });
    expect(await request(c, 'leave', { room: 'chat:j2' })).toMatchObject({
      ok: false,
      error: { code: 'not_joined' },
    });
    expect(await request(c, 'leave', { room: 'never' })).toMatchObject({
      ok: false,
      error: { code: 'not_joined' },
    });
  });

  it('a left room delivers nothing more', async () => {
    const c = await connect(b.url, token('alice'));
    const pub = await connect(b.url, token('pub'));
    await request(c, 'join', { room: 'chat:j3' });
    await request(c, 'join', { room: 'chat:j3b' });
    await request(c, 'leave', { room: 'chat:j3' });
    const got = collect<Envelope>(c, 'message');
    await request(pub, 'publish', { room: 'chat:j3', event: 'e', data: 'gone' });
    await request(pub, 'publish', { room: 'chat:j3b', event: 'e', data: 'here' });
    await until(() => got.length > 0, 5000, 'message');
    expect(got.map((m) => m.data)).toEqual(['here']);
  });

  it('refuses a room without the subscribe right, and bad names', async () => {
    const c = await connect(b.url, token('carol', { subscribe: ['chat:*'] }));
    expect(await request(c, 'join', { room: 'news' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    for (const room of ['', 'a b', 'chat:*', 'a'.repeat(201), 'a'.repeat(5000), '#x', 'é']) {
      expect(await request(c, 'join', { room }), room.slice(0, 20)).toMatchObject({
        ok: false,
        error: { code: 'invalid_room' },
      });
    }
    expect(await request(c, 'leave', { room: 'a b' })).toMatchObject({
      ok: false,
      error: { code: 'invalid_room' },
    });
    expect(await request(c, 'join', { room: `chat:${'a'.repeat(195)}` })).toMatchObject({ ok: true });
  });
});

describe('publish', () => {
  it('delivers the full envelope and acks its offset', async () => {
    const alice = await connect(b.url, token('alice', ALL, { info: { name: 'Alice' } }));
    const bob = await connect(b.url, token('bob'));
    await request(bob, 'join', { room: 'chat:p1' });
    const got = nextEvent<Envelope>(bob, 'message');
    const before = Date.now();
    const ack = await request(alice, 'publish', {
      room: 'chat:p1',
      event: 'msg',
      data: { text: 'hi', n: [1, 2] },
    });
    expect(ack).toEqual({ ok: true, offset: 1, epoch: expect.any(String) });
    const env = await got;
    expect(env).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      room: 'chat:p1',
      event: 'msg',
      data: { text: 'hi', n: [1, 2] },
      offset: 1,
      epoch: ack.epoch,
      ts: expect.any(Number),
      from: { sub: 'alice', info: { name: 'Alice' } },
    });
    expect(env.ts).toBeGreaterThanOrEqual(before - 1);
    expect(env.ts).toBeLessThanOrEqual(Date.now());
  });

  it('needs the publish right but no join, and echoes only with echo: true', async () => {
    const pub = await connect(b.url, token('pub', { publish: ['chat:*'] }));
    const sub = await connect(b.url, token('sub'));
    await request(sub, 'join', { room: 'chat:p2' });
    const subGot = collect<Envelope>(sub, 'message');
    expect(await request(pub, 'publish', { room: 'chat:p2', event: 'e', data: 1 })).toMatchObject({
      ok: true,
      offset: 1,
    });
    expect(await request(pub, 'publish', { room: 'news', event: 'e', data: 1 })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    // The publisher joins (with subscribe) and publishes without and with echo.
    const both = await connect(b.url, token('both'));
    await request(both, 'join', { room: 'chat:p2' });
    const own = collect<Envelope>(both, 'message');
    await request(both, 'publish', { room: 'chat:p2', event: 'e', data: 'no-echo' });
    await request(both, 'publish', { room: 'chat:p2', event: 'e', data: 'echo', echo: true });
    await until(() => own.length === 1 && subGot.length === 3, 5000, 'deliveries');
    expect(own.map((m) => m.data)).toEqual(['echo']);
    expect(subGot.map((m) => m.offset)).toEqual([1, 2, 3]);
  });

  it('keeps data of every JSON type, and requires data', async () => {
    const c = await connect(b.url, token('alice'));
    await request(c, 'join', { room: 'chat:types' });
    const got = collect<Envelope>(c, 'message');
    const values = [null, 0, -1.5, '', 'text', true, false, [], [1, 'a', null], {}, { a: { b: [{}] } }];
    for (const data of values)
      await request(c, 'publish', { room: 'chat:types', event: 'e', data, echo: true });
    // `data` is required (null is a value); without it the payload is malformed.
    expect(await request(c, 'publish', { room: 'chat:types', event: 'e', echo: true })).toMatchObject({
      ok: false,
      error: { code: 'bad_request', message: expect.stringContaining('data') },
    });
    await until(() => got.length === values.length, 5000, 'all messages');
    expect(got.map((m) => m.data)).toEqual(values);
  });
});

describe('presence and history requests', () => {
  it('presence lists members with info and connection counts', async () => {
    const a1 = await connect(b.url, token('alice', ALL, { info: { name: 'A' } }));
    const a2 = await connect(b.url, token('alice', ALL, { info: { name: 'A' } }));
    const bob = await connect(b.url, token('bob', { subscribe: ['*'] }));
    for (const c of [a1, a2, bob]) await request(c, 'join', { room: 'room:pr' });
    const reply = await request<{ members: Member[] }>(a1, 'presence', { room: 'room:pr' });
    expect(reply.ok).toBe(true);
    expect([...(reply.members ?? [])].sort((x, y) => x.sub.localeCompare(y.sub))).toEqual([
      { sub: 'alice', info: { name: 'A' }, connections: 2 },
      { sub: 'bob', info: { name: 'bob' }, connections: 1 },
    ]);
    // Presence needs the presence right (bob has only subscribe), not membership.
    expect(await request(bob, 'presence', { room: 'room:pr' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    const outsider = await connect(b.url, token('zed'));
    expect(await request(outsider, 'presence', { room: 'room:pr' })).toMatchObject({ ok: true });
    expect(await request(outsider, 'presence', { room: 'room:empty' })).toEqual({ ok: true, members: [] });
  });

  it('presence is forbidden where the config turns it off', async () => {
    const c = await connect(b.url, token('alice'));
    await request(c, 'join', { room: 'quiet' });
    expect(await request(c, 'presence', { room: 'quiet' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
  });

  it('history returns the latest messages, needs subscribe, and honours the config size', async () => {
    const c = await connect(b.url, token('alice'));
    for (let i = 1; i <= 5; i++) await request(c, 'publish', { room: 'chat:h1', event: 'e', data: i });
    const all = await request<{ messages: Envelope[] }>(c, 'history', { room: 'chat:h1' });
    expect(all).toMatchObject({ ok: true, offset: 5 });
    expect(all.messages?.map((m) => m.data)).toEqual([1, 2, 3, 4, 5]);
    const last2 = await request<{ messages: Envelope[] }>(c, 'history', { room: 'chat:h1', limit: 2 });
    expect(last2.messages?.map((m) => m.offset)).toEqual([4, 5]);
    const none = await request(c, 'history', { room: 'chat:h1', limit: 0 });
    expect(none).toMatchObject({ ok: true, messages: [], offset: 5 });
    await request(c, 'publish', { room: 'nohist:1', event: 'e', data: 1 });
    expect(await request(c, 'history', { room: 'nohist:1' })).toMatchObject({
      ok: true,
      messages: [],
      offset: 1,
    });
    const pubOnly = await connect(b.url, token('p', { publish: ['*'] }));
    expect(await request(pubOnly, 'history', { room: 'chat:h1' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await request(c, 'history', { room: 'bad room' })).toMatchObject({
      ok: false,
      error: { code: 'invalid_room' },
    });
  });
});
