#!/usr/bin/env python3
"""Subscribes to a roomcast room from Python with python-socketio, and prints every message once,
in order, as one JSON line (the envelope, and "replayed": true for one that came from history).

It does what the roomcast SDK does for a room, over plain Socket.IO:
- on every (re)connect it joins again from the last position it saw, so messages published
  while it was away come back in the join reply;
- a live message past a gap in the offsets (possible in a cluster) waits until the missing ones
  are read from history;
- a copy of a message it has printed already is skipped;
- with POSITION_FILE, the next run resumes where this one stopped.

    sudo apt-get install python3-socketio python3-websocket python3-requests   # Debian, Ubuntu
    ROOMCAST_TOKEN=<token> python3 examples/python/subscribe.py chat:lobby

Env: ROOMCAST_URL (default http://localhost:3000), ROOMCAST_TOKEN (a user JWT: the demo token
`npm start` prints), POSITION_FILE (optional: resume from and save the room's position),
ROOMCAST_TRANSPORTS (optional: "websocket", "polling", or python-socketio's default of polling
upgraded to WebSocket), ROOMCAST_MESSAGES (optional: exit 0 after this many messages).
Exits 1 with "roomcast: <code>: <message>" on stderr when the broker refuses the token or the
join; a connection lost or closed by the broker is opened again.
"""
import json
import os
import queue
import sys
import time

import socketio

room = sys.argv[1] if len(sys.argv) > 1 else "chat:lobby"
url = os.environ.get("ROOMCAST_URL", "http://localhost:3000")
token = os.environ.get("ROOMCAST_TOKEN")
position_file = os.environ.get("POSITION_FILE")
transports = os.environ.get("ROOMCAST_TRANSPORTS")
wanted = int(os.environ.get("ROOMCAST_MESSAGES", "0"))
if not token:
    print("set ROOMCAST_TOKEN to a user JWT (npm start prints a demo token)", file=sys.stderr)
    sys.exit(64)

# Refusals no new attempt with the same token can get past.
TOKEN_REFUSED = ("token_missing", "token_invalid", "token_expired", "token_revoked")

# Handlers run on python-socketio's reader thread, where a blocking call() would wait for itself:
# they only queue what happened, and the main thread acts on it in order. The main thread also
# reconnects (python-socketio's own reconnection is off): a connection the broker closes (a
# restart, `POST /v1/disconnect`) is not one python-socketio would open again.
events = queue.Queue()
last_refusal = {"data": None}
sio = socketio.Client(reconnection=False)
sio.on("connect", lambda: events.put(("connect", None)))
sio.on("disconnect", lambda: events.put(("disconnect", None)))
sio.on("connect_error", lambda data: last_refusal.update(data=data))
sio.on("message", lambda envelope: events.put(("message", envelope)))
sio.on("closing", lambda data: print(f"server closing: {data.get('code')}", file=sys.stderr))


def fail(code, message):
    print(f"roomcast: {code}: {message}", file=sys.stderr)
    sio.disconnect()
    sys.exit(1)


def refusal(data):
    """The code and message of a `connect_error`: roomcast puts `{ code, message }` in its `data`."""
    info = data.get("data") if isinstance(data, dict) else None
    if isinstance(info, dict) and "code" in info:
        return info["code"], info.get("message", "")
    return None, str(data)


def read_position():
    try:
        with open(position_file) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save_position():
    # Written aside and renamed: a run stopped mid-write leaves the previous position, not half of one.
    with open(position_file + ".tmp", "w") as f:
        json.dump(position, f)
    os.replace(position_file + ".tmp", position_file)


position = read_position() if position_file else None  # {"offset": n, "epoch": "..."}
printed = 0


def show(envelope, replayed):
    """Prints a message once: one already seen (a live copy of a replayed one) is skipped."""
    global position, printed
    if position and envelope["epoch"] == position["epoch"] and envelope["offset"] <= position["offset"]:
        return
    if position and envelope["epoch"] != position["epoch"]:
        print(f"the room started a new epoch: messages after #{position['offset']} may be lost", file=sys.stderr)
    print(json.dumps({**envelope, "replayed": replayed}), flush=True)
    position = {"offset": envelope["offset"], "epoch": envelope["epoch"]}
    if position_file:
        save_position()
    printed += 1
    if wanted and printed >= wanted:
        sio.disconnect()
        sys.exit(0)


def ask(event, request):
    """An acknowledged request, or None when the connection dropped before the answer."""
    try:
        reply = sio.call(event, request, timeout=10)
    except (socketio.exceptions.BadNamespaceError, socketio.exceptions.TimeoutError):
        if not sio.connected:
            return None  # the disconnect event is queued: reconnecting joins again
        fail("timeout", f"the broker did not answer `{event}` within 10 s")
    if not reply.get("ok"):
        fail(reply["error"]["code"], reply["error"]["message"])
    return reply


def join():
    """Joins from the last position seen; the reply carries what was published since."""
    global position
    reply = ask("join", {"room": room, **({"since": position} if position else {})})
    if reply is None:
        return
    if position and not reply["recovered"]:
        print(f"history no longer reaches back to #{position['offset']}: messages were lost", file=sys.stderr)
        position = None
    print(f"joined {room} at #{reply['offset']}", file=sys.stderr)
    for envelope in reply["messages"]:
        show(envelope, True)
    if position is None:
        position = {"offset": reply["offset"], "epoch": reply["epoch"]}
        # Saved now too: a run that sees no message still resumes the next one from here.
        if position_file:
            save_position()


def live(envelope):
    """A live message; one past a gap first has the messages before it read from history."""
    if position and envelope["epoch"] == position["epoch"] and envelope["offset"] > position["offset"] + 1:
        reply = ask("history", {"room": room, "since": position})
        if reply is None:
            return  # reconnecting: the join reply brings all of it
        for missed in reply["messages"]:
            if missed["offset"] < envelope["offset"]:
                show(missed, True)
        if position["offset"] + 1 < envelope["offset"]:
            print(f"history no longer has #{position['offset'] + 1}: messages were lost", file=sys.stderr)
    show(envelope, False)


def connect():
    """Connects, again and again with a growing pause, until the broker takes the connection."""
    delay = 0.5
    while True:
        last_refusal["data"] = None
        try:
            sio.connect(url, auth={"token": token}, transports=transports.split(",") if transports else None)
            return
        except socketio.exceptions.ConnectionError as err:
            code, message = refusal(last_refusal["data"])
            if code in TOKEN_REFUSED:
                fail(code, message)
            print(f"cannot connect ({code or err}); again in {delay:.1f} s", file=sys.stderr)
        except ValueError:
            # "not in a disconnected state": the last connection is still being closed.
            time.sleep(0.05)
            continue
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


try:
    connect()
    while True:
        kind, data = events.get()
        if kind == "connect":
            join()
        elif kind == "message":
            live(data)
        elif kind == "disconnect":
            # python-socketio reports the disconnect before its threads have finished with the
            # old connection; a connect() in between can be undone by that teardown. wait()
            # returns once they are done (and a second later).
            sio.wait()
            connect()
except KeyboardInterrupt:
    sio.disconnect()
