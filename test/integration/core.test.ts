import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, PresenceEvent } from '../../src/protocol.js';
import {
  closeClients,
  collect,
  connect,
  connectError,
  nextEvent,
  type RunningBroker,
  request,
  startBroker,
  token,
  until,
} from '../helpers/broker.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker();
});
afterEach(() => closeClients());
afterAll(() => b.close());

describe('core flow on one node', () => {
  it('joins, publishes with offsets, delivers to others and not to the sender without echo', async () => {
    const alice = await connect(b.url, token('alice'));
    const bob = await connect(b.url, token('bob'));
    expect(await request(alice, 'join', { room: 'chat:1' })).toMatchObject({
      ok: true,
      room: 'chat:1',
      offset: 0,
    });
    expect(await request(bob, 'join', { room: 'chat:1' })).toMatchObject({ ok: true });
    const aliceGot = collect<Envelope>(alice, 'message');
    const got = nextEvent<Envelope>(bob, 'message');
    const ack = await request(alice, 'publish', { room: 'chat:1', event: 'msg', data: { text: 'hi' } });
    expect(ack).toMatchObject({ ok: true, offset: 1 });
    const env = await got;
    expect(env).toMatchObject({
      room: 'chat:1',
      event: 'msg',
      data: { text: 'hi' },
      offset: 1,
      from: { sub: 'alice' },
    });
    expect(env.epoch).toBe(ack.epoch);
    // echo: true reaches the sender too; the earlier message did not.
    await request(alice, 'publish', { room: 'chat:1', event: 'msg', data: 2, echo: true });
    await until(() => aliceGot.length === 1, 5000, 'echo');
    expect(aliceGot.map((m) => m.offset)).toEqual([2]);
  });

  it('recovers missed messages on join with since', async () => {
    const alice = await connect(b.url, token('alice'));
    const first = await request<{ offset: number; epoch: string }>(alice, 'join', { room: 'chat:rec' });
    expect(first.ok).toBe(true);
    await request(alice, 'leave', { room: 'chat:rec' });
    const pub = await connect(b.url, token('pub'));
    for (let i = 0; i < 3; i++) await request(pub, 'publish', { room: 'chat:rec', event: 'e', data: i });
    const again = await request(alice, 'join', {
      room: 'chat:rec',
      since: { offset: first.offset, epoch: first.epoch },
    });
    expect(again).toMatchObject({ ok: true, recovered: true, offset: 3 });
    expect((again.messages as Envelope[]).map((m) => m.data)).toEqual([0, 1, 2]);
  });

  it('announces presence to members with the presence right', async () => {
    const alice = await connect(b.url, token('alice'));
    await request(alice, 'join', { room: 'chat:p' });
    const seen = nextEvent<PresenceEvent>(alice, 'presence');
    const bob = await connect(b.url, token('bob'));
    await request(bob, 'join', { room: 'chat:p' });
    expect(await seen).toMatchObject({ room: 'chat:p', action: 'join', member: { sub: 'bob' } });
    const reply = await request(alice, 'presence', { room: 'chat:p' });
    expect(reply.ok && (reply.members as Array<{ sub: string }>).map((m) => m.sub).sort()).toEqual([
      'alice',
      'bob',
    ]);
  });

  it('refuses a missing token and a bad one with codes', async () => {
    expect((await connectError(b.url, undefined)).data?.code).toBe('token_missing');
    expect((await connectError(b.url, 'nope')).data?.code).toBe('token_invalid');
  });

  it('checks rights', async () => {
    const c = await connect(b.url, token('carol', { subscribe: ['chat:*'] }));
    expect(await request(c, 'join', { room: 'admin' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await request(c, 'publish', { room: 'chat:1', event: 'x', data: 1 })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
  });
});
