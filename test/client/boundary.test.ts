import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The SDK ships to browsers: it may import only its own files, the wire types and socket.io-client. */
describe('SDK boundary', () => {
  it('imports nothing of the server', () => {
    const dir = resolve(import.meta.dirname, '../../src/client');
    const allowed = (spec: string) =>
      spec.startsWith('./') || spec === '../protocol.js' || spec === 'socket.io-client';
    const outside: string[] = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(join(dir, file), 'utf8');
      for (const [, spec] of source.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gm)) {
        if (!allowed(spec!)) outside.push(`${file}: ${spec}`);
      }
    }
    expect(outside).toEqual([]);
  });
});
