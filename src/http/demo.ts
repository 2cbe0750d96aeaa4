import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { mintToken } from '../auth/mint.js';
import type { Config } from '../config.js';

/** `public/` of the package: one level above both `src/` and `dist/`. */
const PUBLIC_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'public');

/** Rooms a demo user may use, and how long a demo token lives. */
const DEMO_RIGHTS = {
  subscribe: ['chat:*', 'demo:*'],
  publish: ['chat:*', 'demo:*'],
  presence: ['chat:*', 'demo:*'],
};
const DEMO_TTL_SEC = 3600;

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * The browser side of the single port. Always: `GET /roomcast.js`, the client SDK as an ES module
 * (built by `npm run build`). In development with `demo` on: the demo chat at `GET /` and
 * `POST /demo/token`, which hands a token for `chat:*` and `demo:*` to loopback clients only
 * (`fromLoopback`): never in production, never to another machine.
 *
 * @example
 * registerDemo(http, config); // before listen
 */
export function registerDemo(http: FastifyInstance, config: Config): void {
  serve(http, '/roomcast.js', 'roomcast.js', 'the client bundle is not built: run `npm run build`');
  serve(http, '/roomcast.js.map', 'roomcast.js.map', 'no source map: run `npm run build`');
  if (!config.demo || config.production) return;
  serve(http, '/', 'index.html', 'the demo page is missing from public/');
  serve(http, '/demo.js', 'demo.js', 'the demo script is missing from public/');
  serve(http, '/demo.css', 'demo.css', 'the demo style is missing from public/');
  const ns = config.namespaces['/']!;
  http.post('/demo/token', async (req, reply) => {
    if (!fromLoopback(req))
      return fail(reply, 403, 'forbidden', 'demo tokens are given to clients on this machine only');
    const name = demoName((req.body as { name?: unknown } | null)?.name);
    if (!name)
      return fail(reply, 400, 'bad_request', 'name: 1 to 32 characters, letters, digits, space . _ -');
    const sub = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    try {
      const token = mintToken(ns, { sub, rooms: DEMO_RIGHTS, info: { name }, ttlSec: DEMO_TTL_SEC });
      return { ok: true, token, sub, expiresIn: DEMO_TTL_SEC };
    } catch {
      return fail(
        reply,
        503,
        'unavailable',
        'the demo signs tokens with an HS secret; this namespace has none',
      );
    }
  });
}

/**
 * True for a request made on this machine: its peer is a loopback address and no proxy forwarded
 * it (a proxy on the same machine would otherwise pass every remote client off as loopback).
 */
export function fromLoopback(req: Pick<FastifyRequest, 'ip' | 'headers'>): boolean {
  const { headers } = req;
  const forwarded = headers.forwarded ?? headers['x-forwarded-for'] ?? headers['x-real-ip'];
  return forwarded === undefined && isLoopback(req.ip);
}

/** 127.0.0.0/8, `::1`, and 127.x.x.x as an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`). */
export function isLoopback(ip: string): boolean {
  const v4 = ip.toLowerCase().startsWith('::ffff:') ? ip.slice(7) : ip;
  if (isIP(v4) === 4) return v4.split('.')[0] === '127';
  // The URL parser writes an IPv6 address in its shortest form: every spelling of ::1 becomes [::1].
  return isIP(ip) === 6 && new URL(`http://[${ip}]/`).hostname === '[::1]';
}

function serve(http: FastifyInstance, route: string, file: string, missing: string): void {
  const type = TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream';
  http.get(route, async (_req, reply) => {
    let body: Buffer;
    try {
      body = await readFile(resolve(PUBLIC_DIR, file));
    } catch {
      return fail(reply, 404, 'not_found', missing);
    }
    return reply
      .type(type)
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .send(body);
  });
}

function demoName(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const name = value.trim();
  return /^[A-Za-z0-9 ._-]{1,32}$/.test(name) && /[A-Za-z0-9]/.test(name) ? name : null;
}

function fail(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ ok: false, error: { code, message } });
}
