"""A warm process that forks the kit's child processes, so each one skips Python's imports.

Importing Optuna and optuna-storage-kit takes seconds; the lifecycle and durability tests start
many short child processes. :class:`Zygote` starts ``python -m osk_conformance._zygote`` once:
it imports what every child needs, opens nothing (no storage, no thread), and forks a child per
request. The child runs ``python -m MODULE ARGS`` semantics (``runpy``, ``__main__``) with its
stdin, stdout and stderr replaced by the requester's pipes, and ends like any Python process: a
normal return or ``sys.exit()`` runs the interpreter's shutdown (non-daemon threads joined,
``atexit`` handlers, garbage collection), a signal kills it. A child may drop to another user.

Given the backend under test, the zygote first forks a scout that opens a throwaway store and
writes a trial, and imports the modules the scout needed (only imports: the zygote never opens
a store, so it has no thread or connection to hand down).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import TracebackType
from typing import IO, Any

__all__ = ["Child", "Zygote"]

_MAX = 65536


class Child:
    """A process forked by the zygote: ``stdout`` and ``stdin`` are pipes, stderr a file."""

    def __init__(self, zygote: Zygote, pid: int, stdin: IO[str], stdout: IO[str], err: IO[str]):
        self.zygote = zygote
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self._err = err
        self.returncode: int | None = None

    def send(self, line: str) -> None:
        """Write one line to the child's stdin."""
        self.stdin.write(line + "\n")
        self.stdin.flush()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def wait(self, timeout: float = 120.0) -> int:
        """Wait for the exit; return the exit code (negative: killed by that signal)."""
        if self.returncode is None:
            self.returncode = self.zygote.wait(self.pid, timeout)
        return self.returncode

    @property
    def stderr(self) -> str:
        """What the child wrote to stderr so far (the last 4000 characters)."""
        self._err.seek(0)
        return self._err.read()[-4000:]

    @property
    def failure(self) -> str:
        """For an assertion message: the last line the child wrote to stderr (a traceback's
        exception), then the rest of its stderr."""
        text = self.stderr
        lines = [line for line in text.splitlines() if line.strip()]
        return f"{lines[-1].strip()}\n{text}" if lines else "(nothing on stderr)"

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.returncode is None:
            self.kill()
            self.wait()
        for stream in (self.stdin, self.stdout, self._err):
            with contextlib.suppress(OSError):
                stream.close()


class Zygote:
    """The parent's handle on the zygote process (started on first use)."""

    def __init__(self, spec: str | None = None) -> None:
        self._spec = spec
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None

    def _start(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "osk_conformance._zygote",
                str(theirs.fileno()),
                *([self._spec] if self._spec else []),
            ],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=env,
        )
        theirs.close()
        self._sock = mine
        ready = self._recv(timeout=300)
        if not ready.get("ready"):
            raise RuntimeError(f"the kit's zygote process did not start: {ready}")
        return mine

    def _recv(self, timeout: float) -> dict[str, Any]:
        assert self._sock is not None
        self._sock.settimeout(timeout)
        data = self._sock.recv(_MAX)
        if not data:
            raise RuntimeError("the kit's zygote process exited")
        reply: dict[str, Any] = json.loads(data)
        if "error" in reply:
            raise RuntimeError(f"the kit's zygote process failed: {reply['error']}")
        return reply

    def spawn(self, module: str, *argv: str, user: int | None = None) -> Child:
        """Start ``python -m module *argv`` as a fork of the zygote (as ``user``, if given)."""
        sock = self._start()
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err = tempfile.TemporaryFile("w+", prefix="osk-child-err-")  # noqa: SIM115 - Child closes it
        request = {"op": "spawn", "module": module, "argv": list(argv), "user": user}
        try:
            socket.send_fds(sock, [json.dumps(request).encode()], [in_r, out_w, err.fileno()])
        finally:
            os.close(in_r)
            os.close(out_w)
        pid = int(self._recv(timeout=60)["pid"])
        return Child(self, pid, os.fdopen(in_w, "w"), os.fdopen(out_r, "r"), err)

    def wait(self, pid: int, timeout: float) -> int:
        """Reap the zygote's child ``pid``; kill it first if it outlives ``timeout``."""
        assert self._sock is not None
        self._sock.send(json.dumps({"op": "wait", "pid": pid, "timeout": timeout}).encode())
        return int(self._recv(timeout=timeout + 60)["code"])

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


# -- the zygote process ------------------------------------------------------------------------
def _preload(spec: str | None) -> None:
    import importlib

    import optuna

    import optuna_storage_kit as osk
    import osk_conformance._durability_child
    import osk_conformance._lifecycle_child  # noqa: F401

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    osk.get_registry().backends()
    for name in _scout(spec) if spec else []:
        try:
            importlib.import_module(name)
        except Exception:
            continue


def _scout(spec: str) -> list[str]:
    """The modules a fresh store of ``spec`` imports, found by a forked, throwaway child."""
    read, write = os.pipe()
    with tempfile.TemporaryDirectory(prefix="osk-scout-") as directory:
        pid = os.fork()
        if pid == 0:  # the scout: exits with os._exit, so nothing of it runs in the zygote
            code = 0
            try:
                os.close(read)
                before = set(sys.modules)
                from osk_conformance._lifecycle import Writer
                from osk_conformance._target import open_spec

                with open(os.devnull, "w") as sink:  # the Writer's acknowledgements
                    os.dup2(sink.fileno(), 1)
                Writer(open_spec(spec, directory), "osk-scout").finished("scout")
                names = sorted(set(sys.modules) - before)
                with os.fdopen(write, "w") as out:
                    out.write("\n".join(names))
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write)
        with os.fdopen(read) as found:
            names = found.read().split()
        os.waitpid(pid, 0)
    return [n for n in names if not n.startswith("__")]


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)


_PR_SET_KEEPCAPS = 8
_CAP_DAC_READ_SEARCH = 2
_CAPABILITY_VERSION_3 = 0x20080522


def _drop_to(user: int) -> None:
    """Become ``user`` (and its group), keeping one capability: reading any file.

    The checkout, and so the Python installation, may sit under a directory only root can
    enter; the kit checks what the user may *write*, so reading stays allowed
    (``CAP_DAC_READ_SEARCH``) and every write is checked against ``user``'s permissions."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_KEEPCAPS) failed")
    os.setgroups([])
    os.setgid(user)
    os.setuid(user)
    data = (Data * 2)()
    data[0].effective = data[0].permitted = 1 << _CAP_DAC_READ_SEARCH
    if libc.capset(ctypes.byref(Header(_CAPABILITY_VERSION_3, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset(CAP_DAC_READ_SEARCH) failed")


def _become(request: dict[str, Any], fds: list[int], sock: socket.socket) -> None:
    """In the forked child: take the pipes, drop privileges, run the module as ``__main__``."""
    import runpy

    sock.close()
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - fresh buffers on the new descriptors
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    user = request.get("user")
    if user is not None:
        _drop_to(int(user))
    sys.argv = [request["module"], *request["argv"]]
    sys.modules.pop(request["module"], None)  # preloaded: run it afresh, without runpy's warning
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)


def main(fd: int, spec: str | None) -> None:
    sock = socket.socket(fileno=fd)
    try:
        _preload(spec)
    except Exception as err:
        sock.send(json.dumps({"error": f"{type(err).__name__}: {err}"}).encode())
        raise
    sock.send(json.dumps({"ready": True}).encode())
    while True:
        message, fds, _, _ = socket.recv_fds(sock, _MAX, 3)
        if not message:
            return  # the parent is gone
        request = json.loads(message)
        if request["op"] == "spawn":
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _become(request, list(fds), sock)
                return  # the module returned: the child's interpreter shuts down normally
            for received in fds:
                os.close(received)
            sock.send(json.dumps({"pid": pid}).encode())
        elif request["op"] == "wait":
            code = _wait(int(request["pid"]), float(request["timeout"]))
            sock.send(json.dumps({"code": code}).encode())


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
