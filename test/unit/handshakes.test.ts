import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { type EngineConn, handshakesOf } from '../../src/socket/limits.js';

/** A Socket.IO server as the handshake count sees it: an engine that announces connections. */
function fakeServer() {
  const engine = new EventEmitter();
  const handshakes = handshakesOf({ engine });
  const open = (): { readyState: string } => {
    const conn = { readyState: 'open' };
    engine.emit('connection', conn);
    return conn;
  };
  return { handshakes, open };
}

describe('the handshake count (limits.maxConnections)', () => {
  it('counts a handshake until a namespace takes it', () => {
    const { handshakes, open } = fakeServer();
    const a = open();
    open();
    expect(handshakes.waiting).toBe(2);
    handshakes.admitting(a);
    expect(handshakes.waiting).toBe(1);
    handshakes.connected(a);
    expect(handshakes.waiting).toBe(1);
    expect(handshakes.isWaiting(a)).toBe(false);
  });

  it('finds closed handshakes behind open ones, a few per call, going round all of them', () => {
    const { handshakes, open } = fakeServer();
    const conns: EngineConn[] = [];
    for (let i = 0; i < 20; i++) conns.push(open());
    // The oldest ten stay open; of the newest ten, every other one closes.
    const closed = conns.slice(10).filter((_, i) => i % 2 === 0) as Array<{ readyState: string }>;
    for (const c of closed) c.readyState = 'closed';
    expect(handshakes.waiting).toBe(20);
    // Each call checks 4 (a round's end counts as one): six calls go round all 20, starting anywhere.
    // Checking the oldest 4 each time would never reach the closed ones.
    for (let i = 0; i < 6; i++) handshakes.prune(4);
    expect(handshakes.waiting).toBe(15);
    for (const c of closed) expect(handshakes.isWaiting(c)).toBe(false);
  });

  it('reaches handshakes that arrive while a round is under way, and the oldest again after it', () => {
    const { handshakes, open } = fakeServer();
    const first = open() as { readyState: string };
    open();
    handshakes.prune(1);
    const late = open() as { readyState: string };
    late.readyState = 'closed';
    first.readyState = 'closed';
    for (let i = 0; i < 4; i++) handshakes.prune(1);
    expect(handshakes.isWaiting(first)).toBe(false);
    expect(handshakes.isWaiting(late)).toBe(false);
    expect(handshakes.waiting).toBe(1);
  });

  it('drops every closed handshake at once when asked for all', () => {
    const { handshakes, open } = fakeServer();
    const conns = Array.from({ length: 50 }, () => open() as { readyState: string });
    for (const c of conns.slice(0, 30)) c.readyState = 'closed';
    handshakes.prune();
    expect(handshakes.waiting).toBe(20);
  });

  it('stops on an empty count without looping', () => {
    const { handshakes } = fakeServer();
    handshakes.prune(4);
    expect(handshakes.waiting).toBe(0);
  });
});
