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
  token,
  until,
} from '../helpers/broker.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker();
});
afterEach(() => closeClients());
afterAll(() => b.close());

const TRANSPORTS: Array<[string, string[]]> = [
  ['websocket', ['websocket']],
  ['long-polling', ['polling']],
  ['polling upgraded to websocket', ['polling', 'websocket']],
];

describe.each(TRANSPORTS)('over %s', (name, transports) => {
  const room = `tr:${name.replace(/\W/g, '-')}`;

  it('joins, receives, publishes, and sees presence, against a websocket peer', async () => {
    const c = await connect(b.url, token('alice'), { transports });
    const peer = await connect(b.url, token('peer'));
    expect(await request(c, 'join', { room })).toMatchObject({ ok: true, room, offset: 0 });
    const joined = nextEvent<PresenceEvent>(c, 'presence');
    await request(peer, 'join', { room });
    expect(await joined).toMatchObject({ action: 'join', member: { sub: 'peer' } });
    const got = nextEvent<Envelope>(c, 'message');
    await request(peer, 'publish', { room, event: 'from-peer', data: { n: 1 } });
    expect(await got).toMatchObject({ event: 'from-peer', data: { n: 1 }, offset: 1 });
    const back = nextEvent<Envelope>(peer, 'message');
    expect(await request(c, 'publish', { room, event: 'from-me', data: 'x' })).toMatchObject({
      ok: true,
      offset: 2,
    });
    expect(await back).toMatchObject({ event: 'from-me', from: { sub: 'alice' } });
    const left = nextEvent<PresenceEvent>(peer, 'presence');
    c.disconnect();
    expect(await left).toMatchObject({ action: 'leave', member: { sub: 'alice' } });
  });

  it('answers history, presence, refresh and errors', async () => {
    const c = await connect(b.url, token('bob'), { transports });
    await request(c, 'publish', { room: `${room}:h`, event: 'e', data: 1 });
    expect(await request(c, 'history', { room: `${room}:h` })).toMatchObject({ ok: true, offset: 1 });
    expect(await request(c, 'presence', { room: `${room}:h` })).toEqual({ ok: true, members: [] });
    expect(await request(c, 'refresh', { token: token('bob') })).toMatchObject({ ok: true });
    expect(await request(c, 'join', { room: 'bad room' })).toMatchObject({
      ok: false,
      error: { code: 'invalid_room' },
    });
    expect(await request(c, 'nope', {})).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });

  it('carries binary data', async () => {
    const c = await connect(b.url, token('carol'), { transports });
    await request(c, 'join', { room: `${room}:bin` });
    const got = collect<Envelope>(c, 'message');
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    expect(
      await request(c, 'publish', { room: `${room}:bin`, event: 'bin', data: { bytes }, echo: true }),
    ).toMatchObject({
      ok: true,
    });
    await until(() => got.length === 1, 5000, 'binary message');
    const data = got[0]!.data as { bytes: ArrayBuffer | Buffer };
    expect(Buffer.from(data.bytes as ArrayBuffer)).toEqual(bytes);
    const history = await request<{ messages: Envelope[] }>(c, 'history', { room: `${room}:bin` });
    const stored = history.messages![0]!.data as { bytes: ArrayBuffer };
    expect(Buffer.from(stored.bytes)).toEqual(bytes);
  });
});
