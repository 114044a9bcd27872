//! Errors of the storage core. `lib.rs` turns each kind into the Python exception Optuna's
//! `BaseStorage` contract promises, or into one of the exception classes `_native` defines.
//!
//! Messages say what was being done and why it failed, in words: never the SQL text.

use std::fmt;

use rusqlite::ErrorCode;

/// What went wrong in the storage core.
#[derive(Debug)]
pub enum StoreError {
    /// A study or trial does not exist (Python `KeyError`).
    NotFound(String),
    /// A study with this name exists (`optuna.exceptions.DuplicatedStudyError`).
    DuplicateStudy(String),
    /// The trial is finished and cannot be changed (`UpdateFinishedTrialError`).
    Finished(String),
    /// The file's schema is not the one this Optuna writes (`SchemaMismatchError`).
    Schema(String),
    /// The caller passed something invalid (`ValueError`).
    Invalid(String),
    /// The storage was closed (`StoreClosedError`).
    Closed,
    /// The file does not exist and was opened without creating it (`StoreNotFoundError`).
    Missing(String),
    /// A write through a store opened read-only (`ReadOnlyStorageError`): what it was.
    ReadOnly(String),
    /// The file cannot be opened as asked (`SqliteStorageError`): why, and the fix.
    Unusable(String),
    /// SQLite failed (`SqliteStorageError`, or `DiskFullError` when out of space): what we
    /// were doing, SQLite's error, and the OS error number SQLite saw (0 if none).
    Sqlite(String, rusqlite::Error, i32),
}

pub type Result<T> = std::result::Result<T, StoreError>;

const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;

impl StoreError {
    /// True when the failure is a full disk (or an exhausted quota).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Sqlite(_, rusqlite::Error::SqliteFailure(e, _), errno) => {
                e.code == ErrorCode::DiskFull || *errno == ENOSPC || *errno == EDQUOT
            }
            _ => false,
        }
    }

    /// The same error, saying it happened while doing `what` (for SQLite failures).
    pub fn doing(self, what: &str, errno: i32) -> StoreError {
        match self {
            StoreError::Sqlite(_, e, old) => {
                StoreError::Sqlite(what.to_string(), e, if old != 0 { old } else { errno })
            }
            other => other,
        }
    }
}

/// SQLite's error in words, without any SQL text.
fn cause(err: &rusqlite::Error, errno: i32) -> String {
    let rusqlite::Error::SqliteFailure(e, message) = err else {
        return match err {
            // This one would quote the statement: keep only SQLite's own words.
            rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
            other => other.to_string(),
        };
    };
    let os = if errno != 0 {
        format!(" ({})", std::io::Error::from_raw_os_error(errno))
    } else {
        String::new()
    };
    match e.code {
        _ if errno == ENOSPC || errno == EDQUOT || e.code == ErrorCode::DiskFull => format!(
            "disk full: no space left on the device{os}; what was being written is not \
             stored (everything committed before is intact): free space, then retry"
        ),
        ErrorCode::ReadOnly => format!(
            "the file is read-only{os}: it or its directory is not writable by this user; \
             open it with mode=ro to read it"
        ),
        ErrorCode::CannotOpen => format!(
            "the file cannot be opened{os}: check that it and its directory exist and are \
             accessible"
        ),
        ErrorCode::PermissionDenied => format!("permission denied{os}"),
        ErrorCode::NotADatabase => "the file is not a SQLite database".into(),
        ErrorCode::DatabaseCorrupt => {
            "the database file is corrupt (restore it from a backup)".into()
        }
        ErrorCode::SystemIoFailure => format!("an I/O error{os}"),
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            "the database is locked by another connection".into()
        }
        _ => match message {
            Some(m) => m.clone(),
            None => e.to_string(),
        },
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound(m)
            | StoreError::DuplicateStudy(m)
            | StoreError::Finished(m)
            | StoreError::Schema(m)
            | StoreError::Invalid(m)
            | StoreError::Unusable(m) => f.write_str(m),
            StoreError::Closed => f.write_str("this SQLite storage was closed; open it again"),
            StoreError::Missing(path) => write!(
                f,
                "{path} does not exist (opening it read-only never creates it): check the path"
            ),
            StoreError::ReadOnly(what) => write!(
                f,
                "cannot {what}: the storage was opened read-only (mode=ro); open it without \
                 mode=ro to write"
            ),
            StoreError::Sqlite(what, err, errno) => {
                write!(f, "SQLite failed while {what}: {}", cause(err, *errno))
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// Attach "while doing X" to a rusqlite result. `what` is a short description in words; a
/// transaction (`Db::retry`) replaces it with its own, which is what the user sees.
pub trait Context<T> {
    fn ctx(self, what: &str) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, rusqlite::Error> {
    fn ctx(self, what: &str) -> Result<T> {
        self.map_err(|e| StoreError::Sqlite(what.to_string(), e, 0))
    }
}

/// True for the errors a later retry can cure (another connection holds a lock).
pub fn is_busy(err: &StoreError) -> bool {
    match err {
        StoreError::Sqlite(_, rusqlite::Error::SqliteFailure(e, _), _) => matches!(
            e.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        ),
        _ => false,
    }
}

/// True when a statement failed on a UNIQUE constraint.
pub fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}
