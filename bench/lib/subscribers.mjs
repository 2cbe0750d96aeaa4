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
    target = t.split('/')[0];
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
