"""Which process this is, and whether another one is still running.

Several Pagemind processes share one database; each records who it is where others can read
it (its lease documents, its heartbeat, the embedded server's ``server.json``). A process on
the same machine can then tell at once that another one has died, instead of waiting for its
lease to run out.

"The same machine" has to be exact: two containers on one host share the kernel (and its boot
id) but not their process ids or their loopback interface. So a process is identified by its
boot id and the inode of its pid namespace (``machine``: whose pids can be checked) and of its
network namespace (``network``: who can be reached on 127.0.0.1), its pid, and its start time
in clock ticks after boot (a pid reused by a new process has another start time). Where
``/proc`` does not tell all this (not Linux, a restricted sandbox), nothing is assumed: every
other process counts as alive until its lease runs out.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessIdentity:
    machine: str  # boot id + pid namespace: pids mean the same thing within it
    network: str  # boot id + network namespace: 127.0.0.1 is the same interface within it
    pid: int
    started: int  # clock ticks after boot at which the process started
    host: str  # the host name, for messages

    def to_doc(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "network": self.network,
            "pid": self.pid,
            "started": self.started,
            "host": self.host,
        }

    @classmethod
    def from_doc(cls, doc: object) -> ProcessIdentity | None:
        if not isinstance(doc, dict):
            return None
        try:
            return cls(
                machine=str(doc["machine"]),
                network=str(doc["network"]),
                pid=int(doc["pid"]),
                started=int(doc["started"]),
                host=str(doc.get("host", "")),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}" if self.host else f"pid {self.pid}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _namespace(kind: str) -> str | None:
    try:
        return os.readlink(PROC / "self" / "ns" / kind)
    except OSError:
        return None


def _stat(pid: int) -> tuple[str, int] | None:
    """The state and start time (clock ticks after boot) of ``pid``, from /proc."""
    stat = _read(PROC / str(pid) / "stat")
    if stat is None:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    # fields[0] is the state (field 3 of proc(5)), fields[19] the start time (field 22)
    if len(fields) < 20:
        return None
    return fields[0], int(fields[19])


_identity: ProcessIdentity | None = None
_identity_known = False


def this_process() -> ProcessIdentity | None:
    """This process's identity, or None where ``/proc`` cannot tell it (see the module)."""
    global _identity, _identity_known
    if _identity_known and (_identity is None or _identity.pid == os.getpid()):
        return _identity
    boot = _read(PROC / "sys" / "kernel" / "random" / "boot_id")
    pids, net = _namespace("pid"), _namespace("net")
    stat = _stat(os.getpid())
    started = stat[1] if stat else None
    _identity = None
    if boot and pids and net and started is not None:
        _identity = ProcessIdentity(
            machine=f"{boot}/{pids}",
            network=f"{boot}/{net}",
            pid=os.getpid(),
            started=started,
            host=socket.gethostname(),
        )
    _identity_known = True
    return _identity


def identity_of(pid: int) -> ProcessIdentity | None:
    """The identity of a process this one has just started (same namespaces)."""
    me, stat = this_process(), _stat(pid)
    if me is None or stat is None:
        return None
    return ProcessIdentity(me.machine, me.network, pid, stat[1], me.host)


def is_running(other: ProcessIdentity | None) -> bool | None:
    """True or False if this process can tell whether ``other`` still runs (it shares this
    process's pid namespace on the same boot); None if it cannot."""
    me = this_process()
    if other is None or me is None or other.machine != me.machine:
        return None
    if other.pid == me.pid:
        return other.started == me.started
    stat = _stat(other.pid)
    if stat is not None:
        state, started = stat
        return state not in ("Z", "X", "x") and started == other.started  # Z: exited
    try:
        os.kill(other.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return None  # it exists, hidden from this user's /proc: cannot tell


def reachable(other: ProcessIdentity | None) -> bool:
    """Whether ``other`` listens on this process's loopback interface (same network
    namespace on the same boot)."""
    me = this_process()
    return other is not None and me is not None and other.network == me.network
