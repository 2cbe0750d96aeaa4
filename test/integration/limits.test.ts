import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import {
  type AckReply,
  closeClients,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  startBroker,
  type TestClient,
  testConfig,
  token,
} from '../helpers/broker.js';

// `/` keeps the defaults; `/tight` has small limits and `/roomy` a high event rate.
const TIGHT = 'tight-secret-0123456789abcdef0123';
const ROOMY = 'roomy-secret-0123456789abcdef0123';
const config = testConfig({
  namespaces: {
    '/tight': {
      jwt: { secrets: [TIGHT] },
      limits: { roomsPerConnection: 3, eventsPerSecond: 5, payloadBytes: 100 },
    },
    '/roomy': { jwt: { secrets: [ROOMY] }, limits: { eventsPerSecond: 10_000 } },
  },
});
let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(config);
});
afterEach(() => closeClients());
afterAll(() => b.close());

const inNs = (ns: string) => connect(b.url, token('alice', undefined, { config, ns }), { ns });
const codes = (replies: AckReply[]) => {
  const count: Record<string, number> = {};
  for (const r of replies) {
    const key = r.ok ? 'ok' : (r.error?.code ?? '?');
    count[key] = (count[key] ?? 0) + 1;
  }
  return count;
};
const burst = (c: TestClient, n: number, make: (i: number) => [string, unknown]) =>
  Promise.all(Array.from({ length: n }, (_, i) => request(c, ...make(i))));

async function stillServes(): Promise<void> {
  const probe = await connect(b.url, token('probe'));
  expect(await request(probe, 'join', { room: 'probe' })).toMatchObject({ ok: true });
}

describe('too_many_rooms', () => {
  it('refuses a join past the limit; rejoining and leaving are fine', async () => {
    const c = await inNs('/tight');
    for (const room of ['a', 'b', 'c'])
      expect(await request(c, 'join', { room })).toMatchObject({ ok: true });
    expect(await request(c, 'join', { room: 'd' })).toMatchObject({
      ok: false,
      error: { code: 'too_many_rooms' },
    });
    expect(await request(c, 'join', { room: 'a' })).toMatchObject({ ok: true });
    await request(c, 'leave', { room: 'a' });
  });

  it('holds under a concurrent flood of joins with the default limit of 128', async () => {
    const c = await inNs('/roomy');
    const replies = await burst(c, 200, (i) => ['join', { room: `flood:${i}` }]);
    expect(codes(replies)).toEqual({ ok: 128, too_many_rooms: 72 });
    await stillServes();
  });
});

describe('rate_limited', () => {
  it('refuses events past the per-connection rate, then recovers', async () => {
    const c = await inNs('/tight');
    const replies = await burst(c, 20, () => ['history', { room: 'x' }]);
    const count = codes(replies);
    expect(count.rate_limited).toBeGreaterThanOrEqual(10);
    expect(count.ok).toBeGreaterThanOrEqual(5);
    // Another connection has its own budget.
    const other = await inNs('/tight');
    expect(await request(other, 'history', { room: 'x' })).toMatchObject({ ok: true });
  });

  it('counts unknown events too, and keeps their names short in the reply', async () => {
    const c = await inNs('/tight');
    const replies = await burst(c, 20, () => ['no-such-event', {}]);
    expect(codes(replies).rate_limited).toBeGreaterThanOrEqual(10);
    const other = await inNs('/tight');
    const long = await request(other, 'x'.repeat(10_000), {});
    expect(long.error?.code).toBe('bad_request');
    expect(long.error?.message.length).toBeLessThan(200);
  });

  it('allows at least 100 events per second by default, and limits a join flood past it', async () => {
    const c = await connect(b.url, token('alice'));
    const ok = await burst(c, 100, (i) => ['publish', { room: 'rate', event: 'e', data: i }]);
    expect(codes(ok)).toEqual({ ok: 100 });
    // 150 in one go exceed 100 in any one-second window, however the windows fall.
    const flood = await burst(c, 150, (i) => ['join', { room: `rf:${i}` }]);
    expect(codes(flood).rate_limited).toBeGreaterThan(0);
    await stillServes();
  });
});

describe('payload_too_large', () => {
  it('refuses data past the namespace limit and accepts data at it', async () => {
    const c = await inNs('/tight');
    // JSON size is counted: a string of n characters is n + 2 bytes.
    expect(await request(c, 'publish', { room: 'p', event: 'e', data: 'x'.repeat(98) })).toMatchObject({
      ok: true,
    });
    expect(await request(c, 'publish', { room: 'p', event: 'e', data: 'x'.repeat(99) })).toMatchObject({
      ok: false,
      error: { code: 'payload_too_large' },
    });
  });

  it('refuses 64 KiB + 1 by default and counts bytes, not characters', async () => {
    const c = await connect(b.url, token('alice'));
    const at = { text: 'x'.repeat(65_536 - 11) }; // {"text":"…"} is 11 bytes of JSON around it
    expect(await request(c, 'publish', { room: 'big', event: 'e', data: at })).toMatchObject({ ok: true });
    const over = { text: 'x'.repeat(65_536 - 10) };
    expect(await request(c, 'publish', { room: 'big', event: 'e', data: over })).toMatchObject({
      ok: false,
      error: { code: 'payload_too_large' },
    });
    const multiByte = 'é'.repeat(40_000); // 80,000 bytes in 40,000 characters
    expect(await request(c, 'publish', { room: 'big', event: 'e', data: multiByte })).toMatchObject({
      ok: false,
      error: { code: 'payload_too_large' },
    });
  });

  it('counts binary data by its length', async () => {
    const c = await connect(b.url, token('alice'));
    const fits = { file: Buffer.alloc(60_000, 7) };
    expect(await request(c, 'publish', { room: 'bin', event: 'e', data: fits })).toMatchObject({ ok: true });
    const over = { file: Buffer.alloc(66_000, 7) };
    expect(await request(c, 'publish', { room: 'bin', event: 'e', data: over })).toMatchObject({
      ok: false,
      error: { code: 'payload_too_large' },
    });
    // Exactly 64 KiB of bytes is within the limit, as data or in an object; one byte more is not.
    for (const data of [Buffer.alloc(65_536, 1), new Uint8Array(65_536), { f: Buffer.alloc(65_536 - 6) }]) {
      expect(await request(c, 'publish', { room: 'bin', event: 'e', data })).toMatchObject({ ok: true });
    }
    expect(
      await request(c, 'publish', { room: 'bin', event: 'e', data: { f: Buffer.alloc(65_536 - 5) } }),
    ).toMatchObject({
      ok: false,
      error: { code: 'payload_too_large', message: expect.stringContaining('65537') },
    });
  });

  it.each(['websocket', 'polling'])(
    'drops only the connection that sends a frame over the buffer limit (%s)',
    async (transport) => {
      const bystander = await connect(b.url, token('bystander'));
      await request(bystander, 'join', { room: 'huge' });
      const c = await connect(b.url, token('alice'), { transports: [transport] });
      const gone = nextEvent(c, 'disconnect', 10_000);
      // No ack: nothing will answer.
      (c.emit as (e: string, p: unknown) => void)('publish', {
        room: 'huge',
        event: 'e',
        data: 'x'.repeat(2 * 1024 * 1024),
      });
      await gone;
      const pub = await connect(b.url, token('pub'));
      const got = nextEvent<Envelope>(bystander, 'message');
      await request(pub, 'publish', { room: 'huge', event: 'e', data: 'after' });
      expect(await got).toMatchObject({ data: 'after' });
    },
  );

  it('closes a long-polling session whose POST was over the frame limit (a client that does not drop it itself)', async () => {
    const base = `${b.url}/socket.io/?EIO=4&transport=polling`;
    const open = await (await fetch(base)).text();
    const sid = (JSON.parse(open.slice(1)) as { sid: string }).sid;
    const at = `${base}&sid=${sid}`;
    expect(
      (await fetch(at, { method: 'POST', body: `40${JSON.stringify({ token: token('raw') })}` })).status,
    ).toBe(200);
    expect(await (await fetch(at)).text()).toMatch(/^40/);
    const big = await fetch(at, {
      method: 'POST',
      body: `42${JSON.stringify(['publish', { room: 'huge', event: 'e', data: 'x'.repeat(2 * 1024 * 1024) }])}`,
    });
    expect(big.status).toBe(413);
    // The session is over: the next poll gets the close packet or "unknown session", not a long wait.
    const next = await fetch(at, { signal: AbortSignal.timeout(5000) });
    const body = await next.text();
    expect(next.status === 400 || body.includes('1')).toBe(true);
    const again = await fetch(at, { signal: AbortSignal.timeout(5000) });
    expect(again.status).toBe(400);
  });
});
