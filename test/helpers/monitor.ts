import { connect, type Socket } from 'node:net';

/** One command as Redis's MONITOR shows it: its words, and `lua` or the client's address. */
export interface Monitored {
  args: string[];
  source: string;
}

export interface RedisMonitor {
  readonly seen: Monitored[];
  close(): void;
}

/**
 * Redis's MONITOR over a plain TCP connection: every command Redis runs, in its order, those of
 * scripts included. Not ioredis's `monitor()`: ioredis turns a connection into a monitor only once
 * MONITOR's `OK` has gone through a promise, so a command line in the same read as the `OK` hits
 * its empty command queue ("Command queue state error", thrown from the socket's data handler).
 * Resolves once Redis has answered `OK`, so everything after that is seen. For a Redis without
 * a password (the tests' own).
 *
 * @example
 * const monitor = await monitorRedis(redis.port);
 * ...
 * monitor.close();
 * const scripts = monitor.seen.filter((c) => c.source === 'lua');
 */
export async function monitorRedis(port: number, host = '127.0.0.1'): Promise<RedisMonitor> {
  const socket: Socket = connect(port, host);
  const seen: Monitored[] = [];
  let buffer = '';
  let ready: () => void = () => undefined;
  const ok = new Promise<void>((resolve, reject) => {
    ready = resolve;
    socket.once('error', reject);
  });
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let end = buffer.indexOf('\r\n');
    while (end >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (line === '+OK') ready();
      else if (line.startsWith('+')) {
        const parsed = parseLine(line);
        if (parsed) seen.push(parsed);
      }
      end = buffer.indexOf('\r\n');
    }
  });
  socket.on('error', () => undefined);
  socket.write('MONITOR\r\n');
  await ok;
  return { seen, close: () => socket.destroy() };
}

/** `+1700000000.000000 [0 127.0.0.1:5555] "evalsha" "…" "3" …` (or `[0 lua]`) as its parts. */
function parseLine(line: string): Monitored | null {
  const open = line.indexOf('[');
  const firstQuote = line.indexOf('"');
  // The last `]` before the words: an IPv6 client address has brackets of its own (`[0 [::1]:5555]`).
  const close = line.lastIndexOf(']', firstQuote < 0 ? line.length : firstQuote);
  if (open < 0 || close < 0) return null;
  const source = line.slice(open + 1, close).split(' ')[1] ?? '';
  const args: string[] = [];
  let i = close + 1;
  while (i < line.length) {
    if (line[i] !== '"') {
      i++;
      continue;
    }
    let word = '';
    i++;
    while (i < line.length && line[i] !== '"') {
      if (line[i] === '\\' && i + 1 < line.length) {
        const next = line[i + 1]!;
        if (next === 'x') {
          word += String.fromCharCode(Number.parseInt(line.slice(i + 2, i + 4), 16));
          i += 4;
          continue;
        }
        word += { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' }[next] ?? next;
        i += 2;
        continue;
      }
      word += line[i];
      i++;
    }
    // Redis escapes every byte past ASCII (\xHH): read back as the UTF-8 they were.
    args.push(Buffer.from(word, 'latin1').toString('utf8'));
    i++;
  }
  return { args, source };
}
