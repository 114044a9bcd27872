"""The lifecycle toolkit, in real processes: normal exits, forks and garbage collection."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
import weakref
from pathlib import Path

import pytest

from optuna_storage_kit.toolkit import lifecycle

# A toy write-behind "storage": writes go to a buffer; flush appends the buffer to a file.
BUFFERED = '''
import functools, os, sys, threading, weakref
from optuna_storage_kit.toolkit import lifecycle

class Engine:
    """What a backend's storage wraps (a Rust store, a connection pool): it may outlive it."""

    def __init__(self, path):
        self.path = path
        self.buffer = []
        self.lock = threading.Lock()

    def flush(self):
        with self.lock:
            lines, self.buffer = self.buffer, []
        if lines:
            with open(self.path, "a") as f:
                f.write("".join(f"{os.getpid()} {line}\\n" for line in lines))


class Buffered:
    def __init__(self, path):
        self.engine = Engine(path)
        lifecycle.track(self, flush=Buffered.flush, after_fork_in_child=Buffered.reset)
        # Collected without close(): hand the engine's flush to the toolkit's thread.
        weakref.finalize(self, lifecycle.defer, self.engine.flush)

    def write(self, line):
        with self.engine.lock:
            self.engine.buffer.append(line)

    def flush(self):
        self.engine.flush()

    def reset(self):
        self.engine.lock = threading.Lock()
        with open(self.engine.path + ".forked", "a") as f:
            f.write(f"{os.getpid()} reset with {len(self.engine.buffer)} buffered\\n")
'''


def run_child(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "child.py"
    script.write_text(BUFFERED + textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out.txt")],
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines(path: Path) -> list[str]:
    return [line.split(" ", 1)[1] for line in path.read_text().splitlines()]


def test_a_normal_exit_flushes_what_is_buffered(tmp_path: Path) -> None:
    result = run_child(
        tmp_path,
        """
        s = Buffered(sys.argv[1])
        s.write("a")
        s.write("b")
        """,
    )
    assert result.returncode == 0, result.stderr
    assert lines(tmp_path / "out.txt") == ["a", "b"]


def test_sys_exit_waits_for_a_writing_thread_then_flushes(tmp_path: Path) -> None:
    result = run_child(
        tmp_path,
        """
        import time
        s = Buffered(sys.argv[1])

        def worker():
            for i in range(5):
                time.sleep(0.05)
                s.write(f"t{i}")

        threading.Thread(target=worker).start()  # not a daemon: joined before atexit
        sys.exit(3)
        """,
    )
    assert result.returncode == 3, result.stderr
    assert lines(tmp_path / "out.txt") == [f"t{i}" for i in range(5)]


def test_a_multiprocessing_fork_child_flushes_at_its_exit(tmp_path: Path) -> None:
    result = run_child(
        tmp_path,
        """
        import multiprocessing

        def child(path):
            s = Buffered(path)
            s.write("from the child")  # the child leaves through os._exit: no atexit

        if __name__ == "__main__":
            p = multiprocessing.get_context("fork").Process(target=child, args=(sys.argv[1],))
            p.start()
            p.join()
            assert p.exitcode == 0
        """,
    )
    assert result.returncode == 0, result.stderr
    assert lines(tmp_path / "out.txt") == ["from the child"]


def test_fork_flushes_in_the_parent_and_resets_in_the_child(tmp_path: Path) -> None:
    result = run_child(
        tmp_path,
        """
        import multiprocessing
        s = Buffered(sys.argv[1])
        s.write("before fork")

        def child():
            s.write("child's own")

        if __name__ == "__main__":
            p = multiprocessing.get_context("fork").Process(target=child)
            p.start()
            p.join()
            assert p.exitcode == 0
            s.write("parent after fork")
        """,
    )
    assert result.returncode == 0, result.stderr
    out = (tmp_path / "out.txt").read_text().splitlines()
    # Written once, by the parent, before the fork; the child inherited an empty buffer.
    assert [line.split(" ", 1)[1] for line in out].count("before fork") == 1
    assert sorted(line.split(" ", 1)[1] for line in out) == [
        "before fork",
        "child's own",
        "parent after fork",
    ]
    assert "reset with 0 buffered" in (tmp_path / "out.txt.forked").read_text()


def test_a_failing_flush_is_logged_and_the_others_still_flush(tmp_path: Path) -> None:
    result = run_child(
        tmp_path,
        """
        class Broken(Buffered):
            def flush(self):
                raise RuntimeError("disk on fire")

        ok = Buffered(sys.argv[1])
        ok.write("kept")
        bad = Broken(sys.argv[1] + ".bad")
        lifecycle.track(bad, flush=Broken.flush)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "disk on fire" in result.stderr
    assert lines(tmp_path / "out.txt") == ["kept"]


def test_untrack_stops_the_hooks(tmp_path: Path) -> None:
    result = run_child(
        tmp_path,
        """
        s = Buffered(sys.argv[1])
        s.write("never")
        lifecycle.untrack(s)
        s.engine.buffer.clear()  # what close() would have written, dropped on purpose
        """,
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "out.txt").exists()


class Owner:
    def flush(self) -> None:
        pass


def test_tracking_holds_owners_weakly() -> None:
    owner = Owner()
    lifecycle.track(owner, flush=Owner.flush)
    assert owner in lifecycle.tracked()
    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None
    assert all(type(o) is not Owner for o in lifecycle.tracked())


def test_deferred_calls_run_on_another_thread_even_from_a_finalizer() -> None:
    ran = threading.Event()
    threads: list[str] = []

    def close_engine() -> None:
        threads.append(threading.current_thread().name)
        ran.set()

    owner = Owner()
    lifecycle.track(owner, flush=Owner.flush)
    weakref.finalize(owner, lifecycle.defer, close_engine)
    del owner
    gc.collect()
    assert ran.wait(60)
    assert threads == ["osk-lifecycle"]


def test_deferred_calls_pending_at_exit_still_run(tmp_path: Path) -> None:
    result = run_child(
        tmp_path,
        """
        import weakref
        s = Buffered(sys.argv[1])
        s.write("buffered when collected")
        del s  # collected now; its deferred flush may not have run before the exit
        """,
    )
    assert result.returncode == 0, result.stderr
    assert lines(tmp_path / "out.txt") == ["buffered when collected"]


def test_a_deferred_call_running_at_exit_is_waited_for(tmp_path: Path) -> None:
    result = run_child(
        tmp_path,
        """
        import time
        slow = Engine.flush

        def slow_flush(self):
            time.sleep(1.0)  # the worker runs it while the main thread exits
            slow(self)

        Engine.flush = slow_flush
        s = Buffered(sys.argv[1])
        s.write("written by a slow deferred flush")
        del s
        time.sleep(0.2)  # the worker has taken the call
        """,
    )
    assert result.returncode == 0, result.stderr
    assert lines(tmp_path / "out.txt") == ["written by a slow deferred flush"]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_children_of_each_start_method_keep_the_hooks(tmp_path: Path, method: str) -> None:
    result = run_child(
        tmp_path,
        f"""
        import multiprocessing

        def child(path):
            s = Buffered(path)
            s.write("{method}")

        if __name__ == "__main__":
            ctx = multiprocessing.get_context("{method}")
            for _ in range(2):  # a second child of the same parent too
                p = ctx.Process(target=child, args=(sys.argv[1],))
                p.start()
                p.join()
                assert p.exitcode == 0
        """,
    )
    assert result.returncode == 0, result.stderr
    assert lines(tmp_path / "out.txt") == [method, method]
