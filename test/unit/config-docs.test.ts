import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configDefaults } from '../../src/config.js';

/** Every config field has a row in the README's table and in docs/deployment.md's. */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** Dotted paths of every leaf of the defaults (arrays and null are leaves). */
function leaves(value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([key, v]) => leaves(v, prefix ? `${prefix}.${key}` : key));
}

/** The backticked names in the first column of a doc's tables. */
function documented(doc: string): Set<string> {
  const names = new Set<string>();
  for (const line of doc.split('\n')) {
    const first = /^\| ([^|]+) \|/.exec(line)?.[1];
    for (const m of first?.matchAll(/`([^`]+)`/g) ?? []) names.add(m[1]!);
  }
  return names;
}

const FIELDS = leaves(configDefaults());

describe.each([
  ['README.md', '<name>'],
  ['docs/deployment.md', '<ns>'],
])('%s', (file, placeholder) => {
  const names = documented(read(file));
  it.each(FIELDS)('documents %s', (field) => {
    const path = field.replace(/^namespaces\.\/\./, `namespaces.${placeholder}.`);
    const parts = path.split('.');
    // A row may cover a group (`namespaces.<name>.jwt`) or a field with its sibling (`host`, `port`).
    const covered = parts.some((_, i) => names.has(parts.slice(0, i + 1).join('.')));
    expect(covered, `${path} has no row in ${file}`).toBe(true);
  });

  it.each([
    'ROOMCAST_ALLOWED_ORIGINS',
    'ROOMCAST_REDIS_SENTINELS',
    'ROOMCAST_REDIS_SENTINEL_MASTER',
    'ROOMCAST_REDIS_SENTINEL_PASSWORD',
    'ROOMCAST_REDIS_CLUSTER',
    'ROOMCAST_REDIS_PASSWORD',
    'ROOMCAST_REDIS_TLS',
    'ROOMCAST_REDIS_FAILOVER_CHECK',
    'ROOMCAST_METRICS_TOKEN',
    'ROOMCAST_METRICS_PORT',
  ])('documents the env var %s', (name) => {
    expect(read(file)).toContain(`\`${name}\``);
  });
});
