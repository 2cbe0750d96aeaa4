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

let b: RunningBroker;
let c: TestClient;
beforeAll(async () => {
  b = await startBroker();
});
afterEach(async () => {
  // After every bad input, the broker still serves: this connection and a new one.
  expect(c.connected).toBe(true);
  expect(await request(c, 'join', { room: 'sane' })).toMatchObject({ ok: true });
  const fresh = await connect(b.url, token('fresh'));
  expect(await request(fresh, 'history', { room: 'sane' })).toMatchObject({ ok: true });
  closeClients();
});
afterAll(() => b.close());

const fresh = async () => {
  c = await connect(b.url, token('alice'));
  return c;
};
const code = async (event: string, ...args: unknown[]) => {
  const reply = await request(c, event, ...args);
  expect(reply.ok, JSON.stringify(reply)).toBe(false);
  return reply.error?.code;
};

const NOT_OBJECTS: Array<[string, unknown]> = [
  ['null', null],
  ['a number', 42],
  ['a string', 'chat:1'],
  ['an array', [{ room: 'chat:1' }]],
  ['true', true],
  ['an empty object', {}],
];
const EVENTS = ['join', 'leave', 'publish', 'presence', 'history', 'refresh'];

describe('payloads that are not the right shape', () => {
  it.each(EVENTS)('%s: every non-object payload is bad_request', async (event) => {
    await fresh();
    for (const [what, payload] of NOT_OBJECTS) expect(await code(event, payload), what).toBe('bad_request');
  });

  it.each(EVENTS)('%s: an ack with no payload is bad_request', async (event) => {
    await fresh();
    expect(await code(event)).toBe('bad_request');
  });

  it.each(EVENTS)('%s: no payload and no ack is dropped', async (event) => {
    await fresh();
    (c.emit as (e: string) => void)(event);
    (c.emit as (e: string, p: unknown) => void)(event, null);
  });
});

describe('fields of the wrong type', () => {
  const ROOMS: Array<[string, unknown]> = [
    ['a number', 1],
    ['null', null],
    ['an array', ['chat:1']],
    ['an object', { toString: 'chat:1' }],
    ['a boolean', false],
  ];

  it.each(['join', 'leave', 'presence', 'history'])(
    '%s: room of every wrong type is bad_request',
    async (event) => {
      await fresh();
      for (const [what, room] of ROOMS) expect(await code(event, { room }), what).toBe('bad_request');
    },
  );

  it('publish: event and echo of the wrong type, and a missing event', async () => {
    await fresh();
    const base = { room: 'chat:1', event: 'e', data: 1 };
    for (const room of [1, null, ['x']]) expect(await code('publish', { ...base, room })).toBe('bad_request');
    for (const event of [1, null, '', 'e'.repeat(101), { a: 1 }, ['e']]) {
      expect(await code('publish', { ...base, event }), String(event)).toBe('bad_request');
    }
    expect(await code('publish', { room: 'chat:1', data: 1 })).toBe('bad_request');
    for (const echo of ['yes', 1, null]) expect(await code('publish', { ...base, echo })).toBe('bad_request');
  });

  it('publish: strings that are not well-formed UTF-16, which no UTF-8 store keeps', async () => {
    await fresh();
    const base = { room: 'chat:1', event: 'e', data: 1 };
    for (const bad of [
      { data: 'x\ud800' },
      { data: { list: ['\udc00'] } },
      { data: { 'k\ud800': 1 } },
      { event: 'e\udfff' },
    ]) {
      const reply = await request(c, 'publish', { ...base, ...bad });
      expect(reply.error, JSON.stringify(bad)).toMatchObject({
        code: 'bad_request',
        message: expect.stringContaining('UTF-16'),
      });
    }
    expect(await request(c, 'publish', { ...base, data: 'pair 😀' })).toMatchObject({ ok: true });
  });

  it("publish: event names in roomcast's own space (SSE streams send roomcast:gap and roomcast:closing)", async () => {
    await fresh();
    for (const event of ['roomcast:closing', 'roomcast:gap', 'roomcast:x']) {
      expect(await request(c, 'publish', { room: 'chat:1', event, data: 1 })).toEqual({
        ok: false,
        error: { code: 'bad_request', message: 'event names starting with "roomcast:" are reserved' },
      });
    }
    expect(await request(c, 'publish', { room: 'chat:1', event: 'roomcast', data: 1 })).toMatchObject({
      ok: true,
    });
  });

  it('publish: event names Socket.IO reserves are plain names here (messages go out as `message`)', async () => {
    await fresh();
    // Refused only in a namespace that serves Laravel Echo (test/echo/echo-http-limits.test.ts).
    const reserved = [
      'connect',
      'connect_error',
      'disconnect',
      'disconnecting',
      'newListener',
      'removeListener',
    ];
    for (const event of reserved) {
      expect(await request(c, 'publish', { room: 'chat:1', event, data: 1 }), event).toMatchObject({
        ok: true,
      });
    }
  });

  it('publish: data holding a Socket.IO binary placeholder look-alike', async () => {
    await fresh();
    const data = { file: { _placeholder: true, num: 0 } };
    expect(await code('publish', { room: 'chat:1', event: 'e', data })).toBe('bad_request');
  });

  it('binary data where an object is expected: a short bad_request, and the connection stays', async () => {
    await fresh();
    for (const event of ['join', 'history', 'refresh', 'publish', 'leave', 'presence']) {
      const reply = await request(c, event, Buffer.alloc(200_000, 1));
      expect(reply, event).toEqual({
        ok: false,
        error: { code: 'bad_request', message: `${event}: expected an object, got binary data` },
      });
    }
    const since = await request(c, 'join', { room: 'chat:1', since: new Uint8Array(100_000) });
    expect(since.error).toEqual({
      code: 'bad_request',
      message: 'join.since: expected a value, got binary data',
    });
    expect(c.connected).toBe(true);
    expect(await request(c, 'join', { room: 'chat:1' })).toMatchObject({ ok: true });
  });

  it('join and history: since and limit of the wrong type', async () => {
    await fresh();
    const sinces = [
      'x',
      5,
      null,
      [],
      {},
      { offset: '1', epoch: 'e' },
      { offset: -1, epoch: 'e' },
      { offset: 1.5, epoch: 'e' },
      { offset: 1, epoch: '' },
      { offset: 1, epoch: 7 },
      { offset: 1 },
      { epoch: 'e' },
      { offset: Number.MAX_SAFE_INTEGER + 2, epoch: 'e' },
    ];
    for (const since of sinces) {
      expect(await code('join', { room: 'chat:s', since }), JSON.stringify(since)).toBe('bad_request');
      expect(await code('history', { room: 'chat:s', since }), JSON.stringify(since)).toBe('bad_request');
    }
    for (const limit of [-1, 1.5, '10', null, 2_000_000, [], {}]) {
      expect(await code('history', { room: 'chat:s', limit }), JSON.stringify(limit)).toBe('bad_request');
    }
  });

  it('refresh: token of the wrong type', async () => {
    await fresh();
    for (const tok of [1, null, '', ['a'], { token: 'x' }, 'x'.repeat(17_000)]) {
      expect(await code('refresh', { token: tok })).toBe('bad_request');
    }
  });
});

describe('unknown fields', () => {
  const VALID: Record<string, Record<string, unknown>> = {
    join: { room: 'chat:x' },
    leave: { room: 'chat:x' },
    publish: { room: 'chat:x', event: 'e', data: 1 },
    presence: { room: 'chat:x' },
    history: { room: 'chat:x' },
    refresh: { token: 'x' },
  };

  it.each(EVENTS)('%s: an unknown field is bad_request naming it', async (event) => {
    await fresh();
    const reply = await request(c, event, { ...VALID[event], extra: 1 });
    expect(reply).toEqual({
      ok: false,
      error: { code: 'bad_request', message: `${event}.extra: unknown field` },
    });
  });

  it('names an unknown field of since, and a typo of a known one', async () => {
    await fresh();
    const since = await request(c, 'join', { room: 'chat:x', since: { offset: 0, epoch: 'e', ofset: 1 } });
    expect(since.error).toEqual({ code: 'bad_request', message: 'join.since.ofset: unknown field' });
    const typo = await request(c, 'publish', { room: 'chat:x', event: 'e', data: 1, idempotency_key: 'k' });
    expect(typo.error?.message).toBe('publish.idempotency_key: unknown field');
    const two = await request(c, 'join', { room: 'chat:x', extra: 1, rooms: ['*'] });
    expect(two.error?.message).toBe('join.extra: unknown field (and "rooms")');
  });
});

describe('messages in roomcast words', () => {
  it.each<[string, string, unknown, string]>([
    ['a publish without data', 'publish', { room: 'r', event: 'e' }, 'publish.data: required'],
    ['a publish without event', 'publish', { room: 'r', data: 1 }, 'publish.event: required'],
    [
      'an empty event',
      'publish',
      { room: 'r', event: '', data: 1 },
      'publish.event: expected a string of 1-100 characters',
    ],
    ['a number as room', 'join', { room: 1 }, 'join.room: expected a room name (a string)'],
    ['no room', 'presence', {}, 'presence.room: required'],
    [
      'a negative offset',
      'join',
      { room: 'r', since: { offset: -1, epoch: 'e' } },
      'join.since.offset: expected a whole number >= 0',
    ],
    [
      'an offset past every whole number (two checks fail, said once)',
      'join',
      { room: 'r', since: { offset: 1e300, epoch: 'e' } },
      'join.since.offset: expected a whole number >= 0',
    ],
    [
      'a fraction as limit',
      'history',
      { room: 'r', limit: 1.5 },
      'history.limit: expected a whole number from 0 to 1000000',
    ],
    [
      'a string as echo',
      'publish',
      { room: 'r', event: 'e', data: 1, echo: 'yes' },
      'publish.echo: expected true or false',
    ],
    [
      'an empty idempotency key',
      'publish',
      { room: 'r', event: 'e', data: 1, idempotencyKey: '' },
      'publish.idempotencyKey: expected a string of 1-128 characters, with no control characters',
    ],
    [
      'a key of 129 characters',
      'publish',
      { room: 'r', event: 'e', data: 1, idempotencyKey: 'k'.repeat(129) },
      'publish.idempotencyKey: expected a string of 1-128 characters, with no control characters',
    ],
    [
      'a key with a control character (roomcast keeps its own keys there)',
      'publish',
      { room: 'r', event: 'e', data: 1, idempotencyKey: '\u0000laravel:x:1' },
      'publish.idempotencyKey: expected a string of 1-128 characters, with no control characters',
    ],
    [
      'a key with a lone surrogate (Redis would make it another key)',
      'publish',
      { room: 'r', event: 'e', data: 1, idempotencyKey: 'k\ud800' },
      'publish.idempotencyKey: is not well-formed UTF-16 (a lone surrogate)',
    ],
    ['null', 'leave', null, 'leave: expected an object, got null'],
    ['a list', 'refresh', ['t'], 'refresh: expected an object, got a list'],
  ])('%s', async (_what, event, payload, message) => {
    await fresh();
    const reply = await request(c, event, payload);
    expect(reply).toEqual({ ok: false, error: { code: 'bad_request', message } });
  });

  it('never shows the validation library wording, whatever the payload', async () => {
    await fresh();
    const payloads = [
      null,
      1,
      'x',
      [],
      {},
      { room: 1, event: 2, data: undefined, since: 'x', limit: 'y', echo: 0 },
    ];
    for (const event of EVENTS) {
      for (const payload of payloads) {
        const reply = await request(c, event, payload);
        expect(reply.error?.message, `${event} ${JSON.stringify(payload)}`).toMatch(
          new RegExp(`^${event}[.:]`),
        );
        expect(reply.error?.message).not.toMatch(/Invalid input|received|nonoptional|Too (small|big)/);
      }
    }
  });
});

describe('unknown events', () => {
  it('get bad_request with an ack, and are dropped without one', async () => {
    await fresh();
    for (const event of ['nope', 'JOIN', 'message', 'closing', 'token_expiring', 'connection', 'error']) {
      expect(await code(event, { room: 'chat:1' }), event).toBe('bad_request');
    }
    (c.emit as (e: string, p: unknown) => void)('nope', { room: 'chat:1' });
    (c.emit as (e: string) => void)('also-nope');
    (c.emit as (e: string, p: unknown) => void)('error', new Error('client-sent error'));
  });

  it('named like prototype members are unknown events', async () => {
    await fresh();
    for (const event of [
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'valueOf',
      '__defineGetter__',
    ]) {
      expect(await code(event, {}), event).toBe('bad_request');
      (c.emit as (e: string, p: unknown) => void)(event, {});
    }
  });
});

describe('prototype keys', () => {
  it('in payloads pollute nothing and are not fields', async () => {
    await fresh();
    const evil = JSON.parse('{"__proto__": {"room": "chat:1", "polluted": true}}');
    expect(await code('join', evil)).toBe('bad_request');
    const withCtor = JSON.parse('{"room": "chat:ctor", "constructor": {"prototype": {"polluted": true}}}');
    expect(await request(c, 'join', withCtor)).toMatchObject({
      ok: false,
      error: { code: 'bad_request', message: 'join.constructor: unknown field' },
    });
    const since = JSON.parse('{"room": "chat:ctor", "since": {"__proto__": {"offset": 0, "epoch": "e"}}}');
    expect(await code('join', since)).toBe('bad_request');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).room).toBeUndefined();
  });

  it('in published data: "__proto__" is refused (not every reader keeps it), others are data', async () => {
    await fresh();
    await request(c, 'join', { room: 'chat:proto' });
    for (const json of ['{"__proto__": {"polluted": true}}', '{"list": [{"deep": {"__proto__": 1}}]}']) {
      const refused = await request(c, 'publish', { room: 'chat:proto', event: 'e', data: JSON.parse(json) });
      expect(refused.error, json).toMatchObject({
        code: 'bad_request',
        message: expect.stringContaining('"__proto__"'),
      });
    }
    const got = nextEvent<Envelope>(c, 'message');
    const data = JSON.parse('{"constructor": {"prototype": {"polluted": true}}, "toString": 1}');
    expect(
      await request(c, 'publish', { room: 'chat:proto', event: '__proto__', data, echo: true }),
    ).toMatchObject({ ok: true });
    const env = await got;
    expect(env.event).toBe('__proto__');
    expect(env.data).toEqual({ constructor: { prototype: { polluted: true } }, toString: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('as room names are plain rooms', async () => {
    await fresh();
    for (const room of ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString']) {
      expect(await request(c, 'join', { room }), room).toMatchObject({ ok: true, room, offset: 0 });
      expect(await request(c, 'publish', { room, event: 'e', data: room })).toMatchObject({
        ok: true,
        offset: 1,
      });
      const members = await request<{ members: Array<{ sub: string }> }>(c, 'presence', { room });
      expect(members.members?.map((m) => m.sub)).toEqual(['alice']);
      expect(await request(c, 'history', { room })).toMatchObject({ ok: true, offset: 1 });
      expect(await request(c, 'leave', { room })).toEqual({ ok: true });
    }
  });

  it('as a sub are a plain user', async () => {
    c = await connect(b.url, token('__proto__'));
    expect(await request(c, 'join', { room: 'chat:sub' })).toMatchObject({ ok: true });
    const members = await request<{ members: Array<{ sub: string }> }>(c, 'presence', { room: 'chat:sub' });
    expect(members.members).toEqual([{ sub: '__proto__', info: { name: '__proto__' }, connections: 1 }]);
  });
});
