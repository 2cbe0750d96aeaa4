import { afterEach, describe, expect, it, vi } from 'vitest';
import { RoomcastError } from '../../src/errors.js';
import {
  type CheckedSocket,
  checkedFirst,
  markChecked,
  markUnchecked,
  RECHECK_MS,
  type Recheck,
  startRecheck,
  type Unchecked,
} from '../../src/socket/recheck.js';

/**
 * The recheck of a connection let in while its token's revocation could not be checked, over a
 * socket-shaped object and a revocation check the test answers by hand (the integration tests in
 * test/api/revocation.test.ts run it against a frozen redis-server).
 */
interface FakeSocket extends CheckedSocket {
  connected: boolean;
  data: { unchecked?: Unchecked };
}

/** A check whose answers the test gives, one call at a time, in order. */
function manualCheck() {
  const calls: Array<{ hash: string; answer: (made: boolean) => void; revoke: () => void }> = [];
  const check = (_claims: { sub: string }, hash: string) =>
    new Promise<boolean>((resolve, reject) => {
      calls.push({
        hash,
        answer: resolve,
        revoke: () => reject(new RoomcastError('token_revoked', 'revoked')),
      });
    });
  return { calls, check };
}

const token = (hash: string) => ({ claims: { sub: 'alice', iat: 1 }, hash });
const tick = () => new Promise((resolve) => setImmediate(resolve));
/** An event handler that notes that it ran. */
const record = (ran: string[], name: string) => () => {
  ran.push(name);
  return {};
};

function setup() {
  const { calls, check } = manualCheck();
  const socket: FakeSocket = { connected: true, data: {} };
  const revoked: FakeSocket[] = [];
  const how: Recheck<FakeSocket> = { check, onRevoked: (s) => revoked.push(s) };
  return { calls, socket, revoked, how };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('checkedFirst', () => {
  it('runs the events of a connection after one check, in the order they came', async () => {
    const { calls, socket, how } = setup();
    markUnchecked(socket, token('a'), how);
    const ran: string[] = [];
    const first = checkedFirst(socket, how, 'join', record(ran, 'join'));
    const second = checkedFirst(socket, how, 'publish', record(ran, 'publish'));
    await tick();
    expect(calls.map((c) => c.hash)).toEqual(['a']);
    calls[0]!.answer(true);
    await Promise.all([first, second]);
    expect(ran).toEqual(['join', 'publish']);
    expect(socket.data.unchecked).toBeUndefined();
  });

  it('checks a token a refresh brought while the first check was out before it runs the event', async () => {
    const { calls, socket, how } = setup();
    markUnchecked(socket, token('a'), how);
    const ran: string[] = [];
    const event = checkedFirst(socket, how, 'join', record(ran, 'join'));
    await tick();
    markUnchecked(socket, token('b'), how);
    calls[0]!.answer(true);
    await tick();
    expect(ran).toEqual([]);
    expect(calls.map((c) => c.hash)).toEqual(['a', 'b']);
    calls[1]!.answer(true);
    await event;
    expect(ran).toEqual(['join']);
  });

  it('keeps the order when a checked refresh clears the token while a check is out', async () => {
    const { calls, socket, how } = setup();
    markUnchecked(socket, token('a'), how);
    const ran: string[] = [];
    const first = checkedFirst(socket, how, 'join', record(ran, 'first'));
    await tick();
    markChecked(socket);
    // The connection is still routed through the check: this event waits behind the first.
    expect(socket.data.unchecked).toBeDefined();
    const second = checkedFirst(socket, how, 'publish', record(ran, 'second'));
    calls[0]!.answer(true);
    await Promise.all([first, second]);
    expect(ran).toEqual(['first', 'second']);
  });

  it('does not run an event whose connection closed while its check was out', async () => {
    const { calls, socket, how } = setup();
    markUnchecked(socket, token('a'), how);
    const ran: string[] = [];
    const event = checkedFirst(socket, how, 'join', record(ran, 'join'));
    await tick();
    socket.connected = false;
    calls[0]!.answer(true);
    await expect(event).rejects.toMatchObject({ code: 'unavailable' });
    expect(ran).toEqual([]);
  });

  it('fails the event with token_revoked and closes the connection after that', async () => {
    const { calls, socket, revoked, how } = setup();
    markUnchecked(socket, token('a'), how);
    const event = checkedFirst(socket, how, 'join', () => ({}));
    await tick();
    calls[0]!.revoke();
    await expect(event).rejects.toMatchObject({ code: 'token_revoked' });
    expect(revoked).toEqual([]);
    await tick();
    expect(revoked).toEqual([socket]);
  });

  it('while the check cannot be made, refuses events but leave and refresh, and checks again next time', async () => {
    const { calls, socket, how } = setup();
    markUnchecked(socket, token('a'), how);
    const join = checkedFirst(socket, how, 'join', () => ({ joined: true }));
    await tick();
    calls[0]!.answer(false);
    await expect(join).rejects.toMatchObject({ code: 'unavailable' });
    const leave = checkedFirst(socket, how, 'leave', () => ({ left: true }));
    await tick();
    expect(calls).toHaveLength(2);
    calls[1]!.answer(false);
    await expect(leave).resolves.toEqual({ left: true });
    expect(socket.data.unchecked?.token?.hash).toBe('a');
  });
});

describe('checkedFirst, with a refresh in between', () => {
  it('runs the event when a refresh checked clean while the first check could not be made', async () => {
    const { calls, socket, how } = setup();
    markUnchecked(socket, token('a'), how);
    const event = checkedFirst(socket, how, 'join', () => ({ joined: true }));
    await tick();
    markChecked(socket);
    calls[0]!.answer(false);
    await expect(event).resolves.toEqual({ joined: true });
    expect(socket.data.unchecked).toBeUndefined();
  });
});

describe('the timed recheck of a connection that sends nothing', () => {
  it('makes no check once the connection has closed', async () => {
    vi.useFakeTimers();
    const { calls, socket, how } = setup();
    markUnchecked(socket, token('a'), how);
    socket.connected = false;
    await vi.advanceTimersByTimeAsync(RECHECK_MS * 3);
    expect(calls).toHaveLength(0);
  });

  it('starts no second timer when a refresh comes while its check is out', async () => {
    vi.useFakeTimers();
    const { calls, socket, how } = setup();
    markUnchecked(socket, token('a'), how);
    await vi.advanceTimersByTimeAsync(RECHECK_MS);
    expect(calls).toHaveLength(1);
    markUnchecked(socket, token('b'), how);
    calls[0]!.answer(false);
    await vi.advanceTimersByTimeAsync(RECHECK_MS);
    expect(calls.map((c) => c.hash)).toEqual(['a', 'b']);
    calls[1]!.answer(false);
    await vi.advanceTimersByTimeAsync(RECHECK_MS);
    expect(calls).toHaveLength(3);
  });

  it('waits for a connection still being admitted: its timer starts when it is accepted', async () => {
    vi.useFakeTimers();
    const { calls, socket, how } = setup();
    socket.connected = false;
    markUnchecked(socket, token('a'), how);
    await vi.advanceTimersByTimeAsync(RECHECK_MS * 2);
    expect(calls).toHaveLength(0);
    socket.connected = true;
    startRecheck(socket, how);
    await vi.advanceTimersByTimeAsync(RECHECK_MS);
    expect(calls).toHaveLength(1);
  });

  it('closes it once a check finds its token revoked, and stops once one finds it not', async () => {
    vi.useFakeTimers();
    const { calls, socket, revoked, how } = setup();
    markUnchecked(socket, token('a'), how);
    await vi.advanceTimersByTimeAsync(RECHECK_MS);
    expect(calls).toHaveLength(1);
    calls[0]!.answer(false);
    await vi.advanceTimersByTimeAsync(RECHECK_MS);
    expect(calls).toHaveLength(2);
    calls[1]!.revoke();
    await vi.advanceTimersByTimeAsync(0);
    expect(revoked).toEqual([socket]);

    const other = setup();
    markUnchecked(other.socket, token('b'), other.how);
    await vi.advanceTimersByTimeAsync(RECHECK_MS);
    other.calls[0]!.answer(true);
    await vi.advanceTimersByTimeAsync(RECHECK_MS * 3);
    expect(other.calls).toHaveLength(1);
    expect(other.socket.data.unchecked).toBeUndefined();
    expect(other.revoked).toEqual([]);
  });
});
