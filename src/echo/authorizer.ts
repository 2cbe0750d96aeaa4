/**
 * Channel authorization by the Laravel app, as laravel-echo-server does it (docs/laravel.md):
 * `POST authHost + authEndpoint`, form body `channel_name` (and `socket_id`), the client's
 * `auth.headers`, its cookies, and `X-Requested-With: XMLHttpRequest`. Only a 200 authorizes;
 * a reply that is not JSON is refused (502). Every call is bounded by a timeout, and at most
 * `maxConcurrent` run at once on this node: past that, a request is refused at once (503) rather
 * than queued, so a slow app costs its own subscriptions and never the node.
 */

export interface AuthRequest {
  channel: string;
  socketId: string;
  /** `auth.headers` as the client sent them. */
  headers: Record<string, unknown>;
  /** The handshake's `Cookie` header, if any. */
  cookie: string | undefined;
}

export type AuthResult = { ok: true; reply: unknown } | { ok: false; status: number };

export interface AuthorizerOptions {
  url: string;
  timeoutMs: number;
  maxConcurrent: number;
}

/** Headers a client may not set on the auth request: they describe the request itself. */
const HOP_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'connection',
  'transfer-encoding',
  'cookie',
  'x-requested-with',
]);
const MAX_HEADERS = 50;
const MAX_REPLY_BYTES = 64 * 1024;

/**
 * @example
 * const authorize = createAuthorizer({ url: 'http://app/broadcasting/auth', timeoutMs: 5000, maxConcurrent: 64 });
 * const result = await authorize({ channel: 'private-orders.1', socketId, headers: {}, cookie });
 */
export function createAuthorizer(opts: AuthorizerOptions): (req: AuthRequest) => Promise<AuthResult> {
  let running = 0;
  return async (req) => {
    if (running >= opts.maxConcurrent) return { ok: false, status: 503 };
    running++;
    try {
      return await post(opts, req);
    } finally {
      running--;
    }
  };
}

async function post(opts: AuthorizerOptions, req: AuthRequest): Promise<AuthResult> {
  const headers = forwardedHeaders(req);
  try {
    const res = await fetch(opts.url, {
      method: 'POST',
      headers,
      body: new URLSearchParams({ channel_name: req.channel, socket_id: req.socketId }).toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      return { ok: false, status: res.status };
    }
    const text = await res.text();
    // A reply that is too big or not JSON (a login page, a proxy's error page) authorizes nothing.
    if (text.length > MAX_REPLY_BYTES) return { ok: false, status: 502 };
    try {
      return { ok: true, reply: JSON.parse(text) };
    } catch {
      return { ok: false, status: 502 };
    }
  } catch {
    // Unreachable, refused or too slow: laravel-echo-server reports status 0 for these.
    return { ok: false, status: 0 };
  }
}

function forwardedHeaders(req: AuthRequest): Record<string, string> {
  const out: Record<string, string> = {};
  let n = 0;
  for (const [name, value] of Object.entries(req.headers)) {
    if (n++ >= MAX_HEADERS) break;
    if (typeof value !== 'string' || HOP_HEADERS.has(name.toLowerCase())) continue;
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/.test(name) || /[\r\n\0]/.test(value)) continue;
    out[name] = value.slice(0, 8192);
  }
  const cookie = typeof req.headers.Cookie === 'string' ? req.headers.Cookie : req.cookie;
  if (cookie) out.Cookie = cookie;
  out['X-Requested-With'] = 'XMLHttpRequest';
  out['Content-Type'] = 'application/x-www-form-urlencoded';
  return out;
}
