import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clusterKeys, KEY_LAYOUT, parseRoomChannel, roomKeys } from '../../src/backends/redis-keys.js';

const DOC = readFileSync(resolve(import.meta.dirname, '../../docs/cluster.md'), 'utf8');

/** The rows of the key table in docs/cluster.md, `\|` read as `|`. */
function docRows(): Array<{ key: string; type: string; holds: string }> {
  const section = DOC.slice(DOC.indexOf('### Redis key layout'));
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const cells = line
        .slice(2, -2)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim().replaceAll('\\|', '|'));
      return { key: cells[0]!.replace(/^`|`$/g, ''), type: cells[1]!, holds: cells[2]! };
    });
}

describe('Redis keys', () => {
  it('docs/cluster.md shows exactly the key table of redis-keys.ts', () => {
    expect(docRows()).toEqual(KEY_LAYOUT);
  });

  it('builds every key of the table, with one hash tag per room', () => {
    const k = roomKeys('P', 'ns', 'room');
    const c = clusterKeys('P');
    const built = [
      k.stream,
      k.history,
      k.connections,
      k.users,
      k.info,
      k.idempotency('<key>'),
      k.channel,
      c.rooms('<ns>'),
      c.nodes,
      c.reaping,
      c.node('<id>'),
      c.reaped('<id>'),
      c.idempotency('<ns>', '<key>'),
    ];
    expect(built).toEqual(KEY_LAYOUT.slice(0, built.length).map((r) => r.key));
    const tag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];
    expect(new Set([k.stream, k.history, k.connections, k.users, k.info, k.channel].map(tag))).toEqual(
      new Set(['ns:room']),
    );
  });

  it('reads a room channel back, and nothing else', () => {
    const channel = roomKeys('roomcast', '/chat', 'a:b/c').channel;
    expect(parseRoomChannel('roomcast', channel)).toEqual({ ns: '/chat', room: 'a:b/c' });
    expect(parseRoomChannel('other', channel)).toBeNull();
    expect(parseRoomChannel('roomcast', 'roomcast#/#')).toBeNull();
    expect(parseRoomChannel('roomcast', roomKeys('roomcast', '/', 'x').stream)).toBeNull();
  });
});
