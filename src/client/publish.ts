import type { PublishReply, PublishRequest } from '../protocol.js';
import type { Result } from './errors.js';

/** Options of `room.publish` and `client.publish`. */
export interface PublishOptions {
  /** Deliver the message to this connection too. */
  echo?: boolean;
  /**
   * 1-128 characters. The SDK makes a fresh one for every publish; give your own to make a
   * publish you repeat yourself (after a reload, from an outbox) count once too.
   */
  idempotencyKey?: string;
}

/** How many times a publish whose acknowledgement was lost is sent again (same key): 2. */
export const PUBLISH_RETRIES = 2;

/**
 * Sends a publish, and sends it again with the same `idempotencyKey` while its acknowledgement
 * is lost (`timeout`, `disconnected`: it may or may not have been applied), up to `retries` more
 * times. The broker applies one key once per room within its idempotency window, so the message
 * is delivered once and every attempt answers the same offset.
 *
 * @example
 * const res = await publishOnce(payloadWithKey, (p) => host.request('publish', p, { room }), 2);
 */
export async function publishOnce(
  payload: PublishRequest,
  send: (payload: PublishRequest) => Promise<Result<PublishReply>>,
  retries: number,
): Promise<Result<PublishReply>> {
  let res = await send(payload);
  for (let attempt = 0; attempt < retries && isLost(res); attempt++) res = await send(payload);
  return res;
}

/** The payload of one publish, with the caller's key or a fresh one. */
export function publishPayload(
  room: string,
  event: string,
  data: unknown,
  opts: PublishOptions,
): PublishRequest {
  return {
    room,
    event,
    data,
    ...(opts.echo ? { echo: true } : {}),
    idempotencyKey: opts.idempotencyKey ?? newIdempotencyKey(),
  };
}

interface WebCrypto {
  randomUUID?: () => string;
  getRandomValues?: (array: Uint32Array) => Uint32Array;
}

/**
 * A random key: `crypto.randomUUID()` where there is one (Node, pages served over https or from
 * localhost), else 128 random bits from `crypto.getRandomValues` (plain-http pages), else from
 * `Math.random`.
 */
export function newIdempotencyKey(): string {
  const crypto = (globalThis as { crypto?: WebCrypto }).crypto;
  if (typeof crypto?.randomUUID === 'function') return crypto.randomUUID();
  const words = new Uint32Array(4);
  if (typeof crypto?.getRandomValues === 'function') crypto.getRandomValues(words);
  else for (let i = 0; i < words.length; i++) words[i] = Math.floor(Math.random() * 2 ** 32);
  return Array.from(words, (w) => w.toString(16).padStart(8, '0')).join('');
}

function isLost(res: Result<PublishReply>): boolean {
  return !res.ok && (res.error.code === 'timeout' || res.error.code === 'disconnected');
}
