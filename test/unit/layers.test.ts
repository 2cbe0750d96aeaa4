import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The architecture of docs/architecture.md, held by a test: which part of src/ may import which.
 * A part is a folder of src/ or a file at its top. Any other edge fails, and so does any cycle
 * between parts. Imports of packages are not edges.
 */
/** `error-codes.ts` (the error catalogue, no imports) may be imported by every part. */
const TABLE: Record<string, readonly string[]> = {
  'error-codes': [],
  protocol: [],
  errors: ['protocol'],
  logger: [],
  rooms: ['protocol', 'errors'],
  auth: ['protocol', 'errors', 'rooms'],
  'config-redis': [],
  config: ['protocol', 'errors', 'rooms', 'auth', 'config-redis'],
  hub: ['protocol', 'errors', 'rooms', 'logger'],
  backends: ['protocol', 'errors', 'rooms', 'logger', 'config'],
  socket: ['protocol', 'errors', 'rooms', 'auth', 'config', 'logger', 'hub'],
  http: ['protocol', 'errors', 'rooms', 'auth', 'config', 'logger', 'hub', 'socket', 'backends'],
  sse: ['protocol', 'errors', 'rooms', 'auth', 'config', 'logger', 'hub', 'socket', 'http'],
  echo: ['protocol', 'errors', 'rooms', 'auth', 'config', 'logger', 'hub', 'socket', 'http'],
  broker: [
    'protocol',
    'errors',
    'rooms',
    'auth',
    'config',
    'logger',
    'hub',
    'backends',
    'socket',
    'http',
    'sse',
    'echo',
  ],
  main: ['protocol', 'errors', 'config', 'auth', 'logger', 'broker', 'echo'],
  index: ['protocol', 'errors', 'config', 'broker'],
  client: ['protocol'],
  publisher: ['protocol'],
};

const ALLOWED: Record<string, readonly string[]> = Object.fromEntries(
  Object.entries(TABLE).map(([part, deps]) => [
    part,
    part === 'error-codes' ? deps : [...deps, 'error-codes'],
  ]),
);

const SRC = resolve(import.meta.dirname, '../../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : [];
  });
}

function partOf(path: string): string {
  const [head] = relative(SRC, path).split(sep);
  // config.ts and its pieces (config-env.ts, config-error.ts, ...) are one part.
  return head!.replace(/\.(ts|js)$/, '').replace(/^config-.*$/, 'config');
}

/** Every `from '...'` and `import('...')` of a file, type-only imports included. */
function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gm)) out.push(m[1]!);
  for (const m of source.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push(m[1]!);
  return out;
}

function edges(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of files(SRC)) {
    const from = partOf(file);
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const to = partOf(resolve(file, '..', spec));
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)!.add(`${to}\u0000${relative(SRC, file)}`);
    }
  }
  return graph;
}

describe('layers', () => {
  it('every part of src/ is in the table', () => {
    const parts = new Set(files(SRC).map(partOf));
    expect([...parts].filter((p) => !(p in ALLOWED))).toEqual([]);
  });

  it('imports only what the table allows', () => {
    const bad: string[] = [];
    for (const [from, targets] of edges()) {
      for (const edge of targets) {
        const [to, file] = edge.split('\u0000') as [string, string];
        if (!ALLOWED[from]?.includes(to)) bad.push(`${file} imports ${to}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('has no cycle between parts', () => {
    const graph = new Map<string, Set<string>>();
    for (const [from, targets] of edges())
      graph.set(from, new Set([...targets].map((e) => e.split('\u0000')[0]!)));
    const cycles: string[] = [];
    const visit = (node: string, path: string[]) => {
      if (path.includes(node))
        return void cycles.push([...path.slice(path.indexOf(node)), node].join(' -> '));
      for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    };
    for (const node of graph.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });

  it('the table itself has no cycle', () => {
    const order: string[] = [];
    const done = new Set<string>();
    const place = (part: string, seen: string[]) => {
      if (done.has(part)) return;
      expect(seen).not.toContain(part);
      for (const dep of ALLOWED[part] ?? []) place(dep, [...seen, part]);
      done.add(part);
      order.push(part);
    };
    for (const part of Object.keys(ALLOWED)) place(part, []);
    expect(order).toHaveLength(Object.keys(ALLOWED).length);
  });
});

/**
 * Libraries are extended through their documented extension points only (docs/architecture.md).
 * These are the private or undocumented members roomcast once patched or read; none may come back.
 */
describe('library internals', () => {
  const FORBIDDEN: Array<[RegExp, string]> = [
    [/\._encode\b/, "socket.io-adapter's private _encode"],
    [/\.requests\b/, "socket.io-adapter's private requests map"],
    [/client\.sockets\b|client as unknown as/, "Socket.IO's private socket.client.sockets"],
    [/\.prototype\.[A-Za-z]+\.call\(|getPrototypeOf\(/, 'calling a library prototype past an instance'],
    [
      /\.(serverCount|serverSideEmit|broadcast|publish|spublish|subscribe|ssubscribe|sunsubscribe|unsubscribe|psubscribe|select)\s*=[^=]/,
      'assigning over a library method',
    ],
    [
      /adapter\.(addAll|del|delAll)\(/,
      'putting ids into Socket.IO rooms past the sockets (SSE streams are hub receivers)',
    ],
  ];

  it('no file of src/ reaches into a library', () => {
    const found: string[] = [];
    for (const file of files(SRC)) {
      const source = readFileSync(file, 'utf8');
      for (const [pattern, what] of FORBIDDEN) {
        if (pattern.test(source)) found.push(`${relative(SRC, file)}: ${what}`);
      }
    }
    expect(found).toEqual([]);
  });
});
