import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configDefaults, loadConfig } from '../../src/config.js';

const DEFAULT_JSON = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'config', 'default.json');

describe('config/default.json', () => {
  it('holds exactly the defaults of the config schema, every field', () => {
    // Equality both ways: a field missing from the file, a stale default or an extra key fails.
    expect(JSON.parse(readFileSync(DEFAULT_JSON, 'utf8'))).toStrictEqual(configDefaults());
  });

  it('derives host, allowedOrigins and the Redis target from their unset defaults', () => {
    const dev = loadConfig({});
    expect(dev.host).toBe('127.0.0.1');
    expect(dev.allowedOrigins).toEqual(['*']);
    expect(dev.redis.target).toBeNull();
  });
});
