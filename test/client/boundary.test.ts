import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = resolve(import.meta.dirname, '../../src');
const importsOf = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gm)].map(
    (m) => m[1]!,
  );

/**
 * The SDK ships to browsers: it may import only its own files, the wire types (protocol.ts), the
 * error catalogue (error-codes.ts) and socket.io-client; and those two import nothing else.
 */
describe('SDK boundary', () => {
  it('imports nothing of the server', () => {
    const dir = join(src, 'client');
    const allowed = (spec: string) =>
      spec.startsWith('./') ||
      spec === '../protocol.js' ||
      spec === '../error-codes.js' ||
      spec === 'socket.io-client';
    const outside: string[] = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      for (const spec of importsOf(join(dir, file))) if (!allowed(spec)) outside.push(`${file}: ${spec}`);
    }
    expect(outside).toEqual([]);
  });

  it('carries protocol-level modules only: protocol.ts imports the catalogue, which imports nothing', () => {
    expect(importsOf(join(src, 'protocol.ts'))).toEqual(['./error-codes.js', './error-codes.js']);
    expect(importsOf(join(src, 'error-codes.ts'))).toEqual([]);
  });

  it('the publisher imports only the protocol and the catalogue', () => {
    expect(importsOf(join(src, 'publisher/index.ts')).sort()).toEqual([
      '../error-codes.js',
      '../protocol.js',
    ]);
  });
});
