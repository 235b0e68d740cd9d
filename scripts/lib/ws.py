"""A WebSocket client for the scripts (the `websockets` package, from the venv).

    ws.py URL TEXT...
        Sends each TEXT as a text message and prints each answer on a line.
    ws.py URL --signal PID:SIGNAL TEXT...
        The same, then sends SIGNAL (INT, TERM, ...) to process PID, waits
        for the server to close the connection and prints "close CODE".

Exits non-zero (with the reason on stderr) when the server does not answer
within 10 s or closes early.
"""

import os
import signal
import sys

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

TIMEOUT = 10


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    url, texts, stop = argv[1], argv[2:], None
    if texts[:1] == ["--signal"]:
        pid, name = texts[1].split(":")
        stop, texts = (int(pid), signal.Signals["SIG" + name]), texts[2:]
    with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as socket:
        for text in texts:
            socket.send(text)
            print(socket.recv(timeout=TIMEOUT), flush=True)
        if stop is None:
            return
        os.kill(*stop)
        try:
            extra = socket.recv(timeout=TIMEOUT)
            sys.exit(f"ws.py: expected the close, got {extra!r}")
        except ConnectionClosed:
            pass
        code = socket.close_code if socket.close_code is not None else 1006
        print(f"close {code}")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except TimeoutError:
        sys.exit(f"ws.py: nothing from {sys.argv[1]} within {TIMEOUT} s")
    except (OSError, ConnectionClosed) as error:
        sys.exit(f"ws.py: {sys.argv[1]}: {error}")
