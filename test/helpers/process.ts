import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI; `npm test` builds it before the tests run. */
export const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'main.js');

export function assertBuilt(): void {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
}

/** A clean environment for the CLI: nothing of this test process's ROOMCAST_* or NODE_ENV leaks in. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/main.js ...args` to completion, bounded. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, ms = 15_000): Promise<CliResult> {
  return runNode([MAIN, ...args], env, ms);
}

/** Runs `node ...args` (a script, or `-e` code) to completion in a clean environment, bounded. */
export function runNode(
  args: string[],
  env: NodeJS.ProcessEnv,
  ms = 15_000,
  cwd?: string,
): Promise<CliResult> {
  const child = spawn(process.execPath, args, {
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
  return finished(child, ms);
}

function finished(child: ChildProcess, ms: number): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the CLI did not exit within ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, ms);
    // 'close' comes after the exit and after both pipes are drained.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Everything printed on stdout so far. */
  output(): string;
  /** Resolves with the exit result; call after a signal. */
  exited: Promise<CliResult>;
}

const started: ChildProcess[] = [];

/**
 * Kills every server `startServer` started that is still running (SIGKILL): a test that fails
 * before its own SIGTERM/SIGINT leaves none behind. Call in afterEach.
 */
export function stopServers(): void {
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/**
 * Spawns `node dist/main.js serve` (or `npm start`, as the README runs it) on PORT=0 and waits for
 * the 'roomcast listening' log line's `url`.
 */
export async function startServer(
  env: NodeJS.ProcessEnv,
  ms = 15_000,
  how: 'node' | 'npm start' = 'node',
): Promise<ServerProcess> {
  const [cmd, args] = how === 'node' ? [process.execPath, [MAIN, 'serve']] : ['npm', ['start', '--silent']];
  const child = spawn(cmd, args, {
    cwd: join(dirname(MAIN), '..'),
    env: cliEnv({ HOST: '127.0.0.1', PORT: '0', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = finished(child, 60_000);
  exited.catch(() => undefined);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'roomcast listening' within ${ms} ms:\n${out}`)), ms);
    const look = () => {
      for (const line of out.split('\n').slice(0, -1)) {
        const entry = parseLogLine(line);
        if (entry?.msg === 'roomcast listening' && entry.url) {
          clearTimeout(timer);
          child.stdout?.off('data', look);
          resolve(entry.url);
          return;
        }
      }
    };
    child.stdout?.on('data', look);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code} before listening:\n${out}`));
    });
  });
  return { child, url, output: () => out, exited };
}

function parseLogLine(line: string): { msg?: string; url?: string } | null {
  if (!line.startsWith('{')) return null;
  try {
    return JSON.parse(line) as { msg?: string; url?: string };
  } catch {
    return null;
  }
}
