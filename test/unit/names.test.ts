import { describe, expect, it } from 'vitest';
import { RoomcastError } from '../../src/errors.js';
import {
  isValidRoomName,
  MAX_ROOM_NAME,
  messageChannel,
  parseRoomName,
  presenceChannel,
} from '../../src/rooms/names.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof RoomcastError ? err.code : `not a RoomcastError: ${String(err)}`;
  }
  return undefined;
}

describe('room names', () => {
  it.each([
    'a',
    'chat:lobby',
    'user:alice@example.com',
    'a/b/c',
    'x=1',
    'A-Z_0.9',
    '__proto__',
    'constructor',
    'toString',
    'a'.repeat(MAX_ROOM_NAME),
  ])('accepts %s', (name) => {
    expect(parseRoomName(name)).toBe(name);
    expect(isValidRoomName(name)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['too long', 'a'.repeat(MAX_ROOM_NAME + 1)],
    ['space', 'chat lobby'],
    ['star', 'chat:*'],
    ['hash (the internal prefix)', '#chat'],
    ['braces', 'user:{sub}'],
    ['unicode letter', 'café'],
    ['emoji', 'chat:😀'],
    ['fullwidth colon', 'chat：1'],
    ['newline', 'chat\n1'],
    ['nul', 'chat\u00001'],
    ['percent', 'chat%2F1'],
    ['question mark', 'chat?x'],
    ['backslash', 'a\\b'],
    ['plus', 'a+b'],
  ])('refuses %s with invalid_room', (_what, name) => {
    expect(codeOf(() => parseRoomName(name))).toBe('invalid_room');
    expect(isValidRoomName(name)).toBe(false);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['number', 42],
    ['array', ['chat']],
    ['object', { toString: () => 'chat' }],
    ['boolean', true],
  ])('refuses a non-string (%s) with invalid_room', (_what, value) => {
    expect(codeOf(() => parseRoomName(value))).toBe('invalid_room');
    expect(isValidRoomName(value)).toBe(false);
  });

  it('applies a smaller configured limit', () => {
    expect(parseRoomName('a'.repeat(10), 10)).toHaveLength(10);
    expect(codeOf(() => parseRoomName('a'.repeat(11), 10))).toBe('invalid_room');
  });

  it('keeps client rooms apart from socket ids and from each other', () => {
    // Socket ids never start with '#', and no room name holds '#', so channels cannot collide.
    expect(messageChannel('chat')).toBe('#chat');
    expect(presenceChannel('chat')).toBe('#p#chat');
    expect(messageChannel('p#chat')).toBe(presenceChannel('chat'));
    expect(isValidRoomName('p#chat')).toBe(false);
  });
});
