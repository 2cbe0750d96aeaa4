import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ClientError, connectErrorCode, isTokenCode } from '../../src/client/errors.js';
import { CLOSING_CODES, ERROR_CATALOGUE, ERROR_CODES, type ErrorCode } from '../../src/error-codes.js';
import {
  asRoomcastError,
  connectError,
  connectErrorOf,
  httpStatus,
  invalidInput,
  parseInput,
  RoomcastError,
  toFailure,
} from '../../src/errors.js';
import { RoomcastApiError } from '../../src/publisher/index.js';

describe('errors', () => {
  it('maps a RoomcastError to an ack with its code and message', () => {
    expect(toFailure(new RoomcastError('forbidden', 'no publish right'))).toEqual({
      ok: false,
      error: { code: 'forbidden', message: 'no publish right' },
    });
  });

  it('reports anything else as internal, without its details', () => {
    for (const thrown of [
      new Error('secret detail at /srv/app.js'),
      'a string',
      null,
      { code: 'forbidden' },
    ]) {
      expect(toFailure(thrown)).toEqual({
        ok: false,
        error: { code: 'internal', message: 'internal error' },
      });
    }
  });

  it('marks unavailable and rate_limited as temporary, and keeps retryAfter', () => {
    expect(new RoomcastError('unavailable', 'x').temporary).toBe(true);
    expect(new RoomcastError('rate_limited', 'x', { retryAfter: 2 })).toMatchObject({
      temporary: true,
      retryAfter: 2,
    });
    expect(new RoomcastError('bad_request', 'x').temporary).toBe(false);
    const same = new RoomcastError('not_joined', 'x');
    expect(asRoomcastError(same)).toBe(same);
  });

  it('gives every code an HTTP status', () => {
    for (const code of ERROR_CODES) expect(httpStatus(code), code).toBeGreaterThanOrEqual(400);
    expect(httpStatus('payload_too_large')).toBe(413);
    expect(httpStatus('rate_limited')).toBe(429);
    expect(httpStatus('unavailable')).toBe(503);
    expect(httpStatus('forbidden')).toBe(403);
    expect(httpStatus('internal')).toBe(500);
  });
});

describe('the error catalogue', () => {
  it('holds the 0.2 codes', () => {
    expect(ERROR_CATALOGUE.too_many_connections).toMatchObject({
      status: 429,
      temporary: true,
      connectError: true,
    });
    expect(ERROR_CATALOGUE.token_revoked).toMatchObject({
      status: 401,
      temporary: false,
      connectError: true,
    });
    expect(Object.keys(CLOSING_CODES)).toEqual([
      'token_expired',
      'disconnected',
      'shutting_down',
      'slow_consumer',
    ]);
  });

  it('is what the broker, the SDK and the publisher say about every code', () => {
    for (const code of ERROR_CODES) {
      const { status, temporary } = ERROR_CATALOGUE[code];
      expect(httpStatus(code), code).toBe(status);
      expect(new RoomcastError(code, 'x').temporary, code).toBe(temporary);
      expect(new ClientError(code, 'x').temporary, code).toBe(temporary);
      expect(new RoomcastApiError(code, 'x', status).temporary, code).toBe(temporary);
    }
    // The SDK's own outcomes keep their own flag; a code it does not know is not temporary.
    expect(new ClientError('timeout', 'x').temporary).toBe(true);
    expect(new ClientError('closed', 'x').temporary).toBe(false);
    expect(new ClientError('from_a_newer_broker' as ErrorCode, 'x').temporary).toBe(false);
  });

  it('lets only its connect-error codes through as connect_error', () => {
    const allowed = ERROR_CODES.filter((code) => ERROR_CATALOGUE[code].connectError);
    expect(allowed.sort()).toEqual(
      [
        'internal',
        'token_expired',
        'token_invalid',
        'token_missing',
        'token_revoked',
        'too_many_connections',
        'unavailable',
      ].sort(),
    );
    for (const code of ERROR_CODES) {
      const err = connectErrorOf(new RoomcastError(code, 'why'));
      const expected = ERROR_CATALOGUE[code].connectError ? code : 'internal';
      expect(err.message, code).toBe(expected);
      expect(err.data.code, code).toBe(expected);
      // The SDK reads back exactly the codes the catalogue allows.
      expect(connectErrorCode(err), code).toBe(expected);
    }
    expect(connectErrorOf(new Error('secret')).data).toEqual({ code: 'internal', message: 'internal error' });
    expect(connectError('too_many_connections', 'at most 10').data.message).toBe('at most 10');
    expect(connectErrorCode({ data: { code: 'toString' } })).toBeUndefined();
    expect(isTokenCode('token_revoked')).toBe(true);
    expect(isTokenCode('too_many_connections')).toBe(false);
  });
});

describe('docs/api.md', () => {
  const doc = readFileSync(resolve(import.meta.dirname, '../../docs/api.md'), 'utf8');
  const section = doc.slice(doc.indexOf('\n## Errors'), doc.indexOf('\n## ', doc.indexOf('\n## Errors') + 1));
  const rows = (first: string) => {
    const table = section.slice(section.indexOf(`| ${first}`));
    const lines = table.split('\n');
    const end = lines.findIndex((line) => !line.startsWith('|'));
    return lines
      .slice(2, end)
      .map((line) => line.split('|').map((cell) => cell.trim()))
      .map(([, ...cells]) => cells);
  };

  it('lists every code of the catalogue with its status, temporary flag and connect_error, and no other', () => {
    const documented = Object.fromEntries(
      rows('code').map(([code, status, temporary, connect]) => [
        code!.replace(/`/g, ''),
        { status: Number(status), temporary: temporary === 'yes', connectError: connect === 'yes' },
      ]),
    );
    const catalogue = Object.fromEntries(
      ERROR_CODES.map((code) => {
        const { status, temporary, connectError } = ERROR_CATALOGUE[code];
        return [code, { status, temporary, connectError }];
      }),
    );
    expect(documented).toEqual(catalogue);
  });

  it('lists every closing code, and no other', () => {
    const documented = rows('closing code').map(([code]) => code!.replace(/`/g, ''));
    expect(documented.sort()).toEqual(Object.keys(CLOSING_CODES).sort());
  });
});

describe('invalid input in roomcast words', () => {
  const schema = z.strictObject({
    room: z.string(),
    limit: z.number().int().min(0).max(10).optional(),
    tags: z.array(z.string()).max(2).optional(),
    nested: z.strictObject({ on: z.boolean() }).optional(),
  });
  const message = (value: unknown, prefixed = true) => {
    try {
      parseInput(schema, value, { root: 'ev', prefixed });
    } catch (err) {
      return (err as RoomcastError).message;
    }
    return 'parsed';
  };

  it('names the field and what was expected', () => {
    expect(message({})).toBe('ev.room: required');
    expect(message({}, false)).toBe('room: required');
    expect(message(null, false)).toBe('ev: expected an object, got null');
    expect(message({ room: 1 })).toBe('ev.room: expected a string, got a whole number');
    expect(message({ room: 'r', limit: 1.5 })).toBe('ev.limit: expected a whole number, got a number');
    expect(message({ room: 'r', limit: 11 })).toBe('ev.limit: expected a number <= 10');
    expect(message({ room: 'r', tags: ['a', 'b', 'c'] })).toBe('ev.tags: expected at most 2 items');
    expect(message({ room: 'r', nested: { on: 'yes' } })).toBe(
      'ev.nested.on: expected true or false, got a string',
    );
    expect(message({ room: 'r', nested: { on: true, off: 1 } })).toBe('ev.nested.off: unknown field');
    expect(message({ room: 'r', a: 1, b: 2 })).toBe('ev.a: unknown field (and "b")');
    expect(message({ room: 'r' })).toBe('parsed');
  });

  it('names binary data where fields are, without walking it; names a few unknown fields and counts the rest', () => {
    expect(message(Buffer.alloc(1_000_000))).toBe('ev: expected an object, got binary data');
    expect(message(new Uint8Array(10), false)).toBe('ev: expected an object, got binary data');
    expect(message({ room: 'r', nested: Buffer.alloc(100) })).toBe(
      'ev.nested: expected a value, got binary data',
    );
    expect(message({ room: 'r', nested: { on: new ArrayBuffer(8) } })).toBe(
      'ev.nested.on: expected a value, got binary data',
    );
    const many = Object.fromEntries(Array.from({ length: 90_000 }, (_, i) => [`k${i}`, i]));
    expect(message({ room: 'r', ...many })).toBe('ev.k0: unknown field (and "k1", "k2", "k3", 89996 more)');
    const long = 'x'.repeat(100_000);
    expect(message({ room: 'r', [long]: 1 })).toBe(`ev.${'x'.repeat(63)}…: unknown field`);
  });

  it('reports at most three fields, and never the validation library wording', () => {
    const text = message({ room: 1, limit: 'x', tags: 'y', nested: 0 });
    expect(text.split('; ')).toHaveLength(3);
    expect(text).not.toMatch(/Invalid|received|Too (small|big)/);
    expect(invalidInput([], { root: 'body', prefixed: false }).message).toBe('body: is not valid');
  });
});
