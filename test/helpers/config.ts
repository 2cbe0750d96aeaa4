import { expect } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { tempFile } from './tmp.js';

export const SECRET = 'unit-secret-0123456789abcdef0123';
export const KEYS = { ROOMCAST_JWT_SECRET: SECRET, ROOMCAST_API_KEYS: 'api-key-00001' };

/** Writes `content` (an object, or raw text) as a ROOMCAST_CONFIG file and returns its path. */
export function configFile(content: unknown): string {
  return tempFile('config.json', typeof content === 'string' ? content : JSON.stringify(content));
}

/** The ConfigError that loading `file` and `env` throws. */
export function configError(file: unknown, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig({ ...KEYS, ...(file === undefined ? {} : { ROOMCAST_CONFIG: configFile(file) }), ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.message).not.toContain('\n');
    return e;
  }
  throw new Error('the config was accepted');
}
