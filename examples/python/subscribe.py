#!/usr/bin/env python3
"""Subscribes to a roomcast room from Python with python-socketio, and prints every message once,
in order, as one JSON line (the envelope, and "replayed": true for one that came from history).
On every (re)connect it joins again from the last position it saw, so messages published while
it was away come back from the room's history; with POSITION_FILE it also resumes where the
previous run stopped.

    sudo apt-get install python3-socketio python3-websocket python3-requests   # Debian, Ubuntu
    ROOMCAST_TOKEN=<token> python3 examples/python/subscribe.py chat:lobby

Env: ROOMCAST_URL (default http://localhost:3000), ROOMCAST_TOKEN (a user JWT: the demo token
`npm start` prints), POSITION_FILE (optional: resume from and save the room's position),
ROOMCAST_TRANSPORTS (optional: "websocket", "polling", or python-socketio's default of polling
upgraded to WebSocket), ROOMCAST_MESSAGES (optional: exit 0 after this many messages).
Exits 1 with "roomcast: <code>: <message>" on stderr when the broker refuses the connection or
the join.
"""
import json
import os
import queue
import sys

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


def fail(code, message):
    print(f"roomcast: {code}: {message}", file=sys.stderr)
    sio.disconnect()  # python-socketio's threads would keep the process alive
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


# Handlers run on python-socketio's reader thread, where a blocking call() would wait for
# itself: they only queue what happened, and the main thread acts on it in order.
events = queue.Queue()
sio = socketio.Client(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=5)
sio.on("connect", lambda: events.put(("connect", None)))
sio.on("connect_error", lambda data: events.put(("refused", data)))
sio.on("message", lambda envelope: events.put(("message", envelope)))
sio.on("closing", lambda data: print(f"server closing: {data.get('code')}", file=sys.stderr))

position = read_position() if position_file else None  # {"offset": n, "epoch": "..."}
printed = 0


def show(envelope, replayed):
    """Prints a message once: one already seen (a live copy of a replayed one) is skipped."""
    global position, printed
    if position and envelope["epoch"] == position["epoch"] and envelope["offset"] <= position["offset"]:
        return
    print(json.dumps({**envelope, "replayed": replayed}), flush=True)
    position = {"offset": envelope["offset"], "epoch": envelope["epoch"]}
    if position_file:
        with open(position_file, "w") as f:
            json.dump(position, f)
    printed += 1
    if wanted and printed >= wanted:
        sio.disconnect()
        sys.exit(0)


def join():
    """Joins from the last position seen; the reply carries what was published since."""
    global position
    request = {"room": room, **({"since": position} if position else {})}
    try:
        reply = sio.call("join", request, timeout=10)
    except socketio.exceptions.BadNamespaceError:
        return  # the connection dropped meanwhile: the next connect joins again
    except socketio.exceptions.TimeoutError:
        fail("timeout", "the broker did not answer the join within 10 s")
    if not reply.get("ok"):
        fail(reply["error"]["code"], reply["error"]["message"])
    if position and not reply["recovered"]:
        print(f"history no longer reaches back to #{position['offset']}: messages were lost", file=sys.stderr)
        position = None
    print(f"joined {room} at #{reply['offset']}", file=sys.stderr)
    for envelope in reply["messages"]:
        show(envelope, True)
    if position is None:
        position = {"offset": reply["offset"], "epoch": reply["epoch"]}


try:
    sio.connect(url, auth={"token": token}, transports=transports.split(",") if transports else None)
except socketio.exceptions.ConnectionError as err:
    kind, data = events.get_nowait() if not events.empty() else (None, None)
    code, message = refusal(data) if kind == "refused" else (None, None)
    if code:
        fail(code, message)
    fail("unavailable", str(err))

try:
    while True:
        kind, data = events.get()
        if kind == "connect":
            join()
        elif kind == "message":
            show(data, False)
        elif kind == "refused":
            # A reconnect refused for good (a revoked or expired token): no point in retrying.
            code, message = refusal(data)
            if code in ("token_missing", "token_invalid", "token_expired", "token_revoked"):
                fail(code, message)
except KeyboardInterrupt:
    sio.disconnect()
