/**
 * Which package (or part of node, or roomcast file) a V8 profile frame belongs to, from its URL;
 * `none` names a frame without one (native code, the GC). Shared by bench/profile-top.mjs and
 * bench/heap-top.mjs.
 *
 * @example
 * owner('file:///app/node_modules/engine.io/build/socket.js'); // 'engine.io'
 */
export function owner(url, none = '(native)') {
  if (!url) return none;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:')) return 'node:internal';
  if (url.includes('/dist/')) return `roomcast ${url.slice(url.indexOf('/dist/') + 6)}`;
  if (url.includes('/bench/')) return 'bench harness';
  return url;
}
