import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import {
  API_KEY,
  closeClients,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  startBroker,
  token,
} from '../helpers/broker.js';

/**
 * The server-API examples in other languages, each run unmodified against a live broker:
 * PHP (Debian's php-cli and php-curl; .ci/run installs them when missing) and Python (standard
 * library only; Debian's interpreter by path, since a python3 earlier in PATH may be another).
 */
const PUBLISHERS = [
  { lang: 'php', command: 'php', script: resolve(import.meta.dirname, '../../examples/php/publish.php') },
  {
    lang: 'python',
    command: '/usr/bin/python3',
    script: resolve(import.meta.dirname, '../../examples/python/publish.py'),
  },
];

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker();
});
afterEach(() => closeClients());
afterAll(() => b.close());

function run(
  command: string,
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    execFile(
      command,
      [script],
      { env: { PATH: process.env.PATH ?? '', PYTHONDONTWRITEBYTECODE: '1', ...env }, timeout: 20_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return fail(err);
        done({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
  });
}

describe.each(PUBLISHERS)('examples/$lang publisher against a live broker', ({ lang, command, script }) => {
  it('publishes to a room (a socket member receives it) and prints its presence', async () => {
    const room = `${lang}:room`;
    const alice = await connect(b.url, token('alice', undefined, { info: { name: 'Alice' } }));
    expect(await request(alice, 'join', { room })).toMatchObject({ ok: true });
    const got = nextEvent<Envelope>(alice, 'message', 20_000);
    const result = await run(command, script, {
      ROOMCAST_URL: b.url,
      ROOMCAST_API_KEY: API_KEY,
      ROOMCAST_ROOM: room,
      ROOMCAST_TEXT: `hi from ${lang}`,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const message = await got;
    expect(message).toMatchObject({ room, event: 'message', data: { text: `hi from ${lang}` }, from: null });
    const out = JSON.parse(result.stdout) as {
      published: { offset: number };
      members: Array<{ sub: string }>;
    };
    expect(out.published).toMatchObject({ room, offset: message.offset, epoch: message.epoch });
    expect(out.members).toEqual([{ sub: 'alice', info: { name: 'Alice' }, connections: 1 }]);
  });

  it('exits 1 with the error code when the key is wrong', async () => {
    const result = await run(command, script, { ROOMCAST_URL: b.url, ROOMCAST_API_KEY: 'wrong-key-0000001' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^roomcast: unauthorized \(HTTP 401\)/);
  });

  it('exits 1 with invalid_room for a room name the broker refuses', async () => {
    const result = await run(command, script, {
      ROOMCAST_URL: b.url,
      ROOMCAST_API_KEY: API_KEY,
      ROOMCAST_ROOM: 'bad room name',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^roomcast: invalid_room \(HTTP 400\)/);
  });
});
