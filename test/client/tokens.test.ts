import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClientError } from '../../src/client/index.js';
import {
  closeClients,
  connect,
  type RunningBroker,
  request,
  SECRET,
  startBroker,
  token,
  until,
} from '../helpers/broker.js';
import { closeSdkClients, nextClientEvent, record, sdkClient, sdkConfig, serverSocketOf } from './helpers.js';

let b: RunningBroker;
let attempts = 0;
beforeAll(async () => {
  // Every token is within the warning lead from the start: `token_expiring` comes at once.
  b = await startBroker(sdkConfig({}, { tokenExpiryLeadMs: 3_600_000 }));
  b.broker.io.engine.on('connection', () => attempts++);
});
afterEach(() => {
  closeSdkClients();
  closeClients();
});
afterAll(() => b.close());

const expired = (sub: string) =>
  jwt.sign({ sub, exp: Math.floor(Date.now() / 1000) - 120, rooms: { subscribe: ['*'] } }, SECRET);

function errorsOf(client: ReturnType<typeof sdkClient>): ClientError[] {
  const errors: ClientError[] = [];
  client.on('error', (e) => errors.push(e));
  return errors;
}

/** A client whose token and every token `getToken` gives are `sub`'s, valid `ttlSec`; `calls()` counts getToken. */
function refreshingClient(sub: string, ttlSec: number, refreshTtlSec = ttlSec) {
  let calls = 0;
  const client = sdkClient({
    url: b.url,
    token: token(sub, undefined, { ttlSec }),
    getToken: () => {
      calls++;
      return token(sub, undefined, { ttlSec: refreshTtlSec });
    },
  });
  return { client, calls: () => calls };
}

describe('SDK tokens', () => {
  it('refreshes the token with getToken on token_expiring', async () => {
    const { client, calls } = refreshingClient('alice', 60, 7200);
    const refreshed = await nextClientEvent(client, 'token_refreshed');
    expect(calls()).toBe(1);
    expect(refreshed.expiresAt).toBeGreaterThan(Date.now() + 3_600_000);
    expect(serverSocketOf(b, client).data.expiresAt).toBe(refreshed.expiresAt);
    expect(client.state).toBe('connected');
  });

  it('does not refresh in a loop when the new token is within the warning lead too', async () => {
    // Every token here is warned of at once: a refreshed one as well. The next refresh waits for
    // half of what the new token has left (a minute), so the second warning calls getToken no more.
    const { client, calls } = refreshingClient('dora', 120);
    const warnings: number[] = [];
    client.on('token_expiring', ({ expiresAt }) => warnings.push(expiresAt));
    await nextClientEvent(client, 'token_refreshed');
    await until(() => warnings.length >= 2, 5000, 'the refreshed token warned of too');
    // A refresh the warning started would have called getToken by now (it is called at once).
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls()).toBe(1);
    expect(client.state).toBe('connected');
  });

  it('refreshes tokens shorter than the warning lead at half of their life, without reconnecting', async () => {
    const { client, calls } = refreshingClient('eve', 5);
    const refreshed: unknown[] = [];
    const closings: unknown[] = [];
    client.on('token_refreshed', (e) => refreshed.push(e));
    client.on('closing', (e) => closings.push(e));
    await until(() => refreshed.length >= 3, 20_000, 'three refreshes');
    // One getToken call per refresh, and one at connect (the given token had too little left).
    expect(calls()).toBeLessThanOrEqual(refreshed.length + 1);
    expect(closings).toEqual([]);
    expect(client.state).toBe('connected');
  });

  it("paces refreshes by the token's own lifetime (exp - iat) when the clocks disagree", async () => {
    // The issuer's clock runs 100 s ahead of this one (as a client clock running late): each token
    // says it is valid 4 s from an `iat` 100 s away. By this clock it has 104 s left; by its own
    // lifetime 4 s, so the next refresh comes about 2 s after the last, not 52 s.
    const skewed = () => {
      const now = Math.floor(Date.now() / 1000);
      return jwt.sign({ sub: 'gil', iat: now + 100, exp: now + 104, rooms: { subscribe: ['*'] } }, SECRET);
    };
    const client = sdkClient({ url: b.url, token: skewed(), getToken: skewed });
    const refreshed: unknown[] = [];
    client.on('token_refreshed', (e) => refreshed.push(e));
    await until(() => refreshed.length >= 2, 15_000, 'a second refresh within the short lifetime');
    expect(client.state).toBe('connected');
  });

  it('ends the rooms a refreshed token no longer allows, with a forbidden error, and keeps the rest', async () => {
    let release!: () => void;
    const joinedBoth = new Promise<void>((resolve) => {
      release = resolve;
    });
    const client = sdkClient({
      url: b.url,
      token: token('carol', undefined, { ttlSec: 60 }),
      getToken: async () => {
        await joinedBoth;
        return token('carol', { subscribe: ['keep:*'] }, { ttlSec: 7200 });
      },
    });
    const errors = errorsOf(client);
    const keep = client.join('keep:1');
    const drop = client.join('drop:1');
    expect(await keep.joined).toMatchObject({ ok: true });
    expect(await drop.joined).toMatchObject({ ok: true });
    const refreshed = nextClientEvent(client, 'token_refreshed');
    release();
    await refreshed;
    expect(errors.map((e) => [e.code, e.room])).toEqual([['forbidden', 'drop:1']]);
    expect(client.rooms.map((r) => r.name)).toEqual(['keep:1']);
    expect([...serverSocketOf(b, client).data.client.rooms]).toEqual(['keep:1']);
    const seen = record(keep);
    const pub = await connect(b.url, token('pub'));
    await request(pub, 'publish', { room: 'keep:1', event: 'n', data: 1 });
    await until(() => seen.offsets.length === 1, 5000, 'the kept room still delivers');
  });

  it('reconnects with a fresh token after closing token_expired, and loses nothing', async () => {
    const tokens = [
      () => token('bob', undefined, { ttlSec: 2 }), // to connect with
      () => {
        throw new Error('auth service away'); // on token_expiring: the refresh fails
      },
      () => token('bob', undefined, { ttlSec: 7200 }), // after the server closed the connection
    ];
    const client = sdkClient({ url: b.url, getToken: () => tokens.shift()!() });
    const errors = errorsOf(client);
    const room = client.join('chat:expiry');
    const seen = record(room);
    await room.joined;
    const closing = nextClientEvent(client, 'closing', 8000);
    const pub = await connect(b.url, token('pub'));
    await request(pub, 'publish', { room: 'chat:expiry', event: 'n', data: 1 });
    expect(await closing).toMatchObject({ code: 'token_expired' });
    await request(pub, 'publish', { room: 'chat:expiry', event: 'n', data: 2 });
    await until(() => seen.offsets.length === 2, 8000, 'both messages');
    expect(seen.offsets).toEqual([1, 2]);
    expect(tokens).toHaveLength(0);
    expect(errors.map((e) => e.code)).toEqual(['get_token_failed']);
    await until(() => client.state === 'connected', 5000, 'connected again');
  });

  it('surfaces a refused token as an error and stops, with no retry loop', async () => {
    const before = attempts;
    const client = sdkClient({ url: b.url, token: 'not-a-jwt' });
    const errors = errorsOf(client);
    const stopped = await nextClientEvent(client, 'disconnected');
    expect(stopped.error?.code).toBe('token_invalid');
    expect(errors.map((e) => e.code)).toEqual(['token_invalid']);
    expect(client.state).toBe('disconnected');
    expect(attempts - before).toBe(1);

    const missing = sdkClient({ url: b.url });
    expect((await nextClientEvent(missing, 'disconnected')).error?.code).toBe('token_missing');
  });

  it('asks getToken once more for an expired token, then stops', async () => {
    const before = attempts;
    let calls = 0;
    const client = sdkClient({
      url: b.url,
      token: expired('carol'),
      getToken: () => {
        calls++;
        return expired('carol');
      },
    });
    const stopped = await nextClientEvent(client, 'disconnected');
    expect(stopped.error).toMatchObject({ code: 'token_expired', temporary: false });
    expect(calls).toBe(2); // the option's token is known to be stale: one fresh one, then one retry
    expect(attempts - before).toBe(2);
  });
});
