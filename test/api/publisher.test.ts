import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import { createPublisher, RoomcastApiError } from '../../src/publisher/index.js';
import {
  API_KEY,
  closeClients,
  connect,
  connectError,
  nextEvent,
  type RunningBroker,
  request,
  startBroker,
  token,
} from '../helpers/broker.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker();
});
afterEach(() => closeClients());
afterAll(() => b.close());

const rc = () => createPublisher({ url: `${b.url}/`, apiKey: API_KEY });

async function failure(p: Promise<unknown>): Promise<RoomcastApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RoomcastApiError) return err;
    throw err;
  }
  throw new Error('the call succeeded');
}

describe('roomcast/publisher', () => {
  it('publishes, batches and reads presence, history and rooms', async () => {
    const socket = await connect(b.url, token('alice'));
    await request(socket, 'join', { room: 'pub:1' });
    const got = nextEvent<Envelope>(socket, 'message');
    const first = await rc().publish('pub:1', 'msg', { text: 'hi' });
    expect(first).toEqual({ room: 'pub:1', offset: 1, epoch: expect.any(String) });
    expect(await got).toMatchObject({ data: { text: 'hi' }, from: null });
    const many = await rc().publish(['pub:1', 'pub:2'], 'msg', 2, { idempotencyKey: 'k-1' });
    expect(many.map((r) => r.offset)).toEqual([2, 1]);
    expect(await rc().publish(['pub:1', 'pub:2'], 'msg', 2, { idempotencyKey: 'k-1' })).toEqual(many);
    const batch = await rc().batch([
      { room: 'pub:1', event: 'a' },
      { room: 'pub:1', event: 'b', data: 3 },
    ]);
    expect(batch.map((r) => r.offset)).toEqual([3, 4]);
    expect(await rc().presence('pub:1')).toEqual([{ sub: 'alice', info: { name: 'alice' }, connections: 1 }]);
    const history = await rc().history('pub:1', { since: { offset: 2, epoch: first.epoch }, limit: 1 });
    expect(history).toMatchObject({ offset: 4, recovered: true });
    expect(history.messages.map((m) => m.event)).toEqual(['a']);
    expect((await rc().rooms({ prefix: 'pub:' })).map((r) => r.room)).toEqual(['pub:1']);
    const closing = nextEvent(socket, 'closing');
    expect(await rc().disconnect('alice')).toBe(1);
    await closing;
  });

  it('fails with the contract code and the HTTP status', async () => {
    const wrongKey = await failure(createPublisher({ url: b.url, apiKey: 'nope' }).publish('r', 'e'));
    expect(wrongKey).toMatchObject({ code: 'unauthorized', status: 401, temporary: false });
    const badRoom = await failure(rc().publish('bad room', 'e'));
    expect(badRoom).toMatchObject({ code: 'invalid_room', status: 400 });
    const unknownNs = await failure(rc().presence('r', { namespace: '/none' }));
    expect(unknownNs).toMatchObject({ code: 'not_found', status: 404 });
  });

  it('reports no answer as unavailable: a closed port, and a server that never replies', async () => {
    const closed = await failure(createPublisher({ url: 'http://127.0.0.1:1', apiKey: 'k' }).rooms());
    expect(closed).toMatchObject({ code: 'unavailable', status: 0, temporary: true });
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const slow = createPublisher({ url: `http://127.0.0.1:${port}`, apiKey: 'k', timeoutMs: 200 });
      const timedOut = await failure(slow.rooms());
      expect(timedOut).toMatchObject({ code: 'unavailable', status: 0 });
      expect(timedOut.message).toMatch(/no answer within 200 ms/);
    } finally {
      silent.close();
    }
  });

  it('reports a reply cut off in its body, or whose body never comes, as unavailable', async () => {
    let mode: 'cut' | 'stall' = 'cut';
    const half = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"ok":true,');
      if (mode === 'cut') res.socket?.destroy();
    });
    await new Promise<void>((resolve) => half.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(half.address() as { port: number }).port}`;
    try {
      const client = createPublisher({ url, apiKey: 'k', timeoutMs: 300 });
      expect(await failure(client.rooms())).toMatchObject({
        code: 'unavailable',
        status: 0,
        temporary: true,
      });
      mode = 'stall';
      const stalled = await failure(client.rooms());
      expect(stalled).toMatchObject({ code: 'unavailable', status: 0, temporary: true });
      expect(stalled.message).toMatch(/no answer within 300 ms/);
    } finally {
      half.closeAllConnections();
      half.close();
    }
  });

  it("revokes with reconnect: false: the user's tokens from before are refused", async () => {
    const tok = token('revoked-user');
    const socket = await connect(b.url, tok);
    const closing = nextEvent(socket, 'closing');
    expect(await rc().disconnect('revoked-user', { reconnect: false })).toBe(1);
    await closing;
    expect((await connectError(b.url, tok)).message).toBe('token_revoked');
  });
});
