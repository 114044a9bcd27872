//! One SQLite connection with counted statements and retried transactions.
//!
//! Every write transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock before it
//! reads anything and can never fail on a lock upgrade (the classic SQLite deadlock). Lock waits
//! are handled by SQLite's busy timeout and, past it, by retrying the whole transaction until
//! the overall timeout: "database is locked" reaches the caller only after that.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, Params, Row};

use crate::error::{is_busy, Context, Result, StoreError};

/// How each commit reaches the disk (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    /// WAL + NORMAL: a commit survives a process crash; the last commits may be lost on power
    /// loss or an OS crash (never corruption).
    Normal,
    /// WAL + FULL: the WAL is fsynced at every commit, so commits also survive power loss.
    Full,
}

/// Page size of files this backend creates.
const NEW_FILE_PAGE_SIZE: i64 = 1024;
/// WAL size at which SQLite's automatic checkpoint runs.
const WAL_CHECKPOINT_BYTES: i64 = 4 << 20;

/// A connection plus the deterministic counters the conformance kit reads.
pub struct Db {
    conn: Connection,
    timeout: Duration,
    statements: Cell<u64>,
    commits: Cell<u64>,
}

impl Db {
    /// Open (creating if needed) the file at `path` in WAL mode.
    pub fn open(path: &str, timeout: Duration, sync: Sync) -> Result<Db> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).ctx("opening the database file")?;
        // Per-attempt wait inside SQLite; `retry` loops over attempts until `timeout`.
        conn.busy_timeout(timeout.min(Duration::from_secs(2)))
            .ctx("setting the busy timeout")?;
        conn.set_prepared_statement_cache_capacity(64);
        // A new file gets 1 KiB pages: a trial's commit writes ~7 WAL frames, and smaller
        // frames cost less to checksum and copy (rows here are small). Existing files keep
        // theirs (the pragma does nothing on a database that has content).
        conn.execute_batch(&format!("PRAGMA page_size={NEW_FILE_PAGE_SIZE}"))
            .ctx("setting the page size")?;
        let db = Db {
            conn,
            timeout,
            statements: Cell::new(0),
            commits: Cell::new(0),
        };
        db.retry("switching the database to WAL mode", |db| {
            let mode: String = db
                .conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                .ctx("switching the database to WAL mode")?;
            if mode.eq_ignore_ascii_case("wal") {
                Ok(())
            } else {
                Err(StoreError::Invalid(format!(
                    "cannot switch {path} to WAL mode (SQLite answered journal_mode={mode}); \
                     the file system may not support shared memory (NFS?): use a local disk"
                )))
            }
        })?;
        let level = match sync {
            Sync::Normal => "NORMAL",
            Sync::Full => "FULL",
        };
        db.conn
            .execute_batch(&format!("PRAGMA synchronous={level}"))
            .ctx("setting PRAGMA synchronous")?;
        // Checkpoint (copy the WAL into the database, with fsyncs) every ~4 MiB of WAL.
        let page: i64 = db
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .ctx("reading the page size")?;
        let pages = (WAL_CHECKPOINT_BYTES / page.max(512)).max(1000);
        db.conn
            .execute_batch(&format!("PRAGMA wal_autocheckpoint={pages}"))
            .ctx("setting the checkpoint interval")?;
        Ok(db)
    }

    /// `(statements, commits)` executed so far by this connection.
    pub fn counters(&self) -> (u64, u64) {
        (self.statements.get(), self.commits.get())
    }

    fn count(&self) {
        self.statements.set(self.statements.get() + 1);
    }

    /// Execute one cached statement; return the number of changed rows.
    pub fn exec<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.count();
        let mut stmt = self.conn.prepare_cached(sql).ctx(sql)?;
        stmt.execute(params).ctx(sql)
    }

    /// Run a statement that returns at most one row.
    pub fn row<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> Result<Option<T>> {
        self.count();
        let mut stmt = self.conn.prepare_cached(sql).ctx(sql)?;
        let mut rows = stmt.query(params).ctx(sql)?;
        match rows.next().ctx(sql)? {
            Some(r) => Ok(Some(f(r).ctx(sql)?)),
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
        let mut stmt = self.conn.prepare_cached(sql).ctx(sql)?;
        let rows = stmt.query_map(params, f).ctx(sql)?;
        rows.collect::<rusqlite::Result<Vec<T>>>().ctx(sql)
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
            .ctx("data_version")?;
        stmt.query_row([], |r| r.get(0))
            .ctx("reading PRAGMA data_version")
    }

    fn batch(&self, sql: &str) -> Result<()> {
        self.exec(sql, []).map(|_| ())
    }

    /// Run `f` until it stops failing with a busy/locked error, or the timeout passes.
    pub fn retry<T>(&self, what: &str, mut f: impl FnMut(&Db) -> Result<T>) -> Result<T> {
        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match f(self) {
                Err(err) if is_busy(&err) && Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(err) if is_busy(&err) => {
                    return Err(StoreError::Sqlite(
                        format!(
                            "{what}: the database stayed locked by other writers for {:.0} s \
                             (raise the `timeout` option)",
                            self.timeout.as_secs_f64()
                        ),
                        match err {
                            StoreError::Sqlite(_, e) => e,
                            _ => unreachable!(),
                        },
                    ))
                }
                other => return other,
            }
        }
    }

    /// Run `f` in a write transaction (`BEGIN IMMEDIATE`), retried as a whole when locked.
    /// `f` must not change anything outside the database: it may run more than once.
    pub fn write<T>(&self, what: &str, mut f: impl FnMut(&Db) -> Result<T>) -> Result<T> {
        self.retry(what, |db| db.transaction("BEGIN IMMEDIATE", &mut f))
    }

    /// Run `f` in a read transaction (one consistent snapshot), retried when locked.
    pub fn read<T>(&self, what: &str, mut f: impl FnMut(&Db) -> Result<T>) -> Result<T> {
        self.retry(what, |db| db.transaction("BEGIN", &mut f))
    }

    fn transaction<T>(&self, begin: &str, f: &mut impl FnMut(&Db) -> Result<T>) -> Result<T> {
        self.batch(begin)?;
        match f(self) {
            Ok(value) => match self.batch("COMMIT") {
                Ok(()) => {
                    self.commits.set(self.commits.get() + 1);
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
