#!/usr/bin/env python3
"""Publishes one message to a room through roomcast's server API and prints who is in the room,
as one JSON line: what a Django (or any Python) backend does, with the standard library only.

    ROOMCAST_URL=http://localhost:3000 ROOMCAST_API_KEY=... python3 examples/python/publish.py

Optional: ROOMCAST_ROOM (default "chat:lobby"), ROOMCAST_NAMESPACE (default "/"), ROOMCAST_TEXT
(the message text). Exits 1 with "roomcast: <code> (HTTP <status>): <message>" on stderr when a
call fails.
"""
import json
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request


class RoomcastError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code = status, code


class Roomcast:
    """The server API over HTTP: `Authorization: Bearer <key>`, JSON in and out."""

    def __init__(self, url, key, namespace="/", timeout=5.0):
        self.url, self.key, self.namespace, self.timeout = url.rstrip("/"), key, namespace, timeout

    def publish(self, room, event, data, idempotency_key=None):
        body = {"namespace": self.namespace, "room": room, "event": event, "data": data}
        if idempotency_key:
            body["idempotencyKey"] = idempotency_key
        return self._call("POST", "/v1/publish", body)["results"][0]

    def presence(self, room):
        path = f"/v1/rooms/{urllib.parse.quote(room, safe='')}/presence"
        query = urllib.parse.urlencode({"namespace": self.namespace})
        return self._call("GET", f"{path}?{query}")["members"]

    def _call(self, method, path, body=None):
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"authorization": f"Bearer {self.key}", "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as err:
            try:
                error = json.load(err)["error"]
                code, message = error["code"], error.get("message", "")
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", str(err.reason)
            raise RoomcastError(err.code, code, message) from None
        except ValueError as err:  # a 2xx reply that is not JSON: not roomcast answering
            raise RoomcastError(0, "bad_reply", str(err)) from None
        except (urllib.error.URLError, OSError) as err:
            raise RoomcastError(0, "unavailable", str(err)) from None


def main():
    key = os.environ.get("ROOMCAST_API_KEY")
    if not key:
        print("set ROOMCAST_API_KEY (the broker prints one at start in development)", file=sys.stderr)
        return 2
    rc = Roomcast(
        os.environ.get("ROOMCAST_URL", "http://localhost:3000"),
        key,
        os.environ.get("ROOMCAST_NAMESPACE", "/"),
    )
    room = os.environ.get("ROOMCAST_ROOM", "chat:lobby")
    text = os.environ.get("ROOMCAST_TEXT", "Hello from Python")
    try:
        # An idempotency key per message: a retry with the same key (after a timeout, say) is
        # answered with the first result, and the room gets the message once.
        result = rc.publish(room, "message", {"text": text}, f"python-example-{secrets.token_hex(8)}")
        members = rc.presence(room)
    except RoomcastError as err:
        print(f"roomcast: {err.code} (HTTP {err.status}): {err}", file=sys.stderr)
        return 1
    print(json.dumps({"published": result, "members": members}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
