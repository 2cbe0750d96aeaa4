import type { Socket } from 'socket.io-client';
import type { ClientToServerEvents, ReplyOf, RequestOf, ServerToClientEvents } from '../protocol.js';
import { ClientError, type ClientErrorCode, failure, type Result } from './errors.js';

/** The socket.io-client socket of a roomcast connection, typed by the protocol. */
export type RoomcastSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

interface TimedEmitter {
  timeout(ms: number): {
    emit(event: string, payload: unknown, ack: (err: Error | null, reply: unknown) => void): void;
  };
}

/**
 * Emits one client event on `socket` and resolves with its acknowledgement as a `Result`: the
 * server's `{ ok: false, error }` becomes a `ClientError` with its code, no reply within `timeoutMs`
 * is `timeout`, a connection that drops first is `disconnected`. Never rejects.
 *
 * @example
 * const res = await ack(socket, 'presence', { room: 'chat:1' }, 10_000);
 * if (res.ok) console.log(res.members);
 */
export function ack<E extends keyof ClientToServerEvents>(
  socket: RoomcastSocket,
  event: E,
  payload: RequestOf<E>,
  timeoutMs: number,
  room?: string,
): Promise<Result<ReplyOf<E>>> {
  const about = room === undefined ? {} : { room };
  return new Promise((resolve) => {
    if (!socket.connected) {
      resolve(failure('disconnected', `not connected; "${event}" was not sent`, about));
      return;
    }
    const emitter = (socket as unknown as TimedEmitter).timeout(timeoutMs);
    const answer = (err: Error | null, reply: unknown) => {
      if (err) {
        const code: ClientErrorCode = socket.connected ? 'timeout' : 'disconnected';
        const message =
          code === 'timeout'
            ? `no acknowledgement of "${event}" within ${timeoutMs} ms`
            : `the connection dropped before "${event}" was acknowledged`;
        resolve(failure(code, message, { ...about, cause: err }));
        return;
      }
      resolve(toResult<ReplyOf<E>>(reply, about));
    };
    try {
      emitter.emit(event, payload, answer);
    } catch (err) {
      // socket.io-client encodes at once: a payload JSON cannot carry (a BigInt, a cycle) throws.
      resolve(
        failure('bad_request', `"${event}" could not be sent: ${(err as Error).message}`, {
          ...about,
          cause: err,
        }),
      );
    }
  });
}

function toResult<T extends object>(reply: unknown, about: { room?: string }): Result<T> {
  if (typeof reply !== 'object' || reply === null || typeof (reply as { ok?: unknown }).ok !== 'boolean') {
    return failure('internal', 'the server sent a malformed acknowledgement', about);
  }
  if ((reply as { ok: boolean }).ok) return reply as { ok: true } & T;
  const error = (reply as { error?: { code?: unknown; message?: unknown } }).error;
  const code = typeof error?.code === 'string' ? (error.code as ClientErrorCode) : 'internal';
  const message = typeof error?.message === 'string' ? error.message : 'request failed';
  return { ok: false, error: new ClientError(code, message, about) };
}
