import { setTimeout as pace } from 'node:timers/promises';
import { expect } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import { connect, request, type TestClient, token, until } from '../helpers/broker.js';
import { readyz } from './stream-scenario.js';

/**
 * A Redis primary dies (SIGKILL) while the nodes serve a steady stream (about 50 publishes/s) to
 * `rooms`, with a member on every node in every room. Checks the failover guarantee of contract
 * section 8: the nodes follow the promotion and publishing resumes with no restart; every
 * acknowledged message reaches every member (live, or filled from history), unless its room has
 * started a new epoch since (replication is asynchronous: the promoted replica may lack the last
 * writes); and no offset names two messages within one epoch, on any member.
 */
export interface FailoverResult {
  /** From the kill to the first publish acknowledged by the new primary, per room set. */
  resumedMs: number;
  /** From the kill to every node's /readyz answering 200 again. */
  readyMs: number;
  acked: number;
  refused: number;
  /** Acknowledged messages no member got: each in an epoch its room has left. */
  lostToNewEpoch: number;
  /** Rooms whose epoch changed across the failover. */
  newEpochs: number;
}

export async function failoverDuringStream(opts: {
  urls: string[];
  rooms: string[];
  /** Kills the primary (of the shard that matters); resolves once it is dead. */
  kill(): Promise<void>;
  /** Whether every node must answer /readyz 503 during the switch. */
  expectNotReady?: boolean;
  /** Rooms whose publishes measure the resumption (default all: one Redis primary serves them all). */
  resumeRooms?: string[];
  /**
   * Nothing acknowledged may be lost, whatever the epochs (a slot migration, a graceful failover
   * that waits for the replica): every acknowledged message reaches every member.
   */
  nothingLost?: boolean;
}): Promise<FailoverResult> {
  const { urls, rooms } = opts;
  const members = await Promise.all(urls.map((url, i) => connect(url, token(`member${i}`))));
  for (const m of members)
    for (const room of rooms) {
      const reply = await request(m, 'join', { room });
      expect(reply, `join ${room}: ${JSON.stringify(reply)}`).toMatchObject({ ok: true });
    }
  const got = members.map((m) => record(m));
  const publishers = await Promise.all(urls.map((url, i) => connect(url, token(`pub${i}`))));
  const stream = publish(publishers, rooms);

  await until(() => stream.acked.size >= 40, 10_000, 'a steady stream');
  const epochsBefore = await currentEpochs(members[0]!, rooms);
  const killedAt = Date.now();
  await opts.kill();
  if (opts.expectNotReady) {
    for (const url of urls) await until(async () => (await readyz(url)) === 503, 5000, '/readyz 503');
  }
  await until(
    () => stream.firstAckAfter(killedAt, opts.resumeRooms) < Number.POSITIVE_INFINITY,
    20_000,
    'a publish sent after the kill, acknowledged',
  );
  const resumedMs = stream.firstAckAfter(killedAt, opts.resumeRooms) - killedAt;
  for (const url of urls) await until(async () => (await readyz(url)) === 200, 20_000, '/readyz 200');
  const readyMs = Date.now() - killedAt;
  const before = stream.acked.size;
  await until(() => stream.acked.size >= before + 40, 15_000, 'publishes after the failover');
  await stream.stop();

  const epochsAfter = await currentEpochs(members[0]!, rooms);
  const acked = [...stream.acked.values()];
  // Every acked message of a room's current epoch, on every member; older epochs may have lost some.
  const owed = opts.nothingLost ? acked : acked.filter((a) => epochsAfter.get(a.room) === a.epoch);
  const everyone = () => got.every((g) => owed.every(({ room, data }) => g.data.get(room)?.has(data)));
  await until(everyone, 15_000, 'every member to get every acked message of the current epochs').catch(
    (err: Error) => {
      const missing = got.map(
        (g, i) =>
          `member ${i}: ${owed.filter(({ room, data }) => !g.data.get(room)?.has(data)).map((a) => a.data)}`,
      );
      throw new Error(`${err.message}: ${missing.join('; ')}`);
    },
  );
  // One offset, one message, per epoch: across every member and every ack.
  const named = new Map<string, number>();
  const clash: string[] = [];
  const name = (room: string, epoch: string, offset: number, data: number) => {
    const key = `${room} ${epoch} ${offset}`;
    const prev = named.get(key);
    if (prev !== undefined && prev !== data) clash.push(`${key}: ${prev} and ${data}`);
    named.set(key, data);
  };
  for (const a of acked) name(a.room, a.epoch, a.offset, a.data);
  for (const g of got) for (const m of g.all) name(m.room, m.epoch, m.offset, m.data as number);
  expect(clash).toEqual([]);
  for (const g of got) expect(g.twice).toEqual([]);
  const lost = acked.filter((a) => got.some((g) => !g.data.get(a.room)?.has(a.data)));
  for (const a of lost) expect(epochsAfter.get(a.room)).not.toBe(a.epoch);
  for (const m of [...members, ...publishers]) expect(m.connected).toBe(true);
  return {
    resumedMs,
    readyMs,
    acked: acked.length,
    refused: stream.refused,
    lostToNewEpoch: lost.length,
    newEpochs: rooms.filter((r) => epochsBefore.get(r) !== epochsAfter.get(r)).length,
  };
}

async function currentEpochs(socket: TestClient, rooms: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const room of rooms) {
    const reply = await request<{ epoch: string }>(socket, 'history', { room, limit: 1 });
    expect(reply.ok).toBe(true);
    out.set(room, reply.epoch!);
  }
  return out;
}

interface Received {
  data: Map<string, Set<number>>;
  all: Envelope[];
  /** `room epoch offset` of every offset seen twice. */
  twice: string[];
}

function record(socket: TestClient): Received {
  const out: Received = { data: new Map(), all: [], twice: [] };
  const offsets = new Set<string>();
  socket.on('message', (m: Envelope) => {
    const key = `${m.room} ${m.epoch} ${m.offset}`;
    if (offsets.has(key)) out.twice.push(key);
    offsets.add(key);
    out.all.push(m);
    if (!out.data.has(m.room)) out.data.set(m.room, new Set());
    out.data.get(m.room)!.add(m.data as number);
  });
  return out;
}

interface Ack {
  room: string;
  data: number;
  epoch: string;
  offset: number;
  sentAt: number;
  at: number;
}

/** Each publisher publishes to the rooms in turn, paced so that all together send about 50/s. */
function publish(publishers: TestClient[], rooms: string[]) {
  const acked = new Map<number, Ack>();
  let refused = 0;
  let running = true;
  let n = 0;
  const state = {
    acked,
    get refused() {
      return refused;
    },
    /** When the first publish sent after `t` was acknowledged (infinity: none yet). */
    firstAckAfter(t: number, only?: string[]): number {
      let first = Number.POSITIVE_INFINITY;
      for (const a of acked.values())
        if (a.sentAt > t && a.at < first && (!only || only.includes(a.room))) first = a.at;
      return first;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
  const period = 20 * publishers.length;
  const loops = publishers.map(async (p) => {
    let deadline = Date.now();
    while (running) {
      const data = ++n;
      const room = rooms[data % rooms.length]!;
      const sentAt = Date.now();
      const ack = await request<{ epoch: string; offset: number }>(p, 'publish', {
        room,
        event: 'tick',
        data,
      });
      if (ack.ok) {
        const at = Date.now();
        acked.set(data, { room, data, epoch: ack.epoch!, offset: ack.offset!, sentAt, at });
      } else refused++;
      deadline = Math.max(deadline + period, Date.now() - period);
      await pace(Math.max(0, deadline - Date.now()));
    }
  });
  return state;
}
