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

const SCRIPT = resolve(import.meta.dirname, '../../examples/php/publish.php');

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker();
});
afterEach(() => closeClients());
afterAll(() => b.close());

function php(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    execFile(
      'php',
      [SCRIPT],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return fail(err);
        done({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
  });
}

// Debian's php-cli and php-curl; .ci/run installs them when missing.
describe('examples/php/publish.php against a live broker', () => {
  it('publishes to a room (a socket member receives it) and prints its presence', async () => {
    const alice = await connect(b.url, token('alice', undefined, { info: { name: 'Alice' } }));
    expect(await request(alice, 'join', { room: 'php:room' })).toMatchObject({ ok: true });
    const got = nextEvent<Envelope>(alice, 'message', 20_000);
    const run = await php({
      ROOMCAST_URL: b.url,
      ROOMCAST_API_KEY: API_KEY,
      ROOMCAST_ROOM: 'php:room',
      ROOMCAST_TEXT: 'hi from php',
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const message = await got;
    expect(message).toMatchObject({
      room: 'php:room',
      event: 'message',
      data: { text: 'hi from php' },
      from: null,
    });
    const out = JSON.parse(run.stdout) as { published: { offset: number }; members: Array<{ sub: string }> };
    expect(out.published).toMatchObject({ room: 'php:room', offset: message.offset, epoch: message.epoch });
    expect(out.members).toEqual([{ sub: 'alice', info: { name: 'Alice' }, connections: 1 }]);
  });

  it('exits 1 with the error code when the key is wrong', async () => {
    const run = await php({ ROOMCAST_URL: b.url, ROOMCAST_API_KEY: 'wrong-key-0000001' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^roomcast: unauthorized \(HTTP 401\)/);
  });
});
