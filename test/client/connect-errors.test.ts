import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectError } from '../../src/errors.js';
import type { ConnectErrorCode } from '../../src/protocol.js';
import { closeSdkClients, nextClientEvent, sdkClient } from './helpers.js';

/** A bare Socket.IO server that refuses every connection with the code of its `auth.token`. */
let io: Server;
let url: string;
beforeAll(async () => {
  const http = createServer();
  io = new Server(http);
  io.use((socket, next) => {
    const code = (socket.handshake.auth as { token?: ConnectErrorCode }).token ?? 'internal';
    next(connectError(code, `refused: ${code}`));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterEach(() => closeSdkClients());
afterAll(() => io.close());

describe('SDK and the connect-error codes of the catalogue', () => {
  it('stops at token_revoked, as at any refused token: no reconnect', async () => {
    const client = sdkClient({ url, token: 'token_revoked' });
    const stopped = await nextClientEvent(client, 'disconnected');
    expect(stopped).toMatchObject({
      reason: 'token_revoked',
      error: { code: 'token_revoked', temporary: false },
    });
    expect(client.state).toBe('disconnected');
  });

  it('tries again after too_many_connections and unavailable (temporary)', async () => {
    for (const code of ['too_many_connections', 'unavailable'] as const) {
      const client = sdkClient({ url, token: code });
      const retry = await nextClientEvent(client, 'reconnecting');
      expect(retry.error, code).toMatchObject({ code, temporary: true, message: `refused: ${code}` });
      client.close();
    }
  });
});
