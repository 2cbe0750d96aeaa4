/**
 * The outside world of the container test: Socket.IO clients with a JWT minted by the same secret
 * the container was given, and a backend publishing through the HTTP API with the API key.
 */
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import { API_KEY, SECRET, withTimeout } from './harness.mjs';

export function mint(sub) {
  return jwt.sign(
    { sub, rooms: { subscribe: ['chat:*'], publish: ['chat:*'], presence: ['chat:*'] }, info: { name: sub } },
    SECRET,
    { algorithm: 'HS256', expiresIn: '10m' },
  );
}

/**
 * Connects and waits for `connect`. The socket remembers its transport (`label`), every `closing`
 * payload (`closingEvents`) and every `message` envelope (`messages`).
 */
export function connect(url, sub, transport) {
  const socket = io(url, {
    auth: { token: mint(sub) },
    transports: [transport],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
  });
  socket.label = transport;
  socket.closingEvents = [];
  socket.messages = [];
  socket.on('closing', (payload) => socket.closingEvents.push(payload));
  socket.on('message', (envelope) => socket.messages.push(envelope));
  return withTimeout(
    new Promise((res, rej) => {
      socket.once('connect', () => res(socket));
      socket.once('connect_error', (err) => rej(new Error(`${sub}: connect_error ${err.message}`)));
    }),
    10_000,
    `${sub} connect`,
  );
}

export function ack(socket, event, payload) {
  return socket.timeout(5000).emitWithAck(event, payload);
}

export function nextEvent(socket, event, ms = 5000) {
  return withTimeout(new Promise((res) => socket.once(event, res)), ms, `"${event}" event`);
}

/** Resolves when `socket.messages` holds `count` envelopes, or rejects after `ms`. */
export async function messagesArrived(socket, count, ms = 5000) {
  const deadline = Date.now() + ms;
  while (socket.messages.length < count) {
    if (Date.now() > deadline)
      throw new Error(`${socket.messages.length} of ${count} messages within ${ms} ms`);
    await new Promise((res) => setTimeout(res, 20));
  }
  return socket.messages;
}

/** POST /v1/publish as a backend would; `ok` when acknowledged with an offset. */
export async function publish(base, room, data) {
  const res = await fetch(`${base}/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ room, event: 'msg', data }),
    signal: AbortSignal.timeout(5000),
  });
  const reply = await res.json().catch(() => null);
  const result = reply?.results?.[0];
  return {
    ok: res.status === 200 && reply?.ok === true && result?.offset >= 1,
    result,
    detail: `HTTP ${res.status} ${JSON.stringify(result ?? reply)}`,
  };
}
