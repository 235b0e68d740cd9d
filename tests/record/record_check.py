"""Drives games with a real WebSocket client and checks their recordings
with the `mcap` Python package (the reader Foxglove's tools are built on).

  record_check.py drive-echo PORT TRANSCRIPT [TOKEN]
                                                  a scripted session, saved (the
                                                  token in each URL's query)
  record_check.py check-echo FILE TRANSCRIPT      the file holds it exactly
  record_check.py drive-demo PORT TRANSCRIPT      watch the demo, send a command
  record_check.py check-demo FILE TRANSCRIPT      the file holds what went by
  record_check.py drive-many PORT COUNT           COUNT echoes on one channel
  record_check.py wait-readable FILE COUNT        until a non-seeking read sees
                                                  COUNT echoes (the game still runs)
  record_check.py check-cut FILE COUNT            a killed game's file: read up
                                                  to its last chunk, COUNT there
  record_check.py check-gaps FILE                 gap records account for skips
  record_check.py check-secret FILE SECRET        SECRET is nowhere in the file's
                                                  metadata, channels or messages

Exits non-zero, saying why, when a check fails.
"""

import json
import os
import stat
import sys
import time

from mcap.reader import NonSeekingReader, make_reader
from websockets.sync.client import connect

EVENTS = "/ipc/events"
GAPS = "/ipc/gaps"


def fail(message):
    raise SystemExit(f"record_check: {message}")


def expect(condition, message):
    if not condition:
        fail(message)


def as_record(message):
    """A websockets message as [kind, payload as a list of byte values]."""
    if isinstance(message, str):
        return ["text", list(message.encode())]
    return ["binary", list(message)]


def drive_echo(port, transcript, token=None):
    script = [
        '{"op":"inc","n":1}',
        "not json",
        bytes([0, 1, 2, 255]),
        '{"op":"inc","n":2}',
        "é ünïcode",
        bytes(range(256)) * 8,
    ]
    sessions = []
    for path in ["/tool?x=1", "/second"]:
        exchanged = []
        url = f"ws://127.0.0.1:{port}{path}"
        if token:
            url += ("&" if "?" in path else "?") + f"token={token}"
        with connect(url, max_size=None) as ws:
            for message in script:
                ws.send(message)
                answer = ws.recv(timeout=10)
                expect(answer == message, f"echo of {message!r} was {answer!r}")
                exchanged.append(["received"] + as_record(message))
                exchanged.append(["sent"] + as_record(answer))
            ws.close(code=1000, reason="done")
        sessions.append({"path": path, "messages": exchanged, "close": [1000, "done"]})
    with open(transcript, "w") as out:
        json.dump(sessions, out)
    print(f"drive-echo: {len(sessions)} sessions of {len(script)} messages each way")


def read_all(path):
    """Every message of a complete file, in log-time order, with its channel."""
    with open(path, "rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        expect(summary is not None, "the file has no summary (not finished)")
        metadata = {m.name: dict(m.metadata) for m in reader.iter_metadata()}
        messages = [
            (channel, message)
            for _schema, channel, message in reader.iter_messages(log_time_order=False)
        ]
    return metadata, messages


def sessions_in(messages):
    """Per IPC channel: its opened and closed events and its messages in file order."""
    sessions = {}
    for channel, message in messages:
        if channel.topic == EVENTS:
            event = json.loads(message.data)
            entry = sessions.setdefault(event["channel"], {"messages": []})
            entry[event["event"]] = event
        elif channel.topic.startswith("/ipc/") and channel.topic != GAPS:
            meta = channel.metadata
            entry = sessions.setdefault(int(meta["ipc_channel"]), {"messages": []})
            expect(
                channel.topic == f"/ipc/{meta['ipc_channel']}/{meta['direction']}/{meta['kind']}",
                f"topic {channel.topic} does not match its metadata {meta}",
            )
            entry["messages"].append(
                [meta["direction"], meta["kind"], list(message.data), channel.message_encoding, message.sequence]
            )
    return sessions


def check_mode(path):
    mode = stat.S_IMODE(os.stat(path).st_mode)
    expect(mode == 0o600, f"{path} has mode {oct(mode)}, not 0600")


def check_echo(path, transcript):
    check_mode(path)
    with open(transcript) as source:
        expected = json.load(source)
    metadata, messages = read_all(path)
    meta = metadata.get("fiasco-ipc")
    expect(meta is not None, f"no fiasco-ipc metadata: {metadata}")
    for key in ["game", "start_time", "start_time_ns", "host_version", "ports"]:
        expect(key in meta, f"metadata lacks {key}: {meta}")
    # Log times never go back within a channel and direction.
    sessions = sessions_in(messages)
    by_path = {s["opened"]["path"]: s for s in sessions.values() if "opened" in s}
    for session in expected:
        got = by_path.get(session["path"])
        expect(got is not None, f"no recorded channel for {session['path']}: {list(by_path)}")
        expect(got["opened"]["link"] == "inbound", got["opened"])
        mine = [m[:3] for m in got["messages"]]
        expect(
            mine == session["messages"],
            f"{session['path']}: recorded {len(mine)} messages, the client exchanged {len(session['messages'])}; "
            f"first difference at {next((i for i, (a, b) in enumerate(zip(mine, session['messages'])) if a != b), None)}",
        )
        # A text channel whose first message is JSON is a JSON channel.
        encodings = {(m[0], m[1]): m[3] for m in got["messages"]}
        expect(encodings[("received", "text")] == "json", encodings)
        expect(encodings[("received", "binary")] == "binary", encodings)
        # Each MCAP channel numbers its messages from 0.
        for direction, kind in encodings:
            sequences = [m[4] for m in got["messages"] if (m[0], m[1]) == (direction, kind)]
            expect(sequences == list(range(len(sequences))), f"sequences {sequences}")
        closed = got.get("closed")
        expect(closed is not None, f"{session['path']}: no closed event")
        expect([closed["code"], closed["reason"], closed["closed_by"]] == session["close"] + ["remote"], closed)
        expect("token" not in got["opened"]["path"], got["opened"])
    total = sum(len(s["messages"]) for s in expected)
    print(f"check-echo: {len(expected)} channels, {total} messages, in order, byte for byte; metadata {meta['game']!r}, mode 0600")


def drive_demo(port, transcript):
    """Watches the demo's state stream, sends one command, closes."""
    got = []
    sent = []
    with connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
        for _ in range(30):
            got.append(as_record(ws.recv(timeout=10)))
        # Whatever it is, the game reads it and the file records it.
        command = bytes([1, 2, 3, 4])
        ws.send(command)
        sent.append(as_record(command))
        ws.close(code=1000, reason="seen enough")
        # What the game sent before its close answer.
        try:
            while True:
                got.append(as_record(ws.recv(timeout=10)))
        except Exception:
            pass
    with open(transcript, "w") as out:
        json.dump({"got": got, "sent": sent}, out)
    print(f"drive-demo: {len(got)} messages from the demo, {len(sent)} sent")


def check_demo(path, transcript):
    check_mode(path)
    with open(transcript) as source:
        expected = json.load(source)
    _metadata, messages = read_all(path)
    sessions = [s for s in sessions_in(messages).values() if "opened" in s]
    expect(len(sessions) == 1, f"{len(sessions)} channels recorded, expected 1")
    session = sessions[0]
    sent_by_game = [[m[1], m[2]] for m in session["messages"] if m[0] == "sent"]
    received = [[m[1], m[2]] for m in session["messages"] if m[0] == "received"]
    expect(sent_by_game == expected["got"], f"the game sent {len(sent_by_game)} recorded, the client got {len(expected['got'])}")
    expect(received == expected["sent"], f"recorded received {received}, the client sent {expected['sent']}")
    expect(session["closed"]["code"] == 1000 and session["closed"]["reason"] == "seen enough", session["closed"])
    print(f"check-demo: the page's {len(sent_by_game)} states and its command, as on the wire")


def drive_many(port, count):
    with connect(f"ws://127.0.0.1:{port}/many") as ws:
        for i in range(count):
            ws.send(f"message {i}")
            expect(ws.recv(timeout=10) == f"message {i}", f"echo {i}")
        print(f"drive-many: {count} echoes; the channel stays open")
        # Keep the channel open until the game is killed.
        sys.stdout.flush()
        try:
            ws.recv(timeout=60)
        except Exception:
            pass


def read_cut(path):
    """Messages a non-seeking read gets from a file that may end early."""
    found = []
    error = None
    with open(path, "rb") as stream:
        try:
            for _schema, channel, message in NonSeekingReader(stream).iter_messages(log_time_order=False):
                if channel.topic.endswith("/sent/text"):
                    found.append(message.data.decode())
        except Exception as cut:  # the file ends inside a record
            error = cut
    return found, error


def wait_readable(path, count):
    deadline = time.monotonic() + 30
    while True:
        found, _ = read_cut(path)
        if len(found) >= count:
            print(f"wait-readable: {len(found)} echoes readable while the game runs")
            return
        expect(time.monotonic() < deadline, f"only {len(found)} of {count} echoes readable after 30 s")
        time.sleep(0.2)


def check_cut(path, count):
    found, error = read_cut(path)
    expect(found[:count] == [f"message {i}" for i in range(count)], f"read {len(found)} echoes: {found[:5]}...")
    print(f"check-cut: the killed game's file reads up to its last chunk: {len(found)} echoes in order ({type(error).__name__ if error else 'no error'} at the end)")


def check_gaps(path):
    _metadata, messages = read_all(path)
    gaps = [json.loads(m.data) for c, m in messages if c.topic == GAPS]
    expect(gaps, "no gap record")
    skipped = sum(g["skipped_messages"] for g in gaps)
    recorded = [m for c, m in messages if c.topic.endswith("/binary")]
    expect(skipped > 0, gaps)
    expect(all(g["skipped_bytes"] == sum(c["bytes"] for c in g["channels"]) for g in gaps), gaps)
    # The 4-byte binary of each session fits, both ways.
    expect(len(recorded) == 4, f"{len(recorded)} binary messages recorded, expected 4")
    print(f"check-gaps: {len(gaps)} gap records account for {skipped} messages skipped; {len(recorded)} binary recorded")


def check_secret(path, secret):
    secret = secret.encode()
    seen = 0
    with open(path, "rb") as stream:
        reader = make_reader(stream)
        for record in reader.iter_metadata():
            for key, value in record.metadata.items():
                expect(secret not in key.encode() + value.encode(), f"metadata {key}")
        for _schema, channel, message in reader.iter_messages(log_time_order=False):
            seen += 1
            expect(secret not in channel.topic.encode(), channel.topic)
            for key, value in channel.metadata.items():
                expect(secret not in value.encode(), f"channel {channel.topic} {key}={value}")
            expect(secret not in message.data, f"a message on {channel.topic}")
    expect(seen > 0, "no message read")
    print(f"check-secret: the token is in none of {seen} messages, their channels or the metadata")


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    command, args = sys.argv[1], sys.argv[2:]
    commands = {
        "drive-echo": lambda: drive_echo(int(args[0]), args[1], args[2] if len(args) > 2 else None),
        "check-echo": lambda: check_echo(args[0], args[1]),
        "drive-demo": lambda: drive_demo(int(args[0]), args[1]),
        "check-demo": lambda: check_demo(args[0], args[1]),
        "drive-many": lambda: drive_many(int(args[0]), int(args[1])),
        "wait-readable": lambda: wait_readable(args[0], int(args[1])),
        "check-cut": lambda: check_cut(args[0], int(args[1])),
        "check-gaps": lambda: check_gaps(args[0]),
        "check-secret": lambda: check_secret(args[0], args[1]),
    }
    if command not in commands:
        fail(f"unknown command {command}")
    commands[command]()


if __name__ == "__main__":
    main()
