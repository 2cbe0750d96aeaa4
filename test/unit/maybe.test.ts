import { describe, expect, it } from 'vitest';
import { createMemoryEngine } from '../../src/backends/memory-engine.js';
import type { Engine } from '../../src/rooms/engine.js';
import { type Client, RoomManager, type Transport } from '../../src/rooms/manager.js';
import { andThen, attempt } from '../../src/rooms/maybe.js';
import { RecordingSink } from '../engine/engine-suite.js';

describe('MaybePromise helpers', () => {
  it('andThen runs now on a value, and after the promise on a promise', async () => {
    const order: string[] = [];
    const now = andThen(2, (v) => {
      order.push('now');
      return v * 2;
    });
    expect(now).toBe(4);
    const later = andThen(Promise.resolve(3), (v) => {
      order.push('later');
      return v * 2;
    });
    order.push('after the call');
    expect(later).toBeInstanceOf(Promise);
    expect(await later).toBe(6);
    expect(order).toEqual(['now', 'after the call', 'later']);
  });

  it('attempt recovers a throw now and a rejection later, and leaves a success alone', async () => {
    const recover = (err: unknown) => `recovered ${(err as Error).message}`;
    expect(attempt(() => 'fine', recover)).toBe('fine');
    expect(
      attempt(() => {
        throw new Error('now');
      }, recover),
    ).toBe('recovered now');
    expect(await attempt(() => Promise.reject(new Error('later')), recover)).toBe('recovered later');
    expect(await attempt(() => Promise.resolve('fine later'), recover)).toBe('fine later');
  });

  it('attempt passes on what recover throws', async () => {
    const rethrow = (err: unknown) => {
      throw new Error(`still ${(err as Error).message}`);
    };
    expect(() =>
      attempt(() => {
        throw new Error('now');
      }, rethrow),
    ).toThrow('still now');
    await expect(attempt(() => Promise.reject(new Error('later')), rethrow)).rejects.toThrow('still later');
  });
});

/** A transport that keeps who is subscribed to what. */
class RecordingTransport implements Transport {
  readonly subscribed = new Set<string>();
  join(client: Client, room: string): void {
    this.subscribed.add(`${client.id} ${room}`);
  }
  leave(client: Client, room: string): void {
    this.subscribed.delete(`${client.id} ${room}`);
  }
  setPresence(): void {}
  readUpTo(): void {}
}

const POLICY = {
  name: '/',
  limits: { roomsPerConnection: 10, payloadBytes: 65_536, historyLimit: 100, roomNameLength: 200 },
  history: [{ pattern: '*', size: 10, ttlMs: 0 }],
  presence: ['*'],
};
const client = (): Client => ({
  id: 'c1',
  sub: 'alice',
  info: null,
  rights: { subscribe: ['*'], publish: ['*'], presence: ['*'] },
  rooms: new Set(),
});

describe('RoomManager over an engine that answers at once', () => {
  it('joins and leaves in the same tick, with nothing to wait for', () => {
    const sink = new RecordingSink();
    const rooms = new RoomManager(POLICY, createMemoryEngine(sink), new RecordingTransport());
    const c = client();
    const reply = rooms.join(c, 'lobby');
    expect(reply).not.toBeInstanceOf(Promise);
    expect(reply).toMatchObject({ room: 'lobby', offset: 0, recovered: false, messages: [] });
    expect(sink.events.map((e) => e.event.action)).toEqual(['join']);
    expect(rooms.leave(c, 'lobby')).toBeUndefined();
    expect(sink.events.map((e) => e.event.action)).toEqual(['join', 'leave']);
    expect(() => rooms.leave(c, 'lobby')).toThrow(expect.objectContaining({ code: 'not_joined' }));
  });

  // A step that throws at once and one that rejects later are undone alike: not joined, not
  // subscribed, not a member.
  for (const fails of ['now', 'later'] as const) {
    it(`undoes a join whose history read fails ${fails}`, async () => {
      const memory = createMemoryEngine(new RecordingSink());
      const engine: Engine = {
        ...memory,
        history: () => {
          const err = Object.assign(new Error('history is away'), { code: 'unavailable' });
          if (fails === 'now') throw err;
          return Promise.reject(err);
        },
      };
      const transport = new RecordingTransport();
      const rooms = new RoomManager(POLICY, engine, transport);
      const c = client();
      if (fails === 'now') expect(() => rooms.join(c, 'lobby')).toThrow('history is away');
      else await expect(rooms.join(c, 'lobby')).rejects.toThrow('history is away');
      expect(c.rooms.size).toBe(0);
      expect(transport.subscribed.size).toBe(0);
      expect(await memory.memberConnections('/', 'lobby', 'alice')).toBe(0);
    });
  }
});
