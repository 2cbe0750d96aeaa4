/**
 * A subscriber process: opens many socket.io-client connections over WebSocket, joins each to
 * its room, and counts and times the measured messages it receives. Several of these run at once
 * so that the clients do not share the server's event loop (or one another's).
 */
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import { createHistogram, pack, record } from './hist.mjs';
import { now, serveRequests } from './proc.mjs';

const sockets = [];
const socketRooms = [];
let target = 'roomcast';
let latency = createHistogram();
let received = 0;
let warm = 0;
let outOfOrder = 0;
let firstAt = 0;
let lastAt = 0;
let envelopeBytes = 0;
let cpuAtReset = process.cpuUsage();
let perSocket = new Int32Array(0);
let lastSeq = new Float64Array(0);

/** Opens one connection and joins it to `room`; resolves when the join is acknowledged. */
function open(url, index, room, auth) {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: 30_000,
      auth,
    });
    const timer = setTimeout(() => {
      socket.disconnect();
      reject(new Error('connect+join timed out'));
    }, 60_000);
    socket.on('message', (m) => onMessage(index, m));
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      reject(new Error(`connect_error ${err.message}`));
    });
    socket.once('connect', () => {
      if (!room) {
        clearTimeout(timer);
        resolve(socket);
        return;
      }
      socket.emit('join', { room }, (reply) => {
        clearTimeout(timer);
        if (reply?.ok) resolve(socket);
        else reject(new Error(`join: ${JSON.stringify(reply?.error ?? reply)}`));
      });
    });
  });
}

/**
 * Reconnect storm: every client of `storm.plan` connects and joins its rooms at once. Clients use
 * socket.io-client's default reconnection (on: a connection that fails at the transport level is
 * retried after 1-5 s; a refusal by the server is not), over WebSocket only as everywhere here.
 */
let storm = { plan: [], sockets: [] };

function stormGo({ startAt, deadlineMs }) {
  return new Promise((resolve) => {
    const { plan, url } = storm;
    const times = createHistogram();
    let done = 0;
    let joined = 0;
    let failed = 0;
    let retries = 0;
    let lastJoinedAt = 0;
    let firstError;
    const errors = {};
    const retriedBecause = {};
    let cpu0;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      const cpu = process.cpuUsage(cpu0);
      const notJoined = plan.length - done;
      if (notJoined > 0) errors.not_joined_by_deadline = notJoined;
      resolve({
        clients: plan.length,
        joined,
        failed: failed + notJoined,
        retries,
        retriedBecause,
        errors,
        firstError,
        lastJoinedAt,
        times: pack(times),
        cpuUs: cpu.user + cpu.system,
      });
    };
    const settle = (ok, why) => {
      done++;
      if (ok) joined++;
      else {
        failed++;
        firstError ??= why;
        errors[why] = (errors[why] ?? 0) + 1;
      }
      if (done === plan.length) finish();
    };
    let deadline;
    setTimeout(
      () => {
        cpu0 = process.cpuUsage();
        deadline = setTimeout(finish, deadlineMs);
        for (const { rooms, auth } of plan) {
          const socket = io(url, { transports: ['websocket'], forceNew: true, auth });
          storm.sockets.push(socket);
          let state = 'open';
          socket.io.on('reconnect_attempt', () => retries++);
          socket.on('connect_error', (err) => {
            // Not `active`: refused by the server (no retry); else the manager retries by itself.
            if (!socket.active && state === 'open') {
              state = 'failed';
              settle(false, `connect_error ${err.message}`);
            } else if (state === 'open') {
              retriedBecause[err.message] = (retriedBecause[err.message] ?? 0) + 1;
            }
          });
          socket.on('connect', () => {
            let acks = 0;
            for (const room of rooms) {
              socket.emit('join', { room }, (reply) => {
                if (state !== 'open') return;
                if (!reply?.ok) {
                  state = 'failed';
                  settle(false, `join ${reply?.error?.code ?? JSON.stringify(reply)}`);
                } else if (++acks === rooms.length) {
                  state = 'joined';
                  lastJoinedAt = now();
                  record(times, lastJoinedAt - startAt);
                  settle(true);
                }
              });
            }
          });
        }
      },
      Math.max(0, startAt - now()),
    );
  });
}

function onMessage(index, m) {
  const p = target === 'roomcast' ? m?.data : m;
  if (!p?.m) {
    warm++;
    return;
  }
  const t = now();
  if (received === 0) {
    firstAt = t;
    envelopeBytes = JSON.stringify(m).length;
  }
  received++;
  lastAt = t;
  perSocket[index]++;
  if (p.seq <= lastSeq[index]) outOfOrder++;
  lastSeq[index] = p.seq;
  record(latency, t - p.t);
}

function reset() {
  latency = createHistogram();
  received = 0;
  warm = 0;
  outOfOrder = 0;
  firstAt = 0;
  lastAt = 0;
  perSocket = new Int32Array(sockets.length);
  lastSeq = new Float64Array(sockets.length).fill(-1);
  cpuAtReset = process.cpuUsage();
}

serveRequests({
  /**
   * `rooms[i]` is the room of connection i (null: connect only); `base` numbers the users.
   * Roomcast connections carry a token with subscribe rights to `bench:*` (no presence right,
   * so a 5,000-member room does not send 5,000² presence events while it fills).
   */
  async open({ url, target: t, rooms, base, secret, concurrency = 50 }) {
    target = t.split('/')[0].split(':')[0];
    const first = sockets.length;
    sockets.length = first + rooms.length;
    rooms.forEach((room, i) => {
      socketRooms[first + i] = room;
    });
    let next = 0;
    let failed = 0;
    let firstError;
    const worker = async () => {
      while (next < rooms.length) {
        const i = next++;
        const auth =
          target === 'roomcast'
            ? {
                token: jwt.sign({ sub: `u${base + i}`, rooms: { subscribe: ['bench:*'] } }, secret, {
                  expiresIn: 3600,
                }),
              }
            : {};
        try {
          sockets[first + i] = await open(url, first + i, rooms[i], auth);
        } catch (err) {
          failed++;
          firstError ??= err.message;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    reset();
    return { opened: rooms.length - failed, failed, firstError };
  },
  reset,
  /** Storm: signs the tokens of `clients` (`[{ index, rooms }]`) ahead of the storm. */
  stormPrepare({ url, target: t, clients, secret }) {
    const kind = t.split('/')[0].split(':')[0];
    storm = {
      url,
      sockets: [],
      plan: clients.map(({ index, rooms }) => ({
        rooms,
        auth:
          kind === 'roomcast'
            ? {
                token: jwt.sign({ sub: `storm${index}`, rooms: { subscribe: ['bench:*'] } }, secret, {
                  expiresIn: 3600,
                }),
              }
            : {},
      })),
    };
    return { prepared: clients.length };
  },
  /** Storm: at `startAt` opens every client at once; answers when all joined or failed, or at the deadline. */
  stormGo,
  stormClose() {
    for (const s of storm.sockets) s.disconnect();
    storm = { plan: [], sockets: [] };
    return true;
  },
  /** Counts against `expected[room]` messages per connection: how many got less, and how much less. */
  report({ expected = {} }) {
    let short = 0;
    let missing = 0;
    let extra = 0;
    for (let i = 0; i < sockets.length; i++) {
      const want = expected[socketRooms[i]] ?? 0;
      if (perSocket[i] < want) {
        short++;
        missing += want - perSocket[i];
      } else extra += perSocket[i] - want;
    }
    const cpu = process.cpuUsage(cpuAtReset);
    return {
      cpuUs: cpu.user + cpu.system,
      received,
      warm,
      outOfOrder,
      firstAt,
      lastAt,
      envelopeBytes,
      short,
      missing,
      extra,
      latency: pack(latency),
    };
  },
  counts: () => ({ received, warm }),
  close() {
    for (const s of sockets) s?.disconnect();
    return true;
  },
});
