import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, ERROR_CODES } from '../../src/error-codes.js';
import { type RunningBroker, startBroker, testConfig } from '../helpers/broker.js';
import { api, rawHttp } from './http.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(testConfig({ api: { maxRoomsPerPublish: 3, maxBatchMessages: 2 } }));
});
afterAll(() => b.close());

describe('validation errors in roomcast words', () => {
  it.each<[string, string, string, unknown, string]>([
    [
      'a misspelt field',
      'POST',
      '/v1/publish',
      { room: 'r', event: 'e', data: 1, idempotency_key: 'k' },
      'idempotency_key: unknown field',
    ],
    ['no event', 'POST', '/v1/publish', { room: 'r', data: 1 }, 'event: required'],
    [
      'no data (null is a value; absent is not)',
      'POST',
      '/v1/publish',
      { room: 'r', event: 'e' },
      'data: required',
    ],
    [
      'a batch message without data',
      'POST',
      '/v1/batch',
      {
        messages: [
          { room: 'r', event: 'e', data: null },
          { room: 'r', event: 'e' },
        ],
      },
      'messages.1.data: required',
    ],
    [
      'an empty event',
      'POST',
      '/v1/publish',
      { room: 'r', event: '', data: null },
      'event: expected a string of 1-100 characters',
    ],
    [
      'neither room nor rooms',
      'POST',
      '/v1/publish',
      { event: 'e', data: null },
      'room: give exactly one of "room" and "rooms"',
    ],
    [
      'a number as room',
      'POST',
      '/v1/publish',
      { room: 5, event: 'e', data: null },
      'room: expected a room name (a string)',
    ],
    [
      'too many rooms',
      'POST',
      '/v1/publish',
      { rooms: ['a', 'b', 'c', 'd'], event: 'e', data: null },
      'rooms: expected a list of 1-3 room names',
    ],
    ['a list as body', 'POST', '/v1/publish', [], 'body: expected an object, got a list'],
    [
      'a bad message of a batch',
      'POST',
      '/v1/batch',
      {
        messages: [
          { room: 'r', event: 'e', data: null },
          { room: 'r', data: 2 },
        ],
      },
      'messages.1.event: required',
    ],
    [
      'an empty batch',
      'POST',
      '/v1/batch',
      { messages: [] },
      'messages: expected a list of 1-2 publish bodies',
    ],
    [
      'data with a lone surrogate',
      'POST',
      '/v1/publish',
      { room: 'r', event: 'e', data: { text: 'a\udfffb' } },
      'data holds a string that is not well-formed UTF-16 (a lone surrogate)',
    ],
    [
      'an event with a lone surrogate, in a batch',
      'POST',
      '/v1/batch',
      {
        messages: [
          { room: 'r', event: 'e', data: 1 },
          { room: 'r', event: 'e\ud800', data: 2 },
        ],
      },
      'messages.1: event is not well-formed UTF-16 (a lone surrogate)',
    ],
    [
      'a "__proto__" key in data',
      'POST',
      '/v1/publish',
      JSON.parse('{"room":"r","event":"e","data":{"__proto__":{"x":1}}}'),
      'the body is not valid JSON, or holds a "__proto__" key or a "constructor" with "prototype" (refused)',
    ],
    [
      'an idempotency key with a control character',
      'POST',
      '/v1/publish',
      { room: 'r', event: 'e', data: 1, idempotencyKey: 'a\nb' },
      'idempotencyKey: expected a string of 1-200 characters, with no control characters',
    ],
    ['no sub', 'POST', '/v1/disconnect', {}, 'sub: required'],
    ['an unknown disconnect field', 'POST', '/v1/disconnect', { sub: 'x', all: true }, 'all: unknown field'],
    [
      'a word as since',
      'GET',
      '/v1/rooms/r/history?since=abc&epoch=e',
      undefined,
      'since: expected a whole number >= 0',
    ],
    [
      'epoch without since',
      'GET',
      '/v1/rooms/r/history?epoch=e',
      undefined,
      'epoch: needs "since" (the offset it belongs to)',
    ],
    [
      'a negative limit',
      'GET',
      '/v1/rooms/r/history?limit=-1',
      undefined,
      'limit: expected a whole number >= 0',
    ],
    [
      'a repeated prefix',
      'GET',
      '/v1/rooms?prefix=a&prefix=b',
      undefined,
      'prefix: expected a string, got a list',
    ],
  ])('%s', async (_what, method, path, body, message) => {
    const res = await api(b.url, method, path, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ ok: false, error: { code: 'bad_request', message } });
  });

  it('refuses a number JSON cannot carry (1e400 reads as Infinity), in a publish and a batch', async () => {
    for (const [path, raw] of [
      ['/v1/publish', '{"room":"r:inf","event":"e","data":[1e400]}'],
      ['/v1/batch', '{"messages":[{"room":"r:inf","event":"e","data":{"x":-1e999}}]}'],
    ] as const) {
      const res = await api(b.url, 'POST', path, undefined, { raw });
      expect(res.status, path).toBe(400);
      expect(res.body.error).toMatchObject({
        code: 'bad_request',
        message: expect.stringMatching(/Infinity or NaN/),
      });
    }
    const history = await api(b.url, 'GET', '/v1/rooms/r%3Ainf/history');
    expect(history.body).toMatchObject({ ok: true, offset: 0, messages: [] });
  });

  it('refuses a body that is not sent as JSON for its Content-Type, whatever it holds', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const res = await api(b.url, 'POST', '/v1/publish', undefined, {
        raw: '{"room":"r:ct","event":"e","data":1}',
        headers: { 'content-type': type },
      });
      expect(res.status, type).toBe(400);
      expect(res.body.error, type).toEqual({
        code: 'bad_request',
        message: 'Content-Type must be application/json',
      });
    }
  });

  it('refuses a compressed body with the coding named, and publishes nothing of it', async () => {
    const json = '{"room":"r:enc","event":"e","data":1}';
    for (const [coding, raw] of [
      ['gzip', gzipSync(json)],
      // A plain body labelled with a coding is refused too: the label, not a guess, says what it is.
      ['br', json],
      ['gzip, identity', gzipSync(json)],
    ] as const) {
      const res = await api(b.url, 'POST', '/v1/publish', undefined, {
        raw,
        headers: { 'content-encoding': coding },
      });
      expect(res.status, coding).toBe(400);
      expect(res.body.error, coding).toEqual({
        code: 'bad_request',
        message: `Content-Encoding ${JSON.stringify(coding)} is not supported: send the body uncompressed`,
      });
    }
    const history = await api(b.url, 'GET', '/v1/rooms/r%3Aenc/history');
    expect(history.body.messages).toEqual([]);
    const plain = await api(b.url, 'POST', '/v1/publish', undefined, {
      raw: json,
      headers: { 'content-encoding': 'Identity' },
    });
    expect(plain.status).toBe(200);
  });

  it('SSE without a token names no Socket.IO field', async () => {
    const res = await api(b.url, 'GET', '/v1/events?room=a', undefined, { key: null });
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('token_missing');
    expect(res.body.error?.message).not.toMatch(/auth/);
  });
});

describe('requests the HTTP parser cannot read', () => {
  it.each([
    ['a garbled request line', 'GARBAGE\r\n\r\n', 400, 'the request is not valid HTTP'],
    [
      'a Content-Length that is not a number',
      'POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}',
      400,
      'the request is not valid HTTP',
    ],
    [
      'headers past the size limit',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'the request headers are larger than the limit',
    ],
  ])('%s: the error body, then the connection closes', async (_what, raw, status, message) => {
    const res = await rawHttp(b.url, raw);
    expect(res.status).toBe(status);
    expect(res.headers).toMatch(/content-type: application\/json/i);
    expect(JSON.parse(res.body)).toEqual({ ok: false, error: { code: 'bad_request', message } });
    // The broker serves the next request as usual.
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
  });
});

describe('the OpenAPI document, generated from the routes', () => {
  type Operation = {
    requestBody?: unknown;
    parameters?: Array<{ name: string; in: string }>;
    responses: Record<
      string,
      {
        description: string;
        content?: Record<string, { schema: { $ref?: string } }>;
        headers?: Record<string, { schema: unknown; description?: string }>;
      }
    >;
  };
  type Doc = {
    paths: Record<string, Record<string, Operation>>;
    components: { schemas: Record<string, unknown> };
  };

  it('shows every route with what it takes and every failure status of the catalogue', async () => {
    const doc = (await api<Doc>(b.url, 'GET', '/v1/openapi.json', undefined, { key: null }))
      .body as unknown as Doc;
    const statuses = [...new Set(Object.values(ERROR_CATALOGUE).map((c) => String(c.status)))];
    const routes = {
      '/v1/publish': 'post',
      '/v1/batch': 'post',
      '/v1/disconnect': 'post',
      '/v1/rooms': 'get',
      '/v1/rooms/{room}/presence': 'get',
      '/v1/rooms/{room}/history': 'get',
      '/v1/events': 'get',
    } as const;
    for (const [path, method] of Object.entries(routes)) {
      const op = doc.paths[path]?.[method];
      expect(op, path).toBeDefined();
      expect(Object.keys(op!.responses).sort(), path).toEqual(['200', ...statuses].sort());
      for (const status of statuses) {
        const codes = ERROR_CODES.filter((c) => String(ERROR_CATALOGUE[c].status) === status);
        expect(op!.responses[status]!.description).toBe(codes.join(', '));
        expect(op!.responses[status]!.content?.['application/json']?.schema.$ref).toBe(
          `#/components/schemas/Failure${status}`,
        );
      }
      expect(op!.responses['429']!.headers?.['retry-after']?.schema, path).toEqual({
        type: 'integer',
        minimum: 1,
      });
      if (method === 'post') expect(op!.requestBody, path).toBeDefined();
    }
    const params = (path: string) => doc.paths[path]!.get!.parameters!.map((p) => `${p.in}:${p.name}`).sort();
    expect(params('/v1/rooms/{room}/history')).toEqual([
      'path:room',
      'query:epoch',
      'query:limit',
      'query:namespace',
      'query:since',
    ]);
    expect(params('/v1/events')).toEqual(
      expect.arrayContaining(['query:room', 'query:token', 'header:last-event-id']),
    );
    // Only what the routes refer to.
    expect(Object.keys(doc.components.schemas).sort()).toEqual(
      ['Envelope', 'Member', 'PublishResult', 'RoomStat', ...statuses.map((s) => `Failure${s}`)].sort(),
    );
    // Nothing outside the API: the demo page and the SDK bundle are not in it.
    expect(Object.keys(doc.paths).filter((p) => !p.startsWith('/v1/'))).toEqual([
      '/healthz',
      '/readyz',
      '/metrics',
    ]);
  });
});
