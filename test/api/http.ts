import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { API_KEY } from '../helpers/broker.js';

/** A JSON reply as the API tests read it. */
export interface ApiReply<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: { ok: boolean; error?: { code: string; message: string } } & Partial<T> & Record<string, unknown>;
}

/** Calls the server API with global fetch; `key` null sends no Authorization header. */
export async function api<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { key?: string | null; raw?: string | Uint8Array; headers?: Record<string, string> } = {},
): Promise<ApiReply<T>> {
  const key = opts.key === undefined ? API_KEY : opts.key;
  const headers: Record<string, string> = { ...opts.headers };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  let payload: string | Uint8Array | undefined = opts.raw;
  if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    // A copy of bytes: fetch takes a view of an ArrayBuffer, not of Node's shared pool.
    ...(payload === undefined
      ? {}
      : { body: typeof payload === 'string' ? payload : new Uint8Array(payload) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
}

/** One parsed Server-Sent Event. */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** An open SSE stream read with node:http: parsed events, comment count, and the end. */
export interface SseStreamClient {
  status: number;
  headers: IncomingMessage['headers'];
  /** Dispatched events (a block with data), as EventSource would fire them. */
  events: SseEvent[];
  /** The last `id:` seen, dispatched or not: what EventSource sends back as Last-Event-ID. */
  lastEventId: string;
  comments: number;
  ended: Promise<void>;
  /** The first event (from `from` on) that `match` accepts, within `ms`. */
  next(match: (e: SseEvent) => boolean, ms?: number, from?: number): Promise<SseEvent>;
  close(): void;
}

/** A refused SSE request: status and JSON error body. */
export interface SseRefusal {
  status: number;
  body: { ok: false; error: { code: string; message: string } };
}

const openStreams: SseStreamClient[] = [];

/** Opens `GET /v1/events`; resolves with the open stream, or with the refusal when not 200. */
export function openSse(
  url: string,
  headers: Record<string, string> = {},
): Promise<SseStreamClient | SseRefusal> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let text = '';
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        return;
      }
      const stream = sseReader(res, () => req.destroy());
      openStreams.push(stream);
      resolve(stream);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('SSE request timed out')));
    req.on('error', reject);
    req.end();
  });
}

function sseReader(res: IncomingMessage, destroy: () => void): SseStreamClient {
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  let buffer = '';
  const stream: SseStreamClient = {
    status: res.statusCode ?? 0,
    headers: res.headers,
    events,
    lastEventId: '',
    comments: 0,
    ended: new Promise((resolve) => res.on('close', resolve)),
    next(match, ms = 5000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.slice(from).find(match);
          if (!hit) return false;
          waiters.delete(check as () => void);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check as () => void);
          reject(
            new Error(`no matching SSE event within ${ms} ms (saw ${events.map((e) => e.event).join(', ')})`),
          );
        }, ms);
        if (!check()) waiters.add(check as () => void);
      });
    },
    close: destroy,
  };
  res.on('data', (chunk: string) => {
    buffer += chunk;
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      parseBlock(block, stream);
      end = buffer.indexOf('\n\n');
    }
    for (const waiter of [...waiters]) waiter();
  });
  res.on('close', () => {
    for (const waiter of [...waiters]) waiter();
  });
  return stream;
}

/** Parses one block as the SSE spec does: an id updates lastEventId; only data dispatches. */
function parseBlock(block: string, stream: SseStreamClient): void {
  const event: SseEvent = { event: 'message', data: '' };
  let data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) {
      stream.comments++;
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') stream.lastEventId = value;
    else if (field === 'event') event.event = value;
    else if (field === 'data') data = [...data, value];
  }
  if (data.length === 0) return;
  event.data = data.join('\n');
  event.id = stream.lastEventId;
  stream.events.push(event);
}

/** Closes every stream `openSse` opened. Call in afterEach. */
export function closeStreams(): void {
  for (const s of openStreams.splice(0)) s.close();
}

export function isRefusal(s: SseStreamClient | SseRefusal): s is SseRefusal {
  return !('events' in s);
}

/**
 * Sends `raw` bytes to the broker's port and reads until the server closes the connection. Chunks
 * of a list go out one per turn of the event loop; `end: false` keeps our side open (a client
 * that stalls).
 */
export function rawHttp(
  url: string,
  raw: string | string[],
  opts: { end?: boolean } = {},
): Promise<{ status: number; headers: string; body: string }> {
  const { hostname, port } = new URL(url);
  const out = typeof raw === 'string' ? [raw] : [...raw];
  return new Promise((resolve, reject) => {
    const send = () => {
      const chunk = out.shift();
      if (chunk === undefined) {
        if (opts.end !== false) socket.end();
        return;
      }
      socket.write(chunk);
      setImmediate(send);
    };
    const socket = tcpConnect(Number(port), hostname, send);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), headers: head, body });
    });
  });
}
