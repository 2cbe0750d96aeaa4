import { describe, expect, it } from 'vitest';
import { Emitter } from '../../src/client/emitter.js';

type Events = { ping: (n: number) => void };

describe('SDK emitter', () => {
  it('off(event, handler) removes a handler added with once, as Node and Socket.IO do', () => {
    const events = new Emitter<Events>();
    const seen: number[] = [];
    const handler = (n: number) => seen.push(n);
    events.once('ping', handler);
    events.off('ping', handler);
    expect(events.emit('ping', 1)).toBe(0);
    expect(seen).toEqual([]);
  });

  it('runs a once handler once, and its remover removes it before it ran', () => {
    const events = new Emitter<Events>();
    const seen: number[] = [];
    events.once('ping', (n) => seen.push(n));
    const off = events.once('ping', (n) => seen.push(n * 10));
    off();
    events.emit('ping', 1);
    events.emit('ping', 2);
    expect(seen).toEqual([1]);
    expect(events.count('ping')).toBe(0);
  });

  it('off of one handler leaves the same function added with on for another event', () => {
    const events = new Emitter<Events & { pong: (n: number) => void }>();
    const seen: string[] = [];
    const handler = (n: number) => seen.push(`h${n}`);
    events.on('ping', handler);
    events.once('pong', handler);
    events.off('pong', handler);
    events.emit('ping', 1);
    events.emit('pong', 2);
    expect(seen).toEqual(['h1']);
  });

  it('goes on with the other handlers when one throws, and hands the error over', () => {
    const errors: unknown[] = [];
    const events = new Emitter<Events>((err) => errors.push(err));
    const seen: number[] = [];
    events.on('ping', () => {
      throw new Error('boom');
    });
    events.on('ping', (n) => seen.push(n));
    expect(events.emit('ping', 3)).toBe(2);
    expect(seen).toEqual([3]);
    expect(errors).toMatchObject([{ message: 'boom' }]);
  });
});
