//! One SQLite connection with counted statements and retried transactions.
//!
//! Every write transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock before it
//! reads anything and can never fail on a lock upgrade (the classic SQLite deadlock). Lock waits
//! are handled by a busy handler of short waits (`short_waits`) and, past it, by retrying the
//! whole transaction until the overall timeout: "database is locked" reaches the caller only
//! after that.

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, Params, Row, MAIN_DB};

use crate::checkpoint::{self, Checkpointer};
use crate::error::{is_busy, Context, Result, StoreError};
use crate::files;

/// How each commit reaches the disk (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    /// WAL + NORMAL: a commit survives a process crash; the last commits may be lost on power
    /// loss or an OS crash (never corruption).
    Normal,
    /// WAL + FULL: the WAL is fsynced at every commit, so commits also survive power loss.
    Full,
}

/// What a failed statement was doing, until its transaction names it (`Db::retry`): the SQL
/// text never reaches a message.
const STATEMENT: &str = "running a statement";
/// What `PRAGMA data_version` is for.
const LOOKING: &str = "looking for other connections' writes";

/// Page size of files this backend creates.
const NEW_FILE_PAGE_SIZE: i64 = 1024;
/// WAL size at which SQLite's automatic checkpoint runs in the committing thread: the
/// backstop of `checkpoint.rs`'s thread, which does the copying long before (4 MiB here cost
/// a trial ~20-40 us of waiting for its fsyncs, 16 MiB a few).
const WAL_CHECKPOINT_BYTES: i64 = 16 << 20;

/// A connection plus the deterministic counters the conformance kit reads.
pub struct Db {
    conn: Connection,
    path: String,
    read_only: bool,
    /// This process's key in [`OPEN_WRITERS`] (writable connections only).
    writer_key: Option<(u32, PathBuf)>,
    timeout: Duration,
    statements: Cell<u64>,
    commits: Cell<u64>,
    /// Checkpoints in a thread of their own (writable connections; see `checkpoint.rs`).
    checkpointer: Option<Checkpointer>,
    /// Write transactions since the last checkpoint request.
    unrequested: Cell<u32>,
}

/// Writable connections open in this process, per file (keyed by process id too: a forked
/// child inherits this table but not the parent's connections). When the last one of a file
/// closes, its WAL is checkpointed into the database file, so the `.db` alone is the study.
static OPEN_WRITERS: Mutex<Vec<((u32, PathBuf), usize)>> = Mutex::new(Vec::new());

fn writers() -> std::sync::MutexGuard<'static, Vec<((u32, PathBuf), usize)>> {
    OPEN_WRITERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long one attempt waits for a lock in all, at most, before `Db::retry` takes over.
const BUSY_WAIT: Duration = Duration::from_secs(2);

thread_local! {
    /// This thread's current attempt's wait budget, in microseconds (`Db::retry` sets it:
    /// the connection's `timeout`, at most `BUSY_WAIT`). The busy handler is a plain function
    /// that SQLite calls on the thread running the statement.
    static BUSY_BUDGET_US: Cell<u64> = const { Cell::new(2_000_000) };
}

/// SQLite's busy handler: wait a little and try again (true), or give up (false).
///
/// SQLite's own (`busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25 ... 100 ms between tries, but
/// a write transaction here holds the lock for some 30 us: with several processes writing, a
/// waiter slept through dozens of other transactions. These waits start at 25 us and double
/// up to 2 ms, with jitter so that waiters do not wake in step; an attempt gives up after
/// about the budget `Db::retry` set (at most `BUSY_WAIT`) in all.
fn short_waits(count: i32) -> bool {
    const FIRST_US: u64 = 25;
    const LONGEST_US: u64 = 2_000;
    let count = count.max(0) as u64;
    let step = (FIRST_US << count.min(10)).min(LONGEST_US);
    // Doubling from 25 us reaches 2 ms at the 7th try (~4 ms in all); then 2 ms a try.
    let waited_us = if count < 7 {
        step * 2
    } else {
        4_000 + (count - 7) * LONGEST_US
    };
    if waited_us >= BUSY_BUDGET_US.with(Cell::get) {
        return false;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let jitter = nanos % (step / 2 + 1);
    std::thread::sleep(Duration::from_micros(step / 2 + jitter));
    true
}

impl Db {
    /// Open the file at `path`: for writing (created if needed, switched to WAL mode), or
    /// read-only, changing no byte of it or its directory (see `files.rs`).
    pub fn open(path: &str, timeout: Duration, sync: Sync, read_only: bool) -> Result<Db> {
        let conn = if read_only {
            let uri = files::read_only_uri(path)?;
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(uri, flags).ctx("opening the database file")?
        } else {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(path, flags).ctx("opening the database file")?
        };
        // Per-attempt wait inside SQLite (`short_waits`); `retry` loops over attempts until
        // `timeout`.
        conn.busy_handler(Some(short_waits))
            .ctx("setting the busy handler")?;
        conn.set_prepared_statement_cache_capacity(64);
        // The bundled SQLite enforces foreign keys (`SQLITE_DEFAULT_FOREIGN_KEYS=1`); Optuna's
        // RDBStorage runs SQLite without (SQLite's default), and every write here checks the
        // study or trial it needs in its own transaction: a lookup per inserted row saved.
        conn.execute_batch("PRAGMA foreign_keys=OFF")
            .ctx("configuring the connection")?;
        let mut db = Db {
            conn,
            path: path.to_string(),
            read_only,
            writer_key: None,
            timeout,
            statements: Cell::new(0),
            commits: Cell::new(0),
            checkpointer: None,
            unrequested: Cell::new(0),
        };
        if read_only {
            // Belt and braces: this connection refuses to write whatever is asked of it.
            db.conn
                .execute_batch("PRAGMA query_only=ON")
                .ctx("making the connection read-only")?;
        } else {
            db.prepare_for_writing(sync)?;
            let key = (
                std::process::id(),
                std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path)),
            );
            let mut open = writers();
            match open.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => open.push((key.clone(), 1)),
            }
            db.writer_key = Some(key);
            db.checkpointer = Checkpointer::start(path);
        }
        Ok(db)
    }

    /// WAL mode, the sync level and the checkpoint interval of a writable connection.
    fn prepare_for_writing(&self, sync: Sync) -> Result<()> {
        let path = &self.path;
        if self.conn.is_readonly(MAIN_DB).unwrap_or(false) {
            return Err(StoreError::Unusable(format!(
                "cannot open {path} for writing: the file is not writable by this user; \
                 to read it, open it with mode=ro (optuna+sqlite:///{path}?mode=ro)"
            )));
        }
        // A new file gets 1 KiB pages: a trial's commit writes ~7 WAL frames, and smaller
        // frames cost less to checksum and copy (rows here are small). Existing files keep
        // theirs (the pragma does nothing on a database that has content).
        self.conn
            .execute_batch(&format!("PRAGMA page_size={NEW_FILE_PAGE_SIZE}"))
            .ctx("setting the page size")?;
        let switched = self.retry("switching the database to WAL mode", |db| {
            let mode: String = db
                .conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                .ctx("switching the database to WAL mode")?;
            if mode.eq_ignore_ascii_case("wal") {
                Ok(())
            } else {
                Err(StoreError::Unusable(format!(
                    "cannot switch {path} to WAL mode (SQLite answered journal_mode={mode}); \
                     the file system may not support shared memory (NFS?): use a local disk"
                )))
            }
        });
        match switched {
            Err(StoreError::Sqlite(_, rusqlite::Error::SqliteFailure(e, _), _))
                if matches!(e.code, ErrorCode::ReadOnly | ErrorCode::CannotOpen) =>
            {
                return Err(StoreError::Unusable(format!(
                    "cannot open {path} for writing: SQLite keeps its -wal and -shm files \
                     beside it, and its directory is not writable by this user; to read it, \
                     open it with mode=ro (optuna+sqlite:///{path}?mode=ro)"
                )))
            }
            other => other?,
        }
        let level = match sync {
            Sync::Normal => "NORMAL",
            Sync::Full => "FULL",
        };
        self.conn
            .execute_batch(&format!("PRAGMA synchronous={level}"))
            .ctx("setting PRAGMA synchronous")?;
        // The committing thread checkpoints (copies the WAL into the database, with fsyncs)
        // only past WAL_CHECKPOINT_BYTES; the checkpoint thread does it every few hundred
        // commits.
        let page: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .ctx("reading the page size")?;
        let pages = (WAL_CHECKPOINT_BYTES / page.max(512)).max(1000);
        self.conn
            .execute_batch(&format!("PRAGMA wal_autocheckpoint={pages}"))
            .ctx("setting the checkpoint interval")?;
        Ok(())
    }

    /// Copy the WAL into the database file and truncate it (`wal_checkpoint(TRUNCATE)`), so
    /// the `.db` file alone holds every commit. Returns false when other connections' reads
    /// kept it from completing (it is then retried at the next close or exit). Read-only
    /// connections do nothing.
    pub fn checkpoint(&self) -> Result<bool> {
        if self.read_only {
            return Ok(true);
        }
        let busy: i64 = self.retry("checkpointing the WAL into the database file", |db| {
            db.count();
            db.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                .ctx("checkpointing")
        })?;
        Ok(busy == 0)
    }

    /// Close the connection. The last writable connection of this process to the file
    /// checkpoints first (see [`Db::checkpoint`]); a checkpoint that fails is not an error
    /// (every commit is in the WAL, which SQLite reads back).
    pub fn close(mut self) {
        if let Some(mut c) = self.checkpointer.take() {
            c.stop();
        }
        if self.unregister() {
            let _ = self.checkpoint();
        }
    }

    /// Forget this connection in [`OPEN_WRITERS`]; true if it was the file's last one.
    fn unregister(&mut self) -> bool {
        let Some(key) = self.writer_key.take() else {
            return false;
        };
        let mut open = writers();
        let Some(i) = open.iter().position(|(k, _)| *k == key) else {
            return false;
        };
        open[i].1 -= 1;
        if open[i].1 == 0 {
            open.swap_remove(i);
            return true;
        }
        false
    }

    /// The OS error SQLite saw last on this connection (for I/O failures only).
    fn errno_of(&self, err: &StoreError) -> i32 {
        match err {
            StoreError::Sqlite(_, rusqlite::Error::SqliteFailure(e, _), _)
                if matches!(
                    e.code,
                    ErrorCode::SystemIoFailure | ErrorCode::DiskFull | ErrorCode::CannotOpen
                ) =>
            {
                // SAFETY: the handle is valid while `self.conn` lives; the call only reads.
                unsafe { rusqlite::ffi::sqlite3_system_errno(self.conn.handle()) }
            }
            _ => 0,
        }
    }

    /// `(statements, commits)` executed so far by this connection: every statement, and the
    /// commits of write transactions.
    pub fn counters(&self) -> (u64, u64) {
        (self.statements.get(), self.commits.get())
    }

    fn count(&self) {
        self.statements.set(self.statements.get() + 1);
    }

    /// Execute one cached statement; return the number of changed rows.
    pub fn exec<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.count();
        let mut stmt = self.conn.prepare_cached(sql).ctx(STATEMENT)?;
        stmt.execute(params).ctx(STATEMENT)
    }

    /// Run a statement that returns at most one row.
    pub fn row<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> Result<Option<T>> {
        self.count();
        let mut stmt = self.conn.prepare_cached(sql).ctx(STATEMENT)?;
        let mut rows = stmt.query(params).ctx(STATEMENT)?;
        match rows.next().ctx(STATEMENT)? {
            Some(r) => Ok(Some(f(r).ctx(STATEMENT)?)),
            None => Ok(None),
        }
    }

    /// Run a query and map every row.
    pub fn rows<T, P: Params, F: FnMut(&Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> Result<Vec<T>> {
        self.count();
        let mut stmt = self.conn.prepare_cached(sql).ctx(STATEMENT)?;
        let rows = stmt.query_map(params, f).ctx(STATEMENT)?;
        rows.collect::<rusqlite::Result<Vec<T>>>().ctx(STATEMENT)
    }

    /// The rowid of the last insert on this connection.
    pub fn last_id(&self) -> i64 {
        self.conn.last_insert_rowid()
    }

    /// `PRAGMA data_version`: changes whenever another connection commits.
    pub fn data_version(&self) -> Result<i64> {
        self.count();
        let mut stmt = self
            .conn
            .prepare_cached("PRAGMA data_version")
            .ctx(LOOKING)?;
        stmt.query_row([], |r| r.get(0)).ctx(LOOKING)
    }

    fn batch(&self, sql: &str) -> Result<()> {
        self.exec(sql, []).map(|_| ())
    }

    /// Run `f` until it stops failing with a busy/locked error, or the timeout passes.
    pub fn retry<T>(&self, what: &str, mut f: impl FnMut(&Db) -> Result<T>) -> Result<T> {
        let deadline = Instant::now() + self.timeout;
        let budget = self.timeout.min(BUSY_WAIT).as_micros() as u64;
        BUSY_BUDGET_US.with(|b| b.set(budget));
        let mut pause = Duration::from_millis(1);
        loop {
            match f(self) {
                Err(err) if is_busy(&err) && Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(err) if is_busy(&err) => {
                    return Err(err.doing(
                        &format!(
                            "{what}: the database stayed locked by other writers for {:.0} s \
                             (raise the `timeout` option)",
                            self.timeout.as_secs_f64()
                        ),
                        0,
                    ))
                }
                Err(err) => {
                    let errno = self.errno_of(&err);
                    return Err(err.doing(what, errno));
                }
                ok => return ok,
            }
        }
    }

    /// Run `f` in a write transaction (`BEGIN IMMEDIATE`), retried as a whole when locked.
    /// `f` must not change anything outside the database: it may run more than once.
    pub fn write<T>(&self, what: &str, mut f: impl FnMut(&Db) -> Result<T>) -> Result<T> {
        if self.read_only {
            return Err(StoreError::ReadOnly(what.to_string()));
        }
        let done = self.retry(what, |db| db.transaction(true, &mut f))?;
        if let Some(c) = &self.checkpointer {
            let n = self.unrequested.get() + 1;
            if n >= checkpoint::EVERY {
                c.request();
                self.unrequested.set(0);
            } else {
                self.unrequested.set(n);
            }
        }
        Ok(done)
    }

    /// Run `f` in a read transaction (one consistent snapshot), retried when locked.
    pub fn read<T>(&self, what: &str, mut f: impl FnMut(&Db) -> Result<T>) -> Result<T> {
        self.retry(what, |db| db.transaction(false, &mut f))
    }

    /// `f` in a write (`BEGIN IMMEDIATE`) or read (`BEGIN`) transaction; only a write's
    /// `COMMIT` counts in [`Db::counters`] (a read's writes nothing).
    fn transaction<T>(&self, write: bool, f: &mut impl FnMut(&Db) -> Result<T>) -> Result<T> {
        self.batch(if write { "BEGIN IMMEDIATE" } else { "BEGIN" })?;
        match f(self) {
            Ok(value) => match self.batch("COMMIT") {
                Ok(()) => {
                    if write {
                        self.commits.set(self.commits.get() + 1);
                    }
                    Ok(value)
                }
                Err(err) => {
                    self.rollback();
                    Err(err)
                }
            },
            Err(err) => {
                self.rollback();
                Err(err)
            }
        }
    }

    fn rollback(&self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Drop for Db {
    /// A connection dropped without [`Db::close`] is forgotten in [`OPEN_WRITERS`]; SQLite's
    /// own close still checkpoints when no other connection, in any process, has the file.
    fn drop(&mut self) {
        self.unregister();
    }
}
