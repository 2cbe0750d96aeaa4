import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { assertBuilt, runNode } from '../helpers/process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const INDEX = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;

/**
 * Starts a broker from the build in a fresh process with `config` (a config file's content) and
 * says which of `packages` that process loaded by the time it listened.
 */
async function loadedBy(config: object, packages: string[]): Promise<Record<string, boolean>> {
  const script = `
    import { createRequire } from 'node:module';
    import { mkdtempSync, writeFileSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    const { createBroker, loadConfig } = await import(${JSON.stringify(INDEX)});
    const file = join(mkdtempSync(join(tmpdir(), 'roomcast-footprint-')), 'config.json');
    writeFileSync(file, ${JSON.stringify(JSON.stringify(config))});
    const broker = await createBroker(loadConfig({
      ROOMCAST_JWT_SECRET: 'footprint-secret-0123456789abcdef0123',
      ROOMCAST_API_KEYS: 'footprint-api-key-0123456789',
      ROOMCAST_CONFIG: file,
    }));
    await broker.listen();
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const loaded = Object.fromEntries(${JSON.stringify(packages)}.map(
      (p) => [p, cache.some((k) => k.includes('/node_modules/' + p + '/'))]));
    console.log(JSON.stringify(loaded));
    process.exit(0);
  `;
  const res = await runNode(['--input-type=module', '-e', script], {}, 20_000, ROOT);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout.trim().split('\n').at(-1) ?? '{}');
}

const BASE = { host: '127.0.0.1', port: 0, logLevel: 'silent' };

describe('what a one-node broker loads', () => {
  it('loads no Redis client without Redis, Laravel Echo namespace or not, and loads it for an Echo subscriber', async () => {
    assertBuilt();
    const echo = (subscribeRedis: boolean) => ({
      ...BASE,
      namespaces: {
        '/': {
          echo: {
            authHost: 'http://127.0.0.1:9',
            apps: [],
            subscribeRedis,
            // Nothing listens there: the subscriber only has to be made, not to connect.
            ...(subscribeRedis ? { redisUrl: 'redis://127.0.0.1:9' } : {}),
          },
        },
      },
    });
    const [plain, echoHttpOnly, echoRedis] = await Promise.all([
      loadedBy(BASE, ['ioredis', 'socket.io']),
      loadedBy(echo(false), ['ioredis']),
      loadedBy(echo(true), ['ioredis']),
    ]);
    expect(plain).toEqual({ ioredis: false, 'socket.io': true });
    expect(echoHttpOnly).toEqual({ ioredis: false });
    expect(echoRedis).toEqual({ ioredis: true });
  });
});
