import { describe, expect, it } from 'vitest';
import { asRoomcastError, httpStatus, RoomcastError, toFailure } from '../../src/errors.js';
import { ERROR_CODES } from '../../src/protocol.js';

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
