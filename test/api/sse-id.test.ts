import { describe, expect, it } from 'vitest';
import { decodeEventId, encodePosition } from '../../src/sse/id.js';

describe('SSE event ids', () => {
  it('round-trips every room of a stream, epochs of any characters included', () => {
    const id = [
      encodePosition('chat:1', { epoch: 'Xk2a9Qb1', offset: 42 }),
      encodePosition('a/b=c@d.e_f-g', { epoch: 'odd;epoch,%', offset: 0 }),
    ].join(',');
    expect(id.startsWith('chat:1;Xk2a9Qb1;42,a/b=c@d.e_f-g;')).toBe(true);
    expect([...decodeEventId(id)]).toEqual([
      ['chat:1', { epoch: 'Xk2a9Qb1', offset: 42 }],
      ['a/b=c@d.e_f-g', { epoch: 'odd;epoch,%', offset: 0 }],
    ]);
  });

  it('skips parts that do not parse, so a garbled id never fails a reconnect', () => {
    const good = encodePosition('ok', { epoch: 'e', offset: 1 });
    const id = ['bad room;e;1', 'r;;1', 'r;e;-1', 'r;e;x', 'r;%E0%A4%A;1', 'r;e', good].join(',');
    expect([...decodeEventId(id)]).toEqual([['ok', { epoch: 'e', offset: 1 }]]);
    expect(decodeEventId(undefined).size).toBe(0);
    expect(decodeEventId('').size).toBe(0);
  });
});
