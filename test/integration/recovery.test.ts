import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import {
  closeClients,
  connect,
  type RunningBroker,
  request,
  startBroker,
  type TestClient,
  testConfig,
  token,
} from '../helpers/broker.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(
    testConfig({
      namespaces: {
        '/': {
          limits: { historyLimit: 4 },
          history: [
            { pattern: 'small:*', size: 3, ttlMs: 0 },
            { pattern: '*', size: 100, ttlMs: 0 },
          ],
        },
      },
    }),
  );
});
afterEach(() => closeClients());
afterAll(() => b.close());

type Position = { offset: number; epoch: string };
type JoinAck = Position & { room: string; recovered: boolean; messages: Envelope[] };

async function publishN(c: TestClient, room: string, n: number): Promise<Position> {
  let last: Position = { offset: 0, epoch: '' };
  for (let i = 0; i < n; i++) {
    const ack = await request<Position>(c, 'publish', { room, event: 'e', data: `m${i}` });
    expect(ack.ok).toBe(true);
    last = { offset: ack.offset!, epoch: ack.epoch! };
  }
  return last;
}

const offsets = (r: Record<string, unknown>) =>
  ((r.messages as Envelope[] | undefined) ?? []).map((m) => m.offset);

describe('join with since', () => {
  it('takes the position a history read of a room with no state gave, and answers what came after it', async () => {
    const c = await connect(b.url, token('alice'));
    const pub = await connect(b.url, token('pub'));
    const read = await request<Position & { messages: Envelope[] }>(c, 'history', { room: 'r:fresh' });
    expect(read).toMatchObject({ ok: true, offset: 0, epoch: '', messages: [] });
    const since = { offset: read.offset!, epoch: read.epoch! };
    const last = await publishN(pub, 'r:fresh', 2);
    const history = await request<JoinAck>(c, 'history', { room: 'r:fresh', since });
    expect(history).toMatchObject({ ok: true, offset: 2, epoch: last.epoch, recovered: true });
    expect(offsets(history)).toEqual([1, 2]);
    const reply = await request<JoinAck>(c, 'join', { room: 'r:fresh', since });
    expect(reply).toMatchObject({ ok: true, room: 'r:fresh', recovered: true, offset: 2, epoch: last.epoch });
    expect(offsets(reply)).toEqual([1, 2]);
    // An empty epoch names no stream: only offset 0 goes with it.
    for (const event of ['join', 'history']) {
      const bad = await request(c, event, { room: 'r:fresh', since: { offset: 1, epoch: '' } });
      expect(bad).toEqual({
        ok: false,
        error: {
          code: 'bad_request',
          message: `${event}.since.epoch: an empty epoch (a room that had no state) goes with offset 0`,
        },
      });
    }
  });

  it('recovers every missed message in order', async () => {
    const c = await connect(b.url, token('alice'));
    const pub = await connect(b.url, token('pub'));
    const at = await publishN(pub, 'r:1', 2);
    await publishN(pub, 'r:1', 3);
    const reply = await request<JoinAck>(c, 'join', { room: 'r:1', since: at });
    expect(reply).toMatchObject({ ok: true, room: 'r:1', recovered: true, offset: 5, epoch: at.epoch });
    expect(offsets(reply)).toEqual([3, 4, 5]);
    expect(reply.messages?.[0]).toMatchObject({ room: 'r:1', event: 'e', data: 'm0', from: { sub: 'pub' } });
  });

  it('is recovered with nothing new when since is the head', async () => {
    const c = await connect(b.url, token('alice'));
    const at = await publishN(c, 'r:2', 2);
    expect(await request(c, 'join', { room: 'r:2', since: at })).toMatchObject({
      ok: true,
      recovered: true,
      messages: [],
      offset: 2,
    });
  });

  it('is not recovered when history no longer reaches back, and gives what is left', async () => {
    const c = await connect(b.url, token('alice'));
    const at = await publishN(c, 'small:1', 1);
    await publishN(c, 'small:1', 5);
    const reply = await request<JoinAck>(c, 'join', { room: 'small:1', since: at });
    expect(reply).toMatchObject({ ok: true, recovered: false, offset: 6 });
    expect(offsets(reply)).toEqual([4, 5, 6]);
  });

  it('is not recovered for another epoch, or an offset beyond the head', async () => {
    const c = await connect(b.url, token('alice'));
    const at = await publishN(c, 'r:3', 3);
    const wrongEpoch = await request<JoinAck>(c, 'join', {
      room: 'r:3',
      since: { offset: 1, epoch: 'stale' },
    });
    expect(wrongEpoch).toMatchObject({
      ok: true,
      recovered: false,
      messages: [],
      offset: 3,
      epoch: at.epoch,
    });
    const beyond = await request<JoinAck>(c, 'join', { room: 'r:3', since: { offset: 99, epoch: at.epoch } });
    expect(beyond).toMatchObject({ ok: true, recovered: false, messages: [], offset: 3 });
  });

  it('returns at most historyLimit messages and then says not recovered', async () => {
    const c = await connect(b.url, token('alice'));
    const at = await publishN(c, 'r:4', 1);
    await publishN(c, 'r:4', 6);
    const exact = await request<JoinAck>(c, 'join', { room: 'r:4', since: { ...at, offset: 3 } });
    expect(exact).toMatchObject({ ok: true, recovered: true, offset: 7 });
    expect(offsets(exact)).toEqual([4, 5, 6, 7]);
    await request(c, 'leave', { room: 'r:4' });
    const reply = await request<JoinAck>(c, 'join', { room: 'r:4', since: at });
    expect(reply.ok).toBe(true);
    // The client cannot have all six: it gets the latest four (no gap before live ones) and is told.
    expect(offsets(reply)).toEqual([4, 5, 6, 7]);
    expect(reply.recovered).toBe(false);
  });

  it('without since is never recovered and carries no messages', async () => {
    const c = await connect(b.url, token('alice'));
    await publishN(c, 'r:5', 2);
    expect(await request(c, 'join', { room: 'r:5' })).toMatchObject({
      ok: true,
      recovered: false,
      messages: [],
      offset: 2,
    });
  });
});

describe('history with since and limit', () => {
  it('pages forward from since', async () => {
    const c = await connect(b.url, token('alice'));
    const at = await publishN(c, 'h:1', 1);
    await publishN(c, 'h:1', 3);
    const page = await request(c, 'history', { room: 'h:1', since: at, limit: 2 });
    expect(page).toMatchObject({ ok: true, offset: 4, epoch: at.epoch });
    expect(offsets(page)).toEqual([2, 3]);
  });

  it('caps limit at historyLimit, latest first window', async () => {
    const c = await connect(b.url, token('alice'));
    await publishN(c, 'h:2', 6);
    expect(offsets(await request(c, 'history', { room: 'h:2', limit: 100 }))).toEqual([3, 4, 5, 6]);
    expect(offsets(await request(c, 'history', { room: 'h:2' }))).toEqual([3, 4, 5, 6]);
  });

  it('gives nothing for another epoch', async () => {
    const c = await connect(b.url, token('alice'));
    await publishN(c, 'h:3', 2);
    expect(await request(c, 'history', { room: 'h:3', since: { offset: 0, epoch: 'x' } })).toMatchObject({
      ok: true,
      messages: [],
      offset: 2,
    });
  });

  it('answers for a room that never had a message', async () => {
    const c = await connect(b.url, token('alice'));
    expect(await request(c, 'history', { room: 'h:never' })).toEqual({
      ok: true,
      messages: [],
      offset: 0,
      epoch: expect.any(String),
      recovered: true,
    });
  });
});
