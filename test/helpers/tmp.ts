import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let dir: string | undefined;
let n = 0;

/** One temp folder per test process, removed when the process exits. */
export function tempDir(): string {
  if (!dir) {
    const made = mkdtempSync(join(tmpdir(), 'roomcast-test-'));
    dir = made;
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  return dir;
}

/** Writes a file with a fresh name in the process's temp folder and returns its path. */
export function tempFile(name: string, content: string): string {
  const file = join(tempDir(), `${++n}-${name}`);
  writeFileSync(file, content);
  return file;
}
