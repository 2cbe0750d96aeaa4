import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClientError, ConnectionState } from '../../src/client/index.js';
import {
  closeClients,
  connect,
  type RunningBroker,
  request,
  startBroker,
  token,
  until,
} from '../helpers/broker.js';
import { closeSdkClients, nextClientEvent, record, sdkClient, sdkConfig } from './helpers.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(sdkConfig());
});
afterEach(() => {
  closeSdkClients();
  closeClients();
});
afterAll(() => b.close());

type Chat = { msg: { text: string }; typing: { on: boolean } };

describe('SDK API', () => {
  it('reports connection states in order', async () => {
    const client = sdkClient({ url: b.url, token: token('alice') });
    const states: ConnectionState[] = [];
    client.on('state', (s) => states.push(s));
    await nextClientEvent(client, 'connected');
    client.disconnect();
    await until(() => client.state === 'disconnected', 5000, 'disconnected');
    expect(states).toEqual(['connecting', 'connected', 'disconnected']);
  });

  it('publishes typed events, reads presence and history, and leaves', async () => {
    const alice = sdkClient({ url: b.url, token: token('alice') });
    const bob = sdkClient({ url: b.url, token: token('bob') });
    const a = alice.join<Chat>('chat:api');
    const bobRoom = bob.join<Chat>('chat:api');
    expect(bob.join('chat:api')).toBe(bobRoom); // one handle per room
    const texts: string[] = [];
    bobRoom.on('msg', (data, meta) => texts.push(`${meta.from?.sub}:${data.text}`));
    await Promise.all([a.joined, bobRoom.joined]);

    const sent = await a.publish('msg', { text: 'hi' });
    expect(sent).toMatchObject({ ok: true, offset: 1 });
    await until(() => texts.length === 1, 5000, 'the message');
    expect(texts).toEqual(['alice:hi']);

    const presence = await a.presence();
    expect(presence.ok && presence.members.map((m) => m.sub).sort()).toEqual(['alice', 'bob']);
    const history = await bobRoom.history({ limit: 10 });
    expect(history.ok && history.messages.map((m) => m.data)).toEqual([{ text: 'hi' }]);

    expect(await bobRoom.leave()).toEqual({ ok: true });
    expect(bob.room('chat:api')).toBeUndefined();
    const echoed = record(a);
    await a.publish('msg', { text: 'after leave' });
    await a.publish('typing', { on: true }, { echo: true });
    await until(() => echoed.offsets.length === 1, 5000, 'the echo'); // ordered after "after leave"
    expect(texts).toEqual(['alice:hi']);
  });

  it('returns refusals as values with the contract code, never throws', async () => {
    const client = sdkClient({ url: b.url, token: token('carol', { subscribe: ['chat:*'] }) });
    const errors: ClientError[] = [];
    client.on('error', (e) => errors.push(e));
    const room = client.join('chat:ro');
    const denied = await room.publish('msg', { text: 'x' });
    expect(denied.ok).toBe(false);
    if (!denied.ok)
      expect(denied.error).toMatchObject({ name: 'ClientError', code: 'forbidden', room: 'chat:ro' });

    const admin = client.join('admin');
    const refused = await admin.joined;
    expect(!refused.ok && refused.error.code).toBe('forbidden');
    expect(admin.status).toBe('failed');
    expect(errors.map((e) => e.code)).toContain('forbidden');

    client.disconnect();
    await until(() => client.state === 'disconnected', 5000, 'disconnected');
    const offline = await room.presence();
    expect(!offline.ok && offline.error.code).toBe('closed');
  });

  it('keeps delivering when a handler throws, and reports it', async () => {
    const client = sdkClient({ url: b.url, token: token('dave') });
    const room = client.join('chat:throw');
    room.on('msg', () => {
      throw new Error('app bug');
    });
    const seen = record(room);
    await room.joined;
    const reported = nextClientEvent(client, 'error');
    const pub = await connect(b.url, token('pub'));
    await request(pub, 'publish', { room: 'chat:throw', event: 'msg', data: 1 });
    await request(pub, 'publish', { room: 'chat:throw', event: 'msg', data: 2 });
    expect(await reported).toMatchObject({ code: 'handler_error', room: 'chat:throw' });
    await until(() => seen.offsets.length === 2, 5000, 'both messages');
  });
});
