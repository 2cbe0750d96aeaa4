#!/usr/bin/env node
/**
 * Bundles the client SDK (src/client, with socket.io-client) into one ES module for browsers:
 * public/roomcast.js, which the broker serves at GET /roomcast.js. Run by `npm run build`.
 *
 *   import { createClient } from '/roomcast.js';
 *
 * Exported for tests: `buildClient({ outfile })` resolves when the bundle is written.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export async function buildClient({ outfile = resolve(root, 'public/roomcast.js'), minify = true } = {}) {
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [resolve(root, 'src/client/index.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    minify,
    sourcemap: 'linked',
    legalComments: 'eof',
    logLevel: 'warning',
    banner: { js: '/* roomcast client SDK (ES module), bundled with socket.io-client. MIT. */' },
  });
  return outfile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  buildClient().then(
    (file) => console.log(`client bundle: ${file}`),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
