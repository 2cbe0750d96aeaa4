import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { configError, KEYS } from '../helpers/config.js';

const PROD = { NODE_ENV: 'production' };

describe('config: allowedOrigins', () => {
  it('is required in production; the error names the field and ROOMCAST_ALLOWED_ORIGINS', () => {
    const err = configError(undefined, PROD);
    expect(err.field).toBe('config allowedOrigins');
    expect(err.message).toContain('ROOMCAST_ALLOWED_ORIGINS');
    // An empty env var is not a choice either.
    expect(configError(undefined, { ...PROD, ROOMCAST_ALLOWED_ORIGINS: '' }).field).toBe(
      'config allowedOrigins',
    );
  });

  it('takes a list or ["*"] in production, from env or the file', () => {
    const list = loadConfig({
      ...KEYS,
      ...PROD,
      ROOMCAST_ALLOWED_ORIGINS: 'https://a.example, http://localhost:5173',
    });
    expect(list.allowedOrigins).toEqual(['https://a.example', 'http://localhost:5173']);
    expect(loadConfig({ ...KEYS, ...PROD, ROOMCAST_ALLOWED_ORIGINS: '*' }).allowedOrigins).toEqual(['*']);
  });

  it('drops a default port, as browsers do in the Origin they send', () => {
    const config = loadConfig({
      ...KEYS,
      ROOMCAST_ALLOWED_ORIGINS:
        'http://localhost:80,https://app.example:443,http://localhost:8080,https://b.example:80',
    });
    expect(config.allowedOrigins).toEqual([
      'http://localhost',
      'https://app.example',
      'http://localhost:8080',
      'https://b.example:80',
    ]);
  });

  it('is ["*"] in development when unset', () => {
    expect(loadConfig(KEYS).allowedOrigins).toEqual(['*']);
  });

  it.each<[string, unknown, string]>([
    ['a trailing slash', ['https://app.example/'], 'allowedOrigins.0'],
    ['a path', ['https://app.example/app'], 'allowedOrigins.0'],
    ['no scheme', ['app.example'], 'allowedOrigins.0'],
    ['upper case', ['https://App.example'], 'allowedOrigins.0'],
    ['"*" with others', ['*', 'https://app.example'], 'allowedOrigins'],
    ['an empty list', [], 'allowedOrigins'],
    ['a number', [5], 'allowedOrigins.0'],
  ])('refuses %s', (_what, value, field) => {
    expect(configError({ allowedOrigins: value }).message).toContain(`config ${field}:`);
  });

  it('names ROOMCAST_ALLOWED_ORIGINS for a bad env value', () => {
    const err = configError(undefined, { ROOMCAST_ALLOWED_ORIGINS: 'https://app.example/' });
    expect(err.field).toBe('ROOMCAST_ALLOWED_ORIGINS (config allowedOrigins.0)');
  });
});

describe('config: host', () => {
  it('defaults to 127.0.0.1 in development and 0.0.0.0 in production', () => {
    expect(loadConfig(KEYS).host).toBe('127.0.0.1');
    expect(loadConfig({ ...KEYS, ...PROD, ROOMCAST_ALLOWED_ORIGINS: '*' }).host).toBe('0.0.0.0');
  });

  it('takes an explicit HOST (or host) in either', () => {
    expect(loadConfig({ ...KEYS, HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ ...KEYS, ...PROD, ROOMCAST_ALLOWED_ORIGINS: '*', HOST: '10.1.2.3' }).host).toBe(
      '10.1.2.3',
    );
  });
});
