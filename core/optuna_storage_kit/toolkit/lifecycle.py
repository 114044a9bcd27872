"""Write a storage's buffered writes out at every end of its life in a process.

Optuna's persistence contract lets a storage buffer a running trial's params, attributes and
intermediate values until the trial's next state change (see ``optuna.storages._CachedStorage``,
"Data persistence"). A crash may lose such a buffer; a process that ends *normally* must not.
A storage object can end four ways besides an explicit ``close()``, and each needs a hook:

* **interpreter exit** (the script returns, ``sys.exit()``; non-daemon threads are joined
  first): :func:`track` registers the storage, and its ``flush`` runs from :mod:`atexit`, and
  from :mod:`multiprocessing`'s exit finalizers in a child started with the ``fork`` start
  method (such a child leaves through ``os._exit`` and skips :mod:`atexit`);
* **fork**: ``flush`` runs in the parent just before ``os.fork()``, so the child inherits no
  buffered write that both processes could write (or neither); ``after_fork_in_child`` runs in
  the child, where the backend drops what it must not share (connections, threads, locks);
* **garbage collection**: a finalizer must never block or take a lock (it can run inside any
  call of any thread, including one holding that lock), so it hands its work to
  :func:`defer`, which runs it on this module's own thread, and at exit at the latest.

Storages are held weakly: tracking never keeps one alive. ``flush`` and
``after_fork_in_child`` are called with the storage as their only argument, so they should be
functions or unbound methods, not closures over the storage.

Errors raised by a hook are logged (logger ``optuna_storage_kit``) and never stop the exit, the
fork or the other storages' hooks.

Example::

    from optuna_storage_kit.toolkit import lifecycle

    class MyStorage(BaseStorage):
        def __init__(self, ...):
            ...
            lifecycle.track(self, flush=MyStorage._flush_buffers,
                            after_fork_in_child=MyStorage._forget_connections)
            weakref.finalize(self, lifecycle.defer, functools.partial(close_engine, engine))

        def close(self):
            self._flush_buffers()
            lifecycle.untrack(self)
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["defer", "flush_all", "track", "tracked", "untrack"]

_logger = logging.getLogger("optuna_storage_kit")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class _Entry:
    ref: weakref.ref[Any]
    flush: Callable[[Any], None]
    after_fork_in_child: Callable[[Any], None] | None


class _State:
    """This process's tracked storages and deferred calls (renewed in a forked child)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[int, _Entry] = {}
        # deque.append/popleft are atomic: a finalizer may append without taking any lock.
        self.deferred: collections.deque[Callable[[], None]] = collections.deque()
        # Held while a deferred call runs: at exit, the main thread waits here for the call the
        # worker is running (the process would otherwise end in the middle of it).
        self.running = threading.RLock()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.worker: threading.Thread | None = None
        self.hooks_installed = False

    def close_pipe(self) -> None:
        for fd in (self.wake_r, self.wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


_state = _State()


def track(
    owner: T,
    *,
    flush: Callable[[T], None],
    after_fork_in_child: Callable[[T], None] | None = None,
) -> None:
    """Call ``flush(owner)`` at interpreter exit and before ``fork``, while ``owner`` lives.

    Args:
        owner: The storage (any object that supports weak references). It is held weakly.
        flush: Writes out everything ``owner`` buffers. It may block and take locks (it never
            runs inside a finalizer); it should be fast when there is nothing to write.
        after_fork_in_child: Called in a child created by ``os.fork()`` (the ``fork`` start
            method included), after ``flush`` ran in the parent: drop what the child must not
            share with the parent (connections, threads, locks held by other threads).

    Calling it again for the same owner replaces its hooks.
    """
    state = _state
    _install_hooks(state)
    entry = _Entry(weakref.ref(owner), flush, after_fork_in_child)
    with state.lock:
        # Ids of dead owners may be reused: prune them here, never from a weakref callback.
        for key in [k for k, e in state.entries.items() if e.ref() is None]:
            del state.entries[key]
        state.entries[id(owner)] = entry
    _start_worker(state)


def untrack(owner: object) -> None:
    """Stop calling ``owner``'s hooks (after its ``close()``). Unknown owners are ignored."""
    state = _state
    with state.lock:
        entry = state.entries.get(id(owner))
        if entry is not None and entry.ref() is owner:
            del state.entries[id(owner)]


def tracked() -> list[object]:
    """Return the live tracked owners, oldest first (for tests and diagnostics)."""
    return [owner for owner, _ in _live(_state)]


def defer(fn: Callable[[], None]) -> None:
    """Run ``fn()`` soon on the toolkit's own thread, never in the caller.

    Safe to call from a finalizer (``weakref.finalize``, ``__del__``): it takes no lock and
    never blocks. Deferred calls still pending at interpreter exit run then, before the tracked
    storages are flushed, and a call running at that moment is waited for. Errors are logged.
    """
    state = _state
    state.deferred.append(fn)
    with contextlib.suppress(OSError):  # a full pipe already wakes the worker
        os.write(state.wake_w, b"\0")


def flush_all() -> None:
    """Run every pending deferred call, then flush every tracked storage, newest first.

    This is what runs at interpreter exit and before ``fork``; call it to write everything out
    at a moment of your choosing.
    """
    state = _state
    _drain(state)
    for owner, entry in reversed(_live(state)):
        _call(entry.flush, owner, "flush")


def _live(state: _State) -> list[tuple[object, _Entry]]:
    with state.lock:
        entries = list(state.entries.values())
    pairs = []
    for entry in entries:
        owner = entry.ref()
        if owner is not None:
            pairs.append((owner, entry))
    return pairs


def _call(hook: Callable[[Any], None], owner: object, what: str) -> None:
    try:
        hook(owner)
    except Exception:
        _logger.exception("optuna-storage-kit: %s of %r failed", what, owner)


def _drain(state: _State) -> None:
    while True:
        with state.running:
            try:
                fn = state.deferred.popleft()
            except IndexError:
                return
            try:
                fn()
            except Exception:
                _logger.exception("optuna-storage-kit: deferred call %r failed", fn)


def _work(state: _State) -> None:
    while True:
        try:
            os.read(state.wake_r, 4096)
        except OSError:  # the pipe was closed: this state belongs to a finished fork
            return
        _drain(state)


def _start_worker(state: _State) -> None:
    with state.lock:
        if state.worker is not None:
            return
        worker = threading.Thread(target=_work, args=(state,), name="osk-lifecycle", daemon=True)
        state.worker = worker
    worker.start()


def _install_hooks(state: _State) -> None:
    with state.lock:
        if state.hooks_installed:
            return
        state.hooks_installed = True
    if state is _state_at_import:
        # Once per interpreter: atexit and fork handlers are inherited by forked children.
        atexit.register(flush_all)
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
    _register_multiprocessing_finalizer()


def _register_multiprocessing_finalizer() -> None:
    """A ``fork`` child of multiprocessing ends with ``os._exit``: only its finalizers run."""
    import multiprocessing.util as mp_util

    mp_util.Finalize(None, flush_all, exitpriority=100)
    # multiprocessing clears the finalizers a forked child inherits, then runs its after-fork
    # callbacks: register ours again there.
    mp_util.register_after_fork(_FORK_ANCHOR, _reregister_after_fork)


def _reregister_after_fork(_: object) -> None:
    if _state.entries:
        _register_multiprocessing_finalizer()


class _Anchor:
    """A weakly referenceable module-level object for multiprocessing's after-fork registry."""


_FORK_ANCHOR = _Anchor()


def _before_fork() -> None:
    try:
        flush_all()
    except BaseException:  # never stop a fork
        _logger.exception("optuna-storage-kit: flushing before fork failed")


def _after_fork_in_child() -> None:
    global _state
    parent = _state
    # Other threads of the parent (its worker included) do not exist here, and a lock one of
    # them held stays held: start over with fresh state, keeping the tracked owners.
    child = _State()
    child.entries = dict(parent.entries)
    child.hooks_installed = parent.hooks_installed
    _state = child
    with contextlib.suppress(OSError):
        os.close(parent.wake_r)
        os.close(parent.wake_w)
    for owner, entry in _live(child):
        if entry.after_fork_in_child is not None:
            _call(entry.after_fork_in_child, owner, "after-fork reset")
    if child.entries:
        _start_worker(child)


_state_at_import = _state
