import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, PresenceEvent } from '../../src/protocol.js';
import {
  closeClients,
  collect,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  startBroker,
  type TestClient,
  testConfig,
  token,
} from '../helpers/broker.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(testConfig({ namespaces: { '/': { presence: ['p:*'] } } }));
});
afterEach(() => closeClients());
afterAll(() => b.close());

const user = (sub: string, info: unknown = { name: sub }) =>
  connect(b.url, token(sub, { subscribe: ['*'], publish: ['*'], presence: ['*'] }, { info }));

/**
 * Events to one socket arrive in the order the server sent them, so a message published after an
 * action is a bound: once it arrives, every presence event that action caused has arrived too.
 */
async function settle(room: string, ...watchers: TestClient[]): Promise<void> {
  const pub = await connect(b.url, token('settler', { publish: ['*'] }));
  const seen = watchers.map((w) => nextEvent<Envelope>(w, 'message'));
  await request(pub, 'publish', { room, event: 'settle', data: null });
  await Promise.all(seen);
  pub.disconnect();
}

describe('presence events', () => {
  it('announce a user once: on the first connection and when the last one leaves', async () => {
    const watcher = await user('watcher');
    await request(watcher, 'join', { room: 'p:1' });
    const events = collect<PresenceEvent>(watcher, 'presence');
    const a1 = await user('alice', { name: 'Alice' });
    const a2 = await user('alice', { name: 'Alice' });
    await request(a1, 'join', { room: 'p:1' });
    await request(a2, 'join', { room: 'p:1' });
    await request(a1, 'leave', { room: 'p:1' });
    await settle('p:1', watcher);
    expect(events).toEqual([
      { room: 'p:1', action: 'join', member: { sub: 'alice', info: { name: 'Alice' } } },
    ]);
    await request(a2, 'leave', { room: 'p:1' });
    await settle('p:1', watcher);
    expect(events.map((e) => e.action)).toEqual(['join', 'leave']);
    expect(events[1]).toEqual({
      room: 'p:1',
      action: 'leave',
      member: { sub: 'alice', info: { name: 'Alice' } },
    });
  });

  it('announce the leave when the last connection disconnects', async () => {
    const watcher = await user('watcher');
    await request(watcher, 'join', { room: 'p:2' });
    const bob = await user('bob');
    const joined = nextEvent<PresenceEvent>(watcher, 'presence');
    await request(bob, 'join', { room: 'p:2' });
    expect(await joined).toMatchObject({ action: 'join', member: { sub: 'bob' } });
    const left = nextEvent<PresenceEvent>(watcher, 'presence');
    bob.disconnect();
    expect(await left).toEqual({
      room: 'p:2',
      action: 'leave',
      member: { sub: 'bob', info: { name: 'bob' } },
    });
    const reply = await request(watcher, 'presence', { room: 'p:2' });
    expect(reply).toEqual({
      ok: true,
      members: [{ sub: 'watcher', info: { name: 'watcher' }, connections: 1 }],
    });
  });

  it('never reach the joining or leaving connection itself', async () => {
    const carol = await user('carol');
    const own = collect<PresenceEvent>(carol, 'presence');
    await request(carol, 'join', { room: 'p:3' });
    await settle('p:3', carol);
    await request(carol, 'leave', { room: 'p:3' });
    await request(carol, 'join', { room: 'p:3' });
    await settle('p:3', carol);
    expect(own).toEqual([]);
  });

  it('reach only members with the presence right', async () => {
    const seer = await user('seer');
    const blind = await connect(b.url, token('blind', { subscribe: ['*'] }));
    await request(seer, 'join', { room: 'p:4' });
    await request(blind, 'join', { room: 'p:4' });
    const seerEvents = collect<PresenceEvent>(seer, 'presence');
    const blindEvents = collect<PresenceEvent>(blind, 'presence');
    const dave = await user('dave');
    await request(dave, 'join', { room: 'p:4' });
    await request(dave, 'leave', { room: 'p:4' });
    await settle('p:4', seer, blind);
    expect(seerEvents.map((e) => `${e.action}:${e.member.sub}`)).toEqual(['join:dave', 'leave:dave']);
    expect(blindEvents).toEqual([]);
    // A user without the presence right is still announced to others.
    const seen = nextEvent<PresenceEvent>(seer, 'presence');
    await request(await connect(b.url, token('quiet', { subscribe: ['*'] })), 'join', { room: 'p:4' });
    expect(await seen).toMatchObject({ action: 'join', member: { sub: 'quiet' } });
  });

  it('are off in rooms the config leaves out', async () => {
    const watcher = await user('watcher');
    await request(watcher, 'join', { room: 'np:1' });
    const events = collect<PresenceEvent>(watcher, 'presence');
    const eve = await user('eve');
    await request(eve, 'join', { room: 'np:1' });
    eve.disconnect();
    await settle('np:1', watcher);
    expect(events).toEqual([]);
    expect(await request(watcher, 'presence', { room: 'np:1' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
  });

  it('keep separate rooms separate', async () => {
    const watcher = await user('watcher');
    await request(watcher, 'join', { room: 'p:5a' });
    const events = collect<PresenceEvent>(watcher, 'presence');
    const frank = await user('frank');
    await request(frank, 'join', { room: 'p:5b' });
    await request(frank, 'join', { room: 'p:5a' });
    await settle('p:5a', watcher);
    expect(events.map((e) => e.room)).toEqual(['p:5a']);
  });
});
