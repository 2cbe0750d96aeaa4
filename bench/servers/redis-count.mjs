/**
 * Counts, in a server process, the Redis commands it sends (by name, pipelined ones included)
 * and the pub/sub messages it receives, by patching the ioredis prototype that both roomcast
 * and the stock adapter use. Installed before the server creates its clients.
 */
import { Redis } from 'ioredis';

const sent = Object.create(null);
const received = { message: 0, pmessage: 0, smessage: 0 };

const sendCommand = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function countedSendCommand(command, ...rest) {
  let name = String(command?.name ?? '?').toLowerCase();
  // Scripts apart: `evalsha:1a2b3c4d` (the first characters of the script's SHA1).
  if (name === 'evalsha') name = `evalsha:${String(command.args?.[0] ?? '').slice(0, 8)}`;
  sent[name] = (sent[name] ?? 0) + 1;
  return sendCommand.call(this, command, ...rest);
};

const emit = Redis.prototype.emit;
Redis.prototype.emit = function countedEmit(event, ...args) {
  // ioredis emits each message twice (string and Buffer forms); count the Buffer form only.
  if (event === 'messageBuffer') received.message++;
  else if (event === 'pmessageBuffer') received.pmessage++;
  else if (event === 'smessageBuffer') received.smessage++;
  return emit.call(this, event, ...args);
};

/** Totals so far: `{ sent: { [command]: n }, received: { message, pmessage, smessage } }`. */
export function redisCounts() {
  return { sent: { ...sent }, received: { ...received } };
}
