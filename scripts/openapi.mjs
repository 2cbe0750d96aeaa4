#!/usr/bin/env node
// Writes docs/openapi.json from the built broker (the same document GET /v1/openapi.json serves
// with the default limits). Run after `npm run build`: `node scripts/openapi.mjs [distDir]`.
// test/api/queries.test.ts fails when the committed file and the served document differ.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(root, process.argv[2] ?? 'dist');
const { createApiSchemas } = await import(pathToFileURL(resolve(dist, 'http/schemas.js')).href);
const { createOpenApiDocument } = await import(pathToFileURL(resolve(dist, 'http/openapi.js')).href);
const defaults = JSON.parse(readFileSync(resolve(root, 'config/default.json'), 'utf8')).api;
const doc = createOpenApiDocument(createApiSchemas(defaults));
const out = resolve(root, 'docs/openapi.json');
writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
// In the project's JSON style, so `npm run lint` stays clean.
execFileSync(resolve(root, 'node_modules/.bin/biome'), ['format', '--write', out], { stdio: 'ignore' });
console.log('wrote docs/openapi.json');
