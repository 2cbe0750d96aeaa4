/**
 * The publisher process: a few connections (roomcast's default limit is 100 events per second
 * per connection, so a fast publisher spreads over several) publishing at a steady rate,
 * round-robin over rooms, each publish with an ack. The payload carries its publish time.
 * In HTTP mode the same publishes are POSTs over keep-alive connections (`POST /v1/publish` for
 * roomcast, the bare server's `POST /publish`), and the ack is the HTTP reply. With `batch` > 1
 * (HTTP only) each request carries `batch` messages to consecutive rooms (`POST /v1/batch` for
 * roomcast, the bare server's `POST /batch`); `rate` and `total` then count requests.
 */
import { Agent, request } from 'node:http';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import { createHistogram, pack, record } from './hist.mjs';
import { now, serveRequests, sleep } from './proc.mjs';

let sockets = [];
let target = 'roomcast';
/** HTTP mode: `{ agent, url, apiKey }`; publishes are POSTs instead of socket events. */
let http;

function open(url, auth) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, auth });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => reject(new Error(`publisher connect_error ${err.message}`)));
  });
}

/** POSTs one JSON body; calls `done(reply)` with the parsed reply or an `{ error }`. */
function post(path, body, headers, done) {
  const text = JSON.stringify(body);
  const req = request(
    `${http.url}${path}`,
    {
      method: 'POST',
      agent: http.agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers },
    },
    (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          done(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          done({ error: { code: `http_${res.statusCode}` } });
        }
      });
    },
  );
  req.on('error', (err) => done({ error: { code: err.code ?? 'http_error' } }));
  req.end(text);
}

function send(room, data, onAck, index) {
  if (http) {
    if (target === 'roomcast') {
      post('/v1/publish', { room, event: 'msg', data }, { authorization: `Bearer ${http.apiKey}` }, (r) =>
        onAck(r?.ok ? { ok: true } : r),
      );
    } else post('/publish', { room, data }, {}, onAck);
    return;
  }
  const socket = sockets[index % sockets.length];
  if (target === 'roomcast') socket.emit('publish', { room, event: 'msg', data }, onAck);
  else socket.emit('publish', { room, data }, onAck);
}

/** HTTP batch mode: one request of `items` (`[{ room, data }]`); `done(reply)` as for `post`. */
function sendBatch(items, done) {
  if (target === 'roomcast') {
    const messages = items.map(({ room, data }) => ({ room, event: 'msg', data }));
    post('/v1/batch', { messages }, { authorization: `Bearer ${http.apiKey}` }, done);
  } else post('/batch', { messages: items }, {}, done);
}

serveRequests({
  /** HTTP mode: keep-alive connections to the server's publish endpoint. */
  async openHttp({ url, target: t, apiKey, connections = 16 }) {
    target = t.split('/')[0].split(':')[0];
    http = { url, apiKey, agent: new Agent({ keepAlive: true, maxSockets: connections }) };
    return { ok: true };
  },

  async open({ url, target: t, connections, secret }) {
    target = t.split('/')[0].split(':')[0];
    const auth = (i) =>
      target === 'roomcast'
        ? {
            token: jwt.sign({ sub: `publisher${i}`, rooms: { publish: ['bench:*'] } }, secret, {
              expiresIn: 3600,
            }),
          }
        : {};
    sockets = await Promise.all(Array.from({ length: connections }, (_, i) => open(url, auth(i))));
    return { opened: sockets.length };
  },

  /**
   * Publishes `total` messages at `rate` per second over `rooms`; `measured` marks the payloads
   * the subscribers count. Resolves when every ack is in (or after `ackTimeoutMs`).
   */
  async run({ rooms, rate, total, measured, payloadBytes, seqBase = 0, ackTimeoutMs = 15_000, batch = 1 }) {
    // --bare-pad: bare's frames as long as roomcast's envelopes, to tell the envelope's share of
    // the cost from the rest of roomcast's.
    const extra = target === 'bare' ? Number(process.env.BENCH_BARE_PAD ?? 0) : 0;
    const pad = 'x'.repeat(payloadBytes + extra);
    const acks = createHistogram();
    const errors = {};
    const perRoom = {};
    let sent = 0;
    let ok = 0;
    let answered = 0;
    let requests = 0;
    const cpu0 = process.cpuUsage();
    const start = now();
    while (batch > 1 ? requests < total : sent < total) {
      const due = Math.min(total, Math.floor(((now() - start) * rate) / 1000) + 1);
      while (batch > 1 && requests < Math.min(total, Math.floor(((now() - start) * rate) / 1000) + 1)) {
        // One request of `batch` messages to consecutive rooms; every message carries its time.
        const t = now();
        const items = [];
        for (let j = 0; j < batch; j++) {
          const seq = seqBase + sent + j;
          items.push({ room: rooms[(sent + j) % rooms.length], data: { t, seq, m: measured ? 1 : 0, pad } });
        }
        sent += batch;
        requests++;
        sendBatch(items, (reply) => {
          answered += batch;
          record(acks, now() - t);
          if (reply?.ok) {
            ok += batch;
            for (const { room } of items) perRoom[room] = (perRoom[room] ?? 0) + 1;
          } else {
            const code = reply?.error?.code ?? 'no_reply';
            errors[code] = (errors[code] ?? 0) + batch;
          }
        });
      }
      while (batch <= 1 && sent < due) {
        const seq = seqBase + sent;
        const room = rooms[sent % rooms.length];
        const data = { t: now(), seq, m: measured ? 1 : 0, pad };
        const sentAt = data.t;
        const onAck = (reply) => {
          answered++;
          record(acks, now() - sentAt);
          if (reply?.ok) {
            ok++;
            perRoom[room] = (perRoom[room] ?? 0) + 1;
          } else {
            const code = reply?.error?.code ?? 'no_reply';
            errors[code] = (errors[code] ?? 0) + 1;
          }
        };
        send(room, data, onAck, sent);
        sent++;
      }
      await sleep(2);
    }
    const lastSentAt = now();
    const deadline = lastSentAt + ackTimeoutMs;
    while (answered < sent && now() < deadline) await sleep(5);
    if (answered < sent) errors.ack_timeout = sent - answered;
    const cpu = process.cpuUsage(cpu0);
    const cpuUs = cpu.user + cpu.system;
    return {
      sent,
      requests: batch > 1 ? requests : sent,
      ok,
      errors,
      perRoom,
      startedAt: start,
      lastSentAt,
      acks: pack(acks),
      cpuUs,
    };
  },

  close() {
    for (const s of sockets) s.disconnect();
    http?.agent.destroy();
    return true;
  },
});
