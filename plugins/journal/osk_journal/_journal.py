"""One journal file in one process: incremental reading, locked appends, torn-line repair.

Reading never takes the lock: a reader consumes only complete lines, so a line being written is
seen once its ``\\n`` is there. Appending takes the lock only to catch up with what others wrote
since the last read (usually nothing), check the record against that state, and ``write(2)`` it;
``fsync`` happens after the lock is released.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
import warnings
import weakref
from typing import Any

from optuna_storage_kit.errors import StorageKitError
from optuna_storage_kit.toolkit import lifecycle
from optuna_storage_kit.toolkit.trials import gc_paused
from osk_journal._errors import (
    JournalCorruptError,
    JournalTruncatedError,
    TornLineWarning,
    sync_error,
    write_error,
)
from osk_journal._files import open_file, release_later
from osk_journal._flusher import Flusher
from osk_journal._format import (
    encode,
    line_offset,
    loads,
    parse_lines,
    pieces,
    split_complete,
)
from osk_journal._lock import make_lock
from osk_journal._snapshot import load_snapshot, save_snapshot
from osk_journal._state import JournalState

__all__ = ["FSYNC_POLICIES", "Journal"]

FSYNC_POLICIES = ("always", "commit", "interval", "never")
_READ_CHUNK = 64 << 20
_PARSE_PIECE = 1 << 20  # bytes of lines parsed and applied at a time
_TORN_CHECK_DELAY = 0.05  # seconds a partial last line must stay unchanged to count as torn
_WRITER_SNAPSHOT_FACTOR = 5  # writers snapshot every 5 x snapshot_every records


class Journal:
    """The state replayed from a journal file, kept in step with it.

    Thread-safe: every method takes :attr:`mutex`. In a child made by ``fork`` the journal
    takes a new mutex and drops the parent's flusher at once (through the toolkit's
    ``lifecycle``), and reopens the file on first use (a ``flock`` is shared by the open file,
    so it must not be inherited).

    Args:
        path: The journal file; created if missing (unless ``inspect``).
        lock: ``"flock"``, ``"symlink"`` or ``"open"`` (see :mod:`osk_journal._lock`).
        fsync: ``"interval"`` (in the background, at most ``fsync_interval`` seconds after a
            write), ``"commit"`` (before returning from writes that finish a trial or change a
            study), ``"always"`` (every append) or ``"never"``. Every write reaches the OS
            before returning under any policy, so it survives a kill of the process.
        lock_grace_period: Seconds after which a lock file left by a dead writer is broken.
        snapshot_every: Write ``PATH.snapshot`` after replaying at least this many records
            at open; 0 never does.
        fsync_interval: Seconds between background fsyncs under the ``interval`` policy.
        inspect: Open an existing journal read-only (``O_RDONLY``) and change nothing: no
            file is created, no snapshot written, no partial line removed. A missing journal
            raises :class:`~optuna_storage_kit.StoreNotFoundError`.

    Raises:
        StoreNotFoundError: ``inspect`` and the journal does not exist.
    """

    def __init__(
        self,
        path: str,
        *,
        lock: str = "flock",
        fsync: str = "interval",
        lock_grace_period: float | None = 30.0,
        snapshot_every: int = 10_000,
        fsync_interval: float = 1.0,
        inspect: bool = False,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, got {fsync!r}")
        self.path = os.path.abspath(path)
        self.lock_kind = lock
        self.fsync_policy = fsync
        self.lock_grace_period = lock_grace_period
        self.inspect = inspect
        self.snapshot_every = 0 if inspect else snapshot_every
        self.fsync_interval = fsync_interval
        self.counters = dict.fromkeys(
            ("appends", "commits", "fsyncs", "locks", "reads", "relocations", "repairs", "writes"),
            0,
        )
        self.replayed_at_open = 0
        self._sync_error: OSError | None = None
        self.mutex = threading.RLock()
        self._open()
        with self.mutex:
            self._load()

    def _open(self) -> None:
        self._pid = os.getpid()
        self.fd = -1
        self._flusher: Flusher | None = None
        self.fd, self.read_only = open_file(self.path, inspect=self.inspect)
        self._lock = make_lock(self.lock_kind, self.path, self.lock_grace_period)
        self.worker_prefix = f"{uuid.uuid4()}-"
        self._worker_ids: dict[int, str] = {}
        if not self.read_only and self.fsync_policy == "interval":
            self._flusher = Flusher(self.fd, self.fsync_interval, self.path)
        # Garbage collection closes the file and makes the pending fsync, deferred (never in
        # the finalizer); the flusher makes the pending fsync at interpreter exit.
        self._finalizer = weakref.finalize(self, release_later, self.fd, self._flusher, self._pid)
        self._finalizer.atexit = False
        lifecycle.track(
            self, flush=Journal._nothing_buffered, after_fork_in_child=Journal._forget_parent
        )

    def _load(self) -> None:
        with gc_paused():
            self._load_state()
            if self.snapshot_every and self.replayed_at_open >= self.snapshot_every:
                self._try_snapshot()

    def _try_snapshot(self) -> None:
        # A snapshot only speeds up later opens: failing to write one (a read-only directory,
        # a full disk) must not fail the operation that triggered it.
        with contextlib.suppress(OSError):
            self.snapshot()

    def _load_state(self) -> None:
        size = os.fstat(self.fd).st_size
        state = load_snapshot(self.path, self.fd, size) if size else None
        self.state = state or JournalState()
        start = self.state.n_ops
        self._catch_up(size)
        self.replayed_at_open = self.state.n_ops - start

    def check_fork(self) -> None:
        """Reopen the file in a forked child; call before using :attr:`fd`.

        A ``flock`` is shared by the open file, so a child must not append through the
        descriptor it inherited.
        """
        if os.getpid() != self._pid:
            inherited = self.fd
            self._drop_inherited()
            self._open()
            with contextlib.suppress(OSError):
                os.close(inherited)

    def _forget_parent(self) -> None:
        """In a forked child, at once (only one thread runs there): a mutex of its own (another
        thread of the parent may have held this one) and nothing of the parent's flusher. The
        file is reopened on first use (:meth:`check_fork`): no I/O at fork time."""
        self.mutex = threading.RLock()
        self._drop_inherited()

    def _drop_inherited(self) -> None:
        self._finalizer.detach()  # it would close the parent's descriptor number
        if self._flusher is not None:
            self._flusher.abandon()  # the parent fsyncs its own writes
            self._flusher = None

    def _nothing_buffered(self) -> None:
        """Write-through: nothing waits for an exit (the flusher makes the pending fsync)."""

    def close(self) -> None:
        """fsync what the ``interval`` policy has not yet, and close the file. Idempotent.

        Raises:
            JournalSyncError: That fsync, or an earlier background one, failed.
        """
        with self.mutex:
            if self.fd < 0:
                return
            self._finalizer.detach()
            lifecycle.untrack(self)
            try:
                if self._flusher is not None:
                    self._flusher.stop()
            finally:
                os.close(self.fd)
                self.fd = -1

    @property
    def worker_id(self) -> str:
        """Optuna's form: one id per process and thread."""
        ident = threading.get_ident()
        try:
            return self._worker_ids[ident]
        except KeyError:
            worker = self._worker_ids[ident] = self.worker_prefix + str(ident)
            return worker

    # -- reading -------------------------------------------------------------------------------
    def sync(self) -> None:
        """Apply what other processes appended since the last read (one ``fstat`` if nothing)."""
        size = os.fstat(self.fd).st_size
        if size != self.state.offset:
            self._catch_up(size)

    def _catch_up(self, size: int, *, repair: bool = False) -> None:
        state = self.state
        while size > state.offset:
            want = min(size - state.offset, _READ_CHUNK)
            data = os.pread(self.fd, want, state.offset)
            self.counters["reads"] += 1
            complete = split_complete(data)
            if complete == 0:
                if len(data) < want or size - state.offset == want:
                    break  # only a partial last line: being written, or torn
                raise JournalCorruptError(
                    self.path, state.offset, state.n_ops + 1, "a line longer than 64 MiB"
                )
            self._apply_chunk(data[:complete])
        if size < state.offset:
            raise JournalTruncatedError(
                f"journal {self.path!r} is {size} bytes, shorter than the {state.offset} bytes "
                "already read: it was truncated or replaced while open. Open it again."
            )
        if repair and size > state.offset:
            self._repair_torn_tail(size)

    def _apply_chunk(self, data: bytes) -> None:
        """Apply complete lines, a piece at a time; a bad record raises with its offset."""
        for piece in pieces(data, _PARSE_PIECE):
            self._apply_piece(piece)

    def _apply_piece(self, data: bytes) -> None:
        state = self.state
        records, error, finite = parse_lines(data)
        if not finite:
            state.finite = False
        applied, failure = state.apply_many(records)
        if error is None and failure is None:
            state.offset += len(data)
            state.n_ops += applied
            return
        if failure is not None:
            bad_at, reason = line_offset(data, applied), failure
        else:
            assert error is not None
            bad_at, _, reason = error
        state.offset += bad_at
        state.n_ops += applied
        raise JournalCorruptError(self.path, state.offset, state.n_ops + 1, reason)

    def _repair_torn_tail(self, size: int) -> None:
        # We hold the lock, so no writer sharing it is mid-append. With flock, one that does not
        # share it (Optuna's JournalStorage) may be: a line still growing is not torn.
        if self.lock_kind == "flock":
            time.sleep(_TORN_CHECK_DELAY)
            now = os.fstat(self.fd).st_size
            if now != size:
                self._catch_up(now, repair=True)
                return
        offset = self.state.offset
        fragment = os.pread(self.fd, min(size - offset, 80), offset)
        os.ftruncate(self.fd, offset)
        self.counters["repairs"] += 1
        warnings.warn(
            f"journal {self.path!r}: removed a partial last line of {size - offset} bytes at "
            f"byte offset {offset} (starting {fragment[:60]!r}), left by a writer that was "
            "killed mid-append; the records before it are intact",
            TornLineWarning,
            stacklevel=5,
        )

    # -- writing -------------------------------------------------------------------------------
    def commit(self, op: dict[str, Any], *, durable: bool, plain: bool = False) -> Any:
        """Check ``op`` against the current state, append it, and return its result.

        An op that does not apply raises (KeyError, UpdateFinishedTrialError, ...) and nothing
        is written. ``durable`` asks for an fsync under the ``commit`` policy. ``plain`` says
        the op holds only numbers and strings, so it need not be decoded again: otherwise it
        is applied exactly as readers will decode it.
        """
        if self.read_only:
            raise StorageKitError(
                f"journal {self.path!r} is open read-only (no write permission); "
                "give this process write access to the file to change the study"
            )
        self._check_synced()
        line = encode(op)
        mine = op if plain else loads(line)  # as every reader will decode it
        with self.mutex:
            self.check_fork()
            if os.fstat(self.fd).st_size != self.state.offset:
                self.sync()  # catch up before taking the lock, to hold it for less time
            self._lock.acquire(self.fd)
            self.counters["locks"] += 1
            try:
                self._catch_up(os.fstat(self.fd).st_size, repair=True)
                start = self.state.offset
                result = self.state.apply(mine, mine=True)  # raises before anything is written
                self._write(line)
                self.counters["reads"] += 1
                if os.pread(self.fd, len(line), start) == line:
                    self.state.offset = start + len(line)
                    self.state.n_ops += 1
                else:
                    result = self._relocate(line, mine, start)
            finally:
                self._lock.release(self.fd)
            if b"NaN" in line or b"Infinity" in line:  # how json.dumps writes non-finite floats
                self.state.finite = False
            self.counters["appends"] += 1
            self.counters["commits"] += 1
            policy = self.fsync_policy
            if policy == "always" or (durable and policy == "commit"):
                self._fsync_now()
            elif self._flusher is not None:
                self._flusher.poke()
            # The writer of the record that crosses a multiple of the snapshot period saves a
            # snapshot, so an open never replays more than about that many records.
            period = self.snapshot_every * _WRITER_SNAPSHOT_FACTOR
            if period and self.state.n_ops % period == 0:
                self._try_snapshot()
        return result

    def _relocate(self, line: bytes, op: dict[str, Any], start: int) -> Any:
        """Our record did not land at ``start``: a writer that does not share our lock (Optuna's
        JournalStorage while we use ``flock``) appended first. Replay in file order, as every
        reader will, and take our result from there; the record may turn out not to apply."""
        self.counters["relocations"] += 1
        self._reload(upto=start)
        data = os.pread(self.fd, os.fstat(self.fd).st_size - start, start)
        at = 0
        while True:
            end = data.index(b"\n", at) + 1
            if data[at:end] == line:
                break
            at = end
        if at:
            self._apply_chunk(data[:at])
        state = self.state
        try:
            return state.apply(op, mine=True)
        finally:
            state.offset += len(line)
            state.n_ops += 1

    def _check_synced(self) -> None:
        """Refuse to write after a failed fsync: the journal's durability is unknown."""
        if self._sync_error is not None:
            raise self._sync_error
        if self._flusher is not None:
            self._flusher.check()

    def _fsync_now(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError as err:
            # The kernel reports a writeback error once: later fsyncs may succeed although
            # the pages were lost. So this journal takes no more writes.
            self._sync_error = sync_error(self.path, err, None)
            raise self._sync_error from err
        self.counters["fsyncs"] += 1

    def _write(self, data: bytes) -> None:
        start = self.state.offset
        try:
            written = os.write(self.fd, data)
            self.counters["writes"] += 1
            view = memoryview(data)[written:]
            while view:  # a short write: rare, but allowed
                written = os.write(self.fd, view)
                self.counters["writes"] += 1
                view = view[written:]
        except BaseException as err:
            left = self._undo_write(start, data)
            self._reload(upto=start)
            if isinstance(err, OSError):
                raise write_error(self.path, err, start, left) from err
            raise

    def _undo_write(self, start: int, line: bytes) -> str:
        """Cut the journal back to ``start`` after a failed append of ``line``, if what
        follows ``start`` is part of it (not a record of a writer that does not share our
        lock); say what is left."""
        try:
            size = os.fstat(self.fd).st_size
            if size > start and line.startswith(os.pread(self.fd, size - start, start)):
                os.ftruncate(self.fd, start)  # leave no partial line behind
        except OSError as err:
            return (
                f"; a partial line may be left at byte offset {start} ({err.strerror}): "
                "readers ignore it and the next writer removes it"
            )
        return ""

    def _reload(self, upto: int | None = None) -> None:
        """Rebuild the state from the snapshot and the file, up to byte ``upto`` (a line end)."""
        size = os.fstat(self.fd).st_size if upto is None else upto
        with gc_paused():
            self.state = load_snapshot(self.path, self.fd, size) or JournalState()
            self._catch_up(size)

    # -- snapshots -----------------------------------------------------------------------------
    def snapshot(self) -> str:
        """Write ``PATH.snapshot`` with the state replayed so far; return its path."""
        if self.inspect:
            raise StorageKitError(
                f"journal {self.path!r} is open read-only (mode=ro): no snapshot is written"
            )
        with self.mutex:
            self.check_fork()
            return save_snapshot(self.path, self.fd, self.state)
