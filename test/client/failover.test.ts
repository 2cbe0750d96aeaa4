import { afterEach, describe, expect, it } from 'vitest';
import { api } from '../api/http.js';
import {
  closeClients,
  connect,
  type RunningBroker,
  request,
  startBroker,
  token,
  until,
  within,
} from '../helpers/broker.js';
import { closeSdkClients, nextClientEvent, record, sdkClient, sdkConfig } from './helpers.js';

const brokers: RunningBroker[] = [];
async function broker(port = 0): Promise<RunningBroker> {
  const b = await startBroker(sdkConfig({}, { port, shutdownGraceMs: 2000 }));
  brokers.push(b);
  return b;
}
afterEach(async () => {
  closeSdkClients();
  closeClients();
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

async function publish(b: RunningBroker, room: string, data: unknown): Promise<void> {
  const pub = await connect(b.url, token('pub'));
  const ack = await request(pub, 'publish', { room, event: 'n', data });
  expect(ack.ok).toBe(true);
  pub.disconnect();
}

describe('SDK across nodes', () => {
  it('moves to the next url when its node shuts down, and rejoins there', async () => {
    const [a, b] = [await broker(), await broker()];
    const client = sdkClient({ urls: [a.url, b.url], token: token('alice') });
    const room = client.join('chat:move');
    const seen = record(room);
    await room.joined;
    expect(client.url).toBe(a.url);
    const moved = nextClientEvent(client, 'connected', 8000);
    const closing = nextClientEvent(client, 'closing');
    // Two separate in-memory brokers share no history: the rejoin is told the epoch changed.
    const lost = nextClientEvent(client, 'unrecovered', 8000);
    await a.close();
    expect(await closing).toMatchObject({ code: 'shutting_down' });
    expect(await moved).toEqual({ url: b.url });
    expect(await lost).toMatchObject({ room: 'chat:move', reason: 'epoch_changed' });
    await publish(b, 'chat:move', 'on b');
    await until(() => seen.data.length === 1, 5000, 'a message on the second node');
    expect(seen.data).toEqual(['on b']);
  });

  it('skips a url where nothing listens', async () => {
    const gone = await broker();
    await gone.close();
    const b = await broker();
    const client = sdkClient({ urls: [gone.url, b.url], token: token('bob') });
    const retry = nextClientEvent(client, 'reconnecting');
    await nextClientEvent(client, 'connected', 8000);
    expect((await retry).error?.code).toBe('unavailable');
    expect(client.url).toBe(b.url);
  });

  it('resumes on a broker restarted on the same port, with a new epoch', async () => {
    const first = await broker();
    const client = sdkClient({ url: first.url, token: token('carol') });
    const room = client.join('chat:restart');
    const seen = record(room);
    await room.joined;
    await publish(first, 'chat:restart', 'before');
    await until(() => seen.data.length === 1, 5000, 'the first message');
    const lost = nextClientEvent(client, 'unrecovered', 10_000);
    await first.close();
    const again = await broker(first.port);
    expect(await lost).toMatchObject({ reason: 'epoch_changed', from: { offset: 1 } });
    await publish(again, 'chat:restart', 'after');
    await until(() => seen.data.length === 2, 5000, 'a message after the restart');
    expect(seen.data).toEqual(['before', 'after']);
  });

  it('comes back after POST /v1/disconnect, its rooms resumed with nothing missed', async () => {
    const b = await broker();
    const client = sdkClient({ url: b.url, token: token('dave') });
    const room = client.join('chat:kick');
    const seen = record(room);
    await room.joined;
    const closing = nextClientEvent(client, 'closing');
    const back = new Promise<void>((resolve) =>
      client.on('reconnecting', () => client.once('connected', () => resolve())),
    );
    const kicked = await api(b.url, 'POST', '/v1/disconnect', { sub: 'dave' });
    expect(kicked.body).toMatchObject({ ok: true, disconnected: 1 });
    expect(await closing).toMatchObject({ code: 'disconnected' });
    // Published while the client is away: the rejoin replays it.
    await publish(b, 'chat:kick', 'while away');
    await within(back, 5000, 'the reconnect');
    await publish(b, 'chat:kick', 'after');
    await until(() => seen.data.length === 2, 5000, 'both messages');
    expect(seen.data).toEqual(['while away', 'after']);
    expect(client.state).toBe('connected');
  });

  it('stops with token_revoked after POST /v1/disconnect with reconnect: false', async () => {
    const b = await broker();
    const client = sdkClient({ url: b.url, token: token('erin') });
    await nextClientEvent(client, 'connected');
    const stopped = nextClientEvent(client, 'disconnected');
    const kicked = await api(b.url, 'POST', '/v1/disconnect', { sub: 'erin', reconnect: false });
    expect(kicked.body).toMatchObject({ ok: true, disconnected: 1 });
    expect(await stopped).toMatchObject({ reason: 'token_revoked', error: { code: 'token_revoked' } });
    expect(client.state).toBe('disconnected');
    // The refused attempt's connection closes too.
    await until(() => b.broker.io.engine.clientsCount === 0, 5000, 'no connection left');
  });
});
