import { describe, expect, it } from 'vitest';
import { createMemoryEngine } from '../../src/backends/memory-engine.js';
import { Hub } from '../../src/hub/hub.js';
import { createLogger } from '../../src/logger.js';
import type { Engine } from '../../src/rooms/engine.js';
import { RoomManager } from '../../src/rooms/manager.js';
import type { Client, Transport } from '../../src/rooms/manager-types.js';
import { RecordingSink } from '../engine/engine-suite.js';

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

/** A promise and its settling, for an engine step that answers when the test says so. */
function deferred() {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * The real hub and room manager over the memory engine, except that watching a room waits (as on
 * Redis, where it is a SUBSCRIBE) until the test settles it.
 */
function slowWatchNode() {
  const hub = new Hub({ log: createLogger('silent') });
  const memory = createMemoryEngine(hub);
  const watches: ReturnType<typeof deferred>[] = [];
  const engine: Engine = {
    ...memory,
    watch: () => {
      const w = deferred();
      watches.push(w);
      return w.promise;
    },
  };
  hub.attach(engine);
  const sockets = { join() {}, leave() {}, emit() {} };
  const transport = hub.addNamespace('/', sockets, {
    presenceOn: () => true,
    historyPolicy: () => ({ size: 10, ttlMs: 0 }),
  });
  const rooms = new RoomManager(POLICY, engine, transport);
  return { hub, memory, rooms, watches };
}

/** A failed or stopped join of `lobby` left nothing: not joined, not watched here, not a member. */
async function expectNothingLeft(c: Client, hub: Hub, memory: Engine) {
  expect(c.rooms.size).toBe(0);
  expect(hub.roomCount('/')).toBe(0);
  expect(await memory.memberConnections('/', 'lobby', 'alice')).toBe(0);
}

describe('RoomManager while the node subscribes (an engine that answers later)', () => {
  it('fails a join whose watch fails, undone; the next join watches again', async () => {
    const { hub, memory, rooms, watches } = slowWatchNode();
    const c = client();
    const joining = rooms.join(c, 'lobby');
    watches[0]!.reject(Object.assign(new Error('redis is away'), { code: 'unavailable' }));
    await expect(joining).rejects.toThrow('redis is away');
    await expectNothingLeft(c, hub, memory);

    const again = rooms.join(c, 'lobby');
    expect(watches).toHaveLength(2);
    watches[1]!.resolve();
    await expect(again).resolves.toMatchObject({ room: 'lobby' });
    expect(await memory.memberConnections('/', 'lobby', 'alice')).toBe(1);
  });

  it('stops a join whose room was left while the node subscribed: no member is left behind', async () => {
    const { hub, memory, rooms, watches } = slowWatchNode();
    const c = client();
    const joining = rooms.join(c, 'lobby');
    await rooms.leave(c, 'lobby');
    watches[0]!.resolve();
    await expect(joining).rejects.toMatchObject({ code: 'not_joined' });
    await expectNothingLeft(c, hub, memory);
  });

  it('completes a join made again after a leave, whichever watch settles first', async () => {
    const { hub, memory, rooms, watches } = slowWatchNode();
    const c = client();
    const first = rooms.join(c, 'lobby');
    await rooms.leave(c, 'lobby');
    const second = rooms.join(c, 'lobby');
    expect(watches).toHaveLength(2);
    watches[1]!.resolve();
    await expect(second).resolves.toMatchObject({ room: 'lobby' });
    // The first watch settles late; it neither fails the room nor adds a second membership.
    watches[0]!.resolve();
    await expect(first).resolves.toMatchObject({ room: 'lobby' });
    expect(hub.roomCount('/')).toBe(1);
    expect(await memory.memberConnections('/', 'lobby', 'alice')).toBe(1);
    // A third connection's join finds the room watched and waits for nothing.
    const other = { ...client(), id: 'c2', sub: 'bob' };
    expect(rooms.join(other, 'lobby')).not.toBeInstanceOf(Promise);
  });
});

describe('Hub: a gap fill that outlives the room here', () => {
  it('does not hand a rejoined room the messages its read found before the rejoin', async () => {
    const hub = new Hub({ log: createLogger('silent') });
    let lose = false;
    const memory = createMemoryEngine({
      message: (ns, envelope, except) => {
        if (!lose) hub.message(ns, envelope, except);
      },
      presence: (ns, event, except) => hub.presence(ns, event, except),
      resync: () => hub.resync(),
    });
    // The hub's gap fill (a read `since` a position) answers when the test says; joins read at once.
    const fills: Array<() => void> = [];
    const engine: Engine = {
      ...memory,
      history: (ns, room, query, policy) => {
        if (!query.since) return memory.history(ns, room, query, policy);
        return new Promise((resolve) => fills.push(() => resolve(memory.history(ns, room, query, policy))));
      },
    };
    hub.attach(engine);
    const emitted: number[] = [];
    const sockets = {
      join() {},
      leave() {},
      emit: (_ch: string, event: string, payload: unknown) => {
        if (event === 'message') emitted.push((payload as { offset: number }).offset);
      },
    };
    const policy = { size: 10, ttlMs: 0 };
    const transport = hub.addNamespace('/', sockets, { presenceOn: () => true, historyPolicy: () => policy });
    const rooms = new RoomManager(POLICY, engine, transport);
    const draft = (n: number) => ({ id: `m${n}`, room: 'lobby', event: 'msg', data: n, ts: 0, from: null });

    const first = client();
    await rooms.join(first, 'lobby');
    await memory.publish('/', draft(1), policy);
    lose = true; // offset 2 never reaches this node: a gap
    await memory.publish('/', draft(2), policy);
    lose = false;
    await memory.publish('/', draft(3), policy); // held above the gap; a fill reads since 1
    expect(emitted).toEqual([1]);
    expect(fills).toHaveLength(1);

    // The room empties here and is joined again (it now stands at 3) before the read answers.
    await rooms.leave(first, 'lobby');
    const second = { ...client(), id: 'c2', sub: 'bob' };
    expect(await rooms.join(second, 'lobby')).toMatchObject({ offset: 3 });
    // Delivery came back meanwhile (the node resubscribed): the room is to be checked again.
    hub.resync();
    fills[0]!();
    await new Promise((resolve) => setImmediate(resolve));
    // The stale read is dropped, and the check resync asked for runs, from the new join's position.
    expect(fills).toHaveLength(2);
    fills[1]!();
    await new Promise((resolve) => setImmediate(resolve));
    await memory.publish('/', draft(4), policy);
    // 2 and 3 were published before the second join: they are not its live messages.
    expect(emitted).toEqual([1, 4]);
  });
});
