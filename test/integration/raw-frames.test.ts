import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import {
  closeClients,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  startBroker,
  type TestClient,
  token,
} from '../helpers/broker.js';
import { closeRaw, type RawClient, rawConnect } from '../helpers/raw.js';

let b: RunningBroker;
let bystander: TestClient;
beforeAll(async () => {
  b = await startBroker();
});
afterEach(async () => {
  // Whatever one raw connection sent, everyone else is still served.
  const pub = await connect(b.url, token('pub'));
  const got = nextEvent<Envelope>(bystander, 'message');
  expect(await request(pub, 'publish', { room: 'watch', event: 'e', data: 'still here' })).toMatchObject({
    ok: true,
  });
  expect(await got).toMatchObject({ data: 'still here' });
  closeClients();
  closeRaw();
});
afterAll(() => b.close());

async function setup(): Promise<RawClient> {
  bystander = await connect(b.url, token('bystander'));
  await request(bystander, 'join', { room: 'watch' });
  const raw = await rawConnect(b.url, { token: token('raw') });
  expect(raw.frames.some((f) => f.startsWith('40{"sid"'))).toBe(true);
  return raw;
}

/** The raw connection still answers: a proper join gets its ack. */
async function answers(raw: RawClient, id = 900): Promise<void> {
  raw.send(`42${id}["join",{"room":"raw:ok"}]`);
  expect(await raw.ack(id)).toMatchObject({ ok: true, room: 'raw:ok' });
}

describe('frames the Socket.IO parser refuses close only their own connection', () => {
  it.each([
    ['no event name', '42[]'],
    ['a null event name', '42[null,{"room":"a"}]'],
    ['an object as event name', '42[{"a":1}]'],
    ['an array as event name', '421[["join"],{"room":"a"}]'],
    ['a reserved name', '42["disconnect"]'],
    ['a reserved name with ack', '421["connect",{}]'],
    ['not an array', '42{"room":"a"}'],
    ['broken JSON', '42["join",{'],
    ['an unknown packet type', '9["join"]'],
    ['an engine.io garbage type', 'x'],
    ['an empty frame', ''],
    ['a second CONNECT', '40{"token":"x"}'],
    ['an ACK for nothing', '43999[{}]'],
  ])('%s', async (_what, frame) => {
    const raw = await setup();
    raw.send(frame);
    // An ACK for an unknown id is ignored; everything else ends this connection only.
    if (frame.startsWith('43')) return answers(raw);
    await raw.closed;
  });

  it('binary data where no binary packet is announced', async () => {
    const raw = await setup();
    raw.send(Buffer.from([1, 2, 3]));
    await raw.closed;
  });

  it.each([
    ['past the safe integers', '421000000000000000000000["join",{"room":"a"}]'],
    ['of 400 digits', `42${'9'.repeat(400)}["join",{"room":"a"}]`],
  ])('an ack id %s (its ack could never be matched)', async (_what, frame) => {
    const raw = await setup();
    raw.send(frame);
    await raw.closed;
    expect(raw.frames.some((f) => f.startsWith('43'))).toBe(false);
  });

  it("a packet's binary attachments past the frame limit together, each frame within it", async () => {
    // Ten announced, and nine of 700 KB sent: the decoder kept them for the connection's lifetime.
    const raw = await setup();
    const placeholders = Array.from({ length: 10 }, (_, k) => `{"_placeholder":true,"num":${k}}`);
    raw.send(`4510-1["publish",{"room":"r","event":"e","data":[${placeholders.join(',')}]}]`);
    raw.send(Buffer.alloc(700_000));
    expect(raw.frames.some((f) => f.startsWith('43'))).toBe(false);
    raw.send(Buffer.alloc(700_000));
    await raw.closed;
  });

  it('a packet with binary attachments within the limit is read as before', async () => {
    const raw = await setup();
    raw.send('451-7["publish",{"room":"raw:bin","event":"e","data":{"_placeholder":true,"num":0}}]');
    raw.send(Buffer.alloc(60_000, 1));
    expect(await raw.ack(7)).toMatchObject({ ok: true, offset: 1 });
    await answers(raw);
  });
});

describe('frames that parse but are not events roomcast knows', () => {
  it('a numeric event name: ack with bad_request, dropped without ack', async () => {
    const raw = await setup();
    raw.send('42[1,{"room":"a"}]');
    raw.send('425[7,{"room":"a"}]');
    expect(await raw.ack(5)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    await answers(raw);
  });

  it.each(['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'error', 'newListener2'])(
    'the event name %s',
    async (name) => {
      const raw = await setup();
      raw.send(`42["${name}",{"room":"a"}]`);
      raw.send(`426["${name}",{"room":"a"}]`);
      expect(await raw.ack(6)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
      await answers(raw);
    },
  );

  it('known events with no payload, null, or extra arguments', async () => {
    const raw = await setup();
    raw.send('42["join"]');
    raw.send('42["publish",null]');
    raw.send('421["join"]');
    raw.send('422["join",null]');
    raw.send('423["publish","text"]');
    raw.send('424["presence",{"room":"raw:x"},"extra",3]');
    raw.send('425["join",{"__proto__":{"room":"raw:p"}}]');
    // The ack function is not taken for the payload.
    expect(await raw.ack(1)).toMatchObject({
      ok: false,
      error: { code: 'bad_request', message: expect.not.stringContaining('function') },
    });
    expect(await raw.ack(2)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await raw.ack(3)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await raw.ack(4)).toMatchObject({ ok: true, members: [] });
    expect(await raw.ack(5)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    await answers(raw);
  });

  it('a number JSON cannot carry (1e400 reads as Infinity): bad_request, nothing stored', async () => {
    const raw = await setup();
    raw.send('427["publish",{"room":"raw:inf","event":"e","data":{"n":[1,1e400]}}]');
    expect(await raw.ack(7)).toMatchObject({
      ok: false,
      error: { code: 'bad_request', message: expect.stringMatching(/Infinity or NaN/) },
    });
    raw.send('428["history",{"room":"raw:inf"}]');
    expect(await raw.ack(8)).toMatchObject({ ok: true, offset: 0, messages: [] });
    await answers(raw);
  });

  it('a small publish nested thousands deep: bad_request, nothing stored, the connection stays', async () => {
    const raw = await setup();
    for (const [id, depth] of [
      [7, 5_000],
      [8, 20_000],
    ] as const) {
      raw.send(
        `42${id}["publish",{"room":"raw:deep","event":"e","data":${'['.repeat(depth)}${']'.repeat(depth)}}]`,
      );
      expect(await raw.ack(id)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
    raw.send('429["history",{"room":"raw:deep"}]');
    expect(await raw.ack(9)).toMatchObject({ ok: true, offset: 0, messages: [] });
    await answers(raw);
  });

  it('events before the namespace is connected end that connection', async () => {
    bystander = await connect(b.url, token('bystander'));
    await request(bystander, 'join', { room: 'watch' });
    const raw = await rawConnect(b.url);
    raw.send('421["join",{"room":"a"}]');
    await raw.closed;
  });
});

describe('namespace handshakes', () => {
  it('refuses a bad auth payload with connect_error and an unknown namespace', async () => {
    bystander = await connect(b.url, token('bystander'));
    await request(bystander, 'join', { room: 'watch' });
    const raw = await rawConnect(b.url, { token: 5 });
    expect(raw.frames.at(-1)).toMatch(/^44\{"message":"token_invalid","data":\{"code":"token_invalid"/);
    const nobody = await rawConnect(b.url, { token: token('x') }, '/nope');
    expect(nobody.frames.at(-1)).toMatch(/^44\/nope,/);
    const proto = await rawConnect(b.url, JSON.parse('{"__proto__": {"token": "x"}}'));
    expect(proto.frames.at(-1)).toMatch(/^44\{"message":"token_missing"/);
  });

  it('closes a CONNECT whose auth is not an object', async () => {
    bystander = await connect(b.url, token('bystander'));
    await request(bystander, 'join', { room: 'watch' });
    const raw = await rawConnect(b.url);
    raw.send('40"token"');
    await raw.closed;
  });
});
