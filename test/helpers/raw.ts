import WebSocket from 'ws';

/**
 * A raw Engine.IO v4 / Socket.IO v5 connection over WebSocket, for frames no well-behaved client
 * sends (no event name, reserved names, garbage). `ws` comes with engine.io.
 *
 * @example
 * const raw = await rawConnect(url, token('alice'));
 * raw.send('421["join",{"room":"a"}]');
 * await raw.next((f) => f.startsWith('431'));
 */
export interface RawClient {
  /** Text frames received so far (binary frames as `<binary n>`). */
  readonly frames: string[];
  send(frame: string | Buffer): void;
  /** The first received frame not returned before that `match`es (waiting for it, bounded). */
  next(match: (frame: string) => boolean, ms?: number): Promise<string>;
  /** The JSON reply to an ack id, e.g. `ack(1)` for a frame `421[...]`. */
  ack(id: number, ms?: number): Promise<Record<string, unknown>>;
  /** Resolves with the close code once the server (or we) closed the connection. */
  readonly closed: Promise<number>;
  readonly isOpen: () => boolean;
  /** Stops reading from the socket (`ws`'s public `pause()`): a client that no longer reads. */
  pause(): void;
  /** Drops the connection at once (`ws`'s `terminate()`), as a client that vanished. */
  terminate(): void;
  close(): void;
}

const all: RawClient[] = [];

/** Opens a raw connection; with `auth`, also connects the namespace and waits for its CONNECT reply. */
export async function rawConnect(url: string, auth?: Record<string, unknown>, ns = '/'): Promise<RawClient> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`);
  const frames: string[] = [];
  const taken = new Set<number>();
  const waiters = new Set<() => void>();
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? `<binary ${(data as Buffer).length}>` : data.toString();
    if (text === '2') ws.send('3'); // answer the server's ping
    frames.push(text);
    for (const wake of waiters) wake();
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('error', () => undefined);

  function next(match: (frame: string) => boolean, ms = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
      const scan = () => {
        for (let i = 0; i < frames.length; i++) {
          if (!taken.has(i) && match(frames[i]!)) {
            taken.add(i);
            done();
            resolve(frames[i]!);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching frame within ${ms} ms; got ${JSON.stringify(frames.slice(-5))}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(scan);
      };
      waiters.add(scan);
      scan();
    });
  }

  const client: RawClient = {
    pause: () => ws.pause(),
    terminate: () => ws.terminate(),
    frames,
    send: (frame) => ws.send(frame),
    next,
    async ack(id, ms) {
      const prefix = `43${ns === '/' ? '' : `${ns},`}${id}[`;
      const frame = await next((f) => f.startsWith(prefix), ms);
      return JSON.parse(frame.slice(prefix.length - 1))[0];
    },
    closed,
    isOpen: () => ws.readyState === WebSocket.OPEN,
    close: () => ws.close(),
  };
  all.push(client);
  await next((f) => f.startsWith('0'));
  if (auth) {
    const prefix = ns === '/' ? '' : `${ns},`;
    client.send(`40${prefix}${JSON.stringify(auth)}`);
    await next((f) => f.startsWith(`40${prefix}`) || f.startsWith(`44${prefix}`));
  }
  return client;
}

/** Closes every raw connection. Call in afterEach. */
export function closeRaw(): void {
  for (const c of all.splice(0)) c.close();
}
