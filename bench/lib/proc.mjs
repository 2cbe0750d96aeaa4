/**
 * Child processes of the bench: servers, subscriber processes and publishers, each forked with
 * an IPC channel. The parent sends `{ id, cmd, ...args }` and awaits `{ id, ok, result | error }`.
 * Every child is killed when the bench exits, however it exits.
 */
import { fork } from 'node:child_process';

const children = new Set();

function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/**
 * Forks `script` and returns a handle whose `request(cmd, args, timeoutMs)` resolves with the
 * child's answer. Non-request messages (`{ event }`) go to `onEvent`.
 */
export function spawn(script, { name = script, execArgv = [], env = {}, onEvent } = {}) {
  const child = fork(script, [], {
    execArgv,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  children.add(child);
  const pending = new Map();
  let nextId = 1;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      for (const { reject, timer } of pending.values()) {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? signal}) during a request`));
      }
      pending.clear();
      resolve({ code, signal });
    });
  });
  child.on('message', (msg) => {
    if (msg && msg.id !== undefined && pending.has(msg.id)) {
      const { resolve, reject, timer } = pending.get(msg.id);
      pending.delete(msg.id);
      clearTimeout(timer);
      if (msg.ok) resolve(msg.result);
      else reject(new Error(`${name}: ${msg.error}`));
    } else if (msg?.event) onEvent?.(msg);
  });
  return {
    name,
    pid: child.pid,
    exited,
    request(cmd, args = {}, timeoutMs = 60_000) {
      if (!child.connected) return Promise.reject(new Error(`${name} is not running`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: "${cmd}" timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        child.send({ id, cmd, ...args });
      });
    },
    /** Asks the child to exit (it may write a CPU profile on the way); kills it after `graceMs`. */
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ id: 0, cmd: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The child side: answers requests with `handlers[cmd](args)`; `exit` ends the process. */
export function serveRequests(handlers) {
  process.on('message', async (msg) => {
    if (!msg || typeof msg.cmd !== 'string') return;
    if (msg.cmd === 'exit') {
      await handlers.exit?.();
      process.exit(0);
    }
    const handler = handlers[msg.cmd];
    try {
      if (!handler) throw new Error(`unknown command "${msg.cmd}"`);
      const result = await handler(msg);
      process.send({ id: msg.id, ok: true, result });
    } catch (err) {
      process.send({ id: msg.id, ok: false, error: err?.stack ?? String(err) });
    }
  });
  // The parent gone means the bench is over.
  process.on('disconnect', () => process.exit(0));
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across local processes. */
export function now() {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
