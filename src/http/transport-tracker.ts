import type { RoomcastSocket } from '../socket/connection.js';
import type { RoomcastNamespace } from '../socket/namespaces.js';

/**
 * Keeps, for one namespace on this node, which sockets are still on HTTP long-polling and how many
 * of them are in each room's message channel, so that a broadcast's deliveries can be split by
 * transport from two lookups instead of a walk over its recipients. The counts change only at
 * join, leave, upgrade (polling -> websocket) and disconnect, from the adapter's own
 * `join-room`/`leave-room` events.
 */
export interface TransportTracker {
  /** Members of a room's message channel here (the channel's name, not the room's), `except` left out. */
  members(channel: string, except: string | undefined): number;
  /** How many of those members poll (HTTP long-polling), `except` left out. */
  polling(channel: string, except: string | undefined): number;
  socketCount(): number;
  pollingCount(): number;
  /** Rooms with at least one member on this node. */
  roomCount(): number;
}

interface AdapterView {
  rooms: Map<string, Set<string>>;
  on(event: 'join-room' | 'leave-room', listener: (room: string, id: string) => void): unknown;
}

const isMessageChannel = (room: string) => room.startsWith('#') && !room.startsWith('#p#');

export function createTransportTracker(nsp: RoomcastNamespace): TransportTracker {
  const adapter = nsp.adapter as unknown as AdapterView;
  const polling = new Set<string>();
  const pollingIn = new Map<string, number>();

  const add = (channel: string, n: number) => {
    const next = (pollingIn.get(channel) ?? 0) + n;
    if (next > 0) pollingIn.set(channel, next);
    else pollingIn.delete(channel);
  };
  adapter.on('join-room', (room, id) => {
    if (polling.has(id) && isMessageChannel(room)) add(room, 1);
  });
  adapter.on('leave-room', (room, id) => {
    if (polling.has(id) && isMessageChannel(room)) add(room, -1);
  });
  nsp.on('connection', (socket: RoomcastSocket) => {
    if (socket.conn.transport.name !== 'polling') return;
    const id = socket.id;
    polling.add(id);
    socket.conn.once('upgrade', () => {
      if (!polling.delete(id)) return;
      for (const room of socket.rooms) if (isMessageChannel(room)) add(room, -1);
    });
    // Socket.IO leaves every room (firing leave-room) before `disconnect`.
    socket.once('disconnect', () => polling.delete(id));
  });

  return {
    members(channel, except) {
      const members = adapter.rooms.get(channel);
      if (!members) return 0;
      return except !== undefined && members.has(except) ? members.size - 1 : members.size;
    },
    polling(channel, except) {
      // Most nodes have no socket left on long-polling: then no count to look up.
      if (polling.size === 0) return 0;
      const n = pollingIn.get(channel) ?? 0;
      return except !== undefined && polling.has(except) && adapter.rooms.get(channel)?.has(except)
        ? n - 1
        : n;
    },
    socketCount: () => nsp.sockets.size,
    pollingCount: () => polling.size,
    roomCount() {
      let n = 0;
      for (const room of adapter.rooms.keys()) if (isMessageChannel(room)) n++;
      return n;
    },
  };
}
