"""The embedded database server: nx-27017, kept running for as long as Pagemind uses it.

    python -m adapters.mongo.nx_keeper <directory> <port>

Runs nx-27017 in this process (data in ``<directory>/db``, on ``127.0.0.1:<port>``) and a
thread that stops it once no Pagemind process uses the directory any more. It is started by
whichever Pagemind process finds no server running (``adapters.mongo.embedded``), in its own
session, and is tied to no process: it outlives the one that started it.

Two lock files in ``<directory>`` say who uses it (``flock``; the kernel releases a lock when
its process dies, ``kill -9`` included):

* ``users.lock``: every Pagemind process using the server holds it shared while it runs;
* ``start.lock``: held exclusively by a process while it joins or starts the server, and by
  this server from the moment it decides to stop until it has exited.

The thread asks for ``users.lock`` exclusively, which the kernel grants only once no user is
left; it then takes ``start.lock`` without waiting (if a process is joining, it lets go of
both and waits again), removes ``server.json`` so no newcomer reads a server that is going
away, and stops the server. ``start.lock`` stays held until this process has exited, so a
newcomer starts a fresh server only after this one has let go of the database files.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

USERS_LOCK = "users.lock"
START_LOCK = "start.lock"
SERVER_INFO = "server.json"
PID_FILE = "nx-27017.pid"
EXIT_DEADLINE = 15.0  # seconds for nx-27017 to shut down before the process is ended anyway

log = logging.getLogger("pagemind.nx_keeper")


def stop_when_unused(directory: Path) -> None:
    """Block until no Pagemind process uses ``directory``, then stop this server."""
    users = (directory / USERS_LOCK).open("a+")
    starting = (directory / START_LOCK).open("a+")
    while True:
        fcntl.flock(users, fcntl.LOCK_EX)  # granted once no user holds it shared
        try:
            fcntl.flock(starting, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:  # a process is joining: let it take its share
            fcntl.flock(users, fcntl.LOCK_UN)
            time.sleep(0.05)
    info = directory / SERVER_INFO
    try:
        if json.loads(info.read_text()).get("process", {}).get("pid") == os.getpid():
            info.unlink()
    except (OSError, ValueError, AttributeError):
        pass
    log.warning("no Pagemind process uses %s any more: stopping the server", directory)
    ender = threading.Timer(EXIT_DEADLINE, os._exit, (0,))
    ender.daemon = True
    ender.start()
    os.kill(os.getpid(), signal.SIGTERM)  # nx-27017's handler exits cleanly
    # both lock files stay open (and locked) until the process ends


def main(argv: list[str]) -> None:
    directory, port = Path(argv[0]), int(argv[1])
    logging.basicConfig(
        level=logging.WARNING,  # nx-27017 logs every connection at INFO
        format="%(asctime)s %(name)s %(levelname)s [%(process)d] %(message)s",
    )
    (directory / PID_FILE).unlink(missing_ok=True)  # the server it named is gone (see embedded)
    threading.Thread(
        target=stop_when_unused, args=(directory,), name="stop-when-unused", daemon=True
    ).start()
    from nx_27017.nx_27017 import main as serve

    sys.argv = [
        "nx_27017",
        "--data-dir", str(directory / "db"),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--log-file", os.devnull,  # everything goes to stderr, which is the log file
        "--pid-file", str(directory / PID_FILE),
        # A thread per connection, each command run on it: the default asyncio server hands
        # every command to a worker thread and back, which cost 1-3 ms of each plain message
        # (four commands) in bench.end_to_end. Same handler and locks either way; nx-27017's
        # help calls this mode "for debugging", so the whole suite and bench.platform_load
        # (two replicas, nothing lost or duplicated) run on it.
        "--threaded",
    ]  # fmt: skip
    serve()


if __name__ == "__main__":
    main(sys.argv[1:])
