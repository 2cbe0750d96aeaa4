import { setTimeout as pace } from 'node:timers/promises';
import { expect } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import { connect, request, type TestClient, token, until } from '../helpers/broker.js';
import type { TestRedis } from '../helpers/redis.js';

/**
 * Redis goes away for `outageMs` while two publishers (on nodes 0 and 1) send a steady stream to
 * a room with a member on every node. Checks the contract's fault guarantees: clients stay
 * connected, publishes during the outage are refused with `unavailable` (and nothing else),
 * `/readyz` answers 503 and then 200 on every node, delivery resumes with no restart, and every
 * publish acknowledged ok reaches every member (live, or by the node's catch-up from history).
 */
export interface StreamResult {
  acked: number;
  refused: number;
  /** Messages members got (or recovered) that were acknowledged; always all of them. */
  delivered: number;
}

export async function redisOutageDuringStream(
  urls: string[],
  redis: Pick<TestRedis, 'kill' | 'restart'>,
  outageMs: number,
  room: string,
): Promise<StreamResult> {
  const members = await Promise.all(urls.map((url, i) => connect(url, token(`member${i}`))));
  for (const m of members) expect(await request(m, 'join', { room })).toMatchObject({ ok: true });
  const received = members.map((m) => collectData(m));
  const dropped = members.map((m) => watchDisconnect(m));
  const publishers = await Promise.all([0, 1].map((i) => connect(urls[i]!, token(`pub${i}`))));
  const stream = startStream(publishers, room);

  await until(() => stream.acked.size >= 20, 10_000, 'acks before the outage');
  await redis.kill();
  const downAt = Date.now();
  for (const url of urls) await until(async () => (await readyz(url)) === 503, 5000, '/readyz 503');
  await until(
    () => Date.now() - downAt >= outageMs && stream.refused.length > 0,
    outageMs + 10_000,
    'outage',
  );
  const ackedBefore = stream.acked.size;
  await redis.restart();
  for (const url of urls) await until(async () => (await readyz(url)) === 200, 15_000, '/readyz 200');
  await until(() => stream.acked.size >= ackedBefore + 30, 15_000, 'acks after the outage');
  await stream.stop();

  expect(new Set(stream.refused)).toEqual(new Set(['unavailable']));
  const acked = [...stream.acked];
  for (const [i, got] of received.entries()) {
    await until(() => acked.every((n) => got.has(n)), 10_000, `member ${i} to get every acked message`).catch(
      (err: Error) => {
        const missing = acked.filter((n) => !got.has(n));
        throw new Error(
          `${err.message}: missing ${missing.join(',')} of ${acked.length} (before the outage: ${ackedBefore})`,
        );
      },
    );
  }
  expect(dropped.map((d) => d.count)).toEqual(members.map(() => 0));
  for (const m of [...members, ...publishers]) expect(m.connected).toBe(true);
  return { acked: acked.length, refused: stream.refused.length, delivered: acked.length };
}

interface Stream {
  acked: Set<number>;
  refused: string[];
  stop(): Promise<void>;
}

/** Each publisher publishes a numbered message, waits for the ack, pauses 40 ms, and again. */
function startStream(publishers: TestClient[], room: string): Stream {
  const acked = new Set<number>();
  const refused: string[] = [];
  let running = true;
  let n = 0;
  const loops = publishers.map(async (p) => {
    while (running) {
      const data = ++n;
      const ack = await request(p, 'publish', { room, event: 'tick', data });
      if (ack.ok) acked.add(data);
      else refused.push(ack.error?.code ?? 'none');
      await pace(40);
    }
  });
  return {
    acked,
    refused,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

function collectData(socket: TestClient): Set<number> {
  const seen = new Set<number>();
  socket.on('message', (m: Envelope) => seen.add(m.data as number));
  return seen;
}

function watchDisconnect(socket: TestClient): { count: number } {
  const state = { count: 0 };
  socket.on('disconnect', () => state.count++);
  return state;
}

/** The status of GET /readyz (0 when the request fails). */
export async function readyz(url: string): Promise<number> {
  try {
    return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 0;
  }
}
