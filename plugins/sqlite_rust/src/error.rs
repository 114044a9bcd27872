//! Errors of the storage core. `lib.rs` turns each kind into the Python exception Optuna's
//! `BaseStorage` contract promises.

use std::fmt;

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
    /// SQLite failed (`SqliteStorageError`), with what we were doing.
    Sqlite(String, rusqlite::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound(m)
            | StoreError::DuplicateStudy(m)
            | StoreError::Finished(m)
            | StoreError::Schema(m)
            | StoreError::Invalid(m) => f.write_str(m),
            StoreError::Sqlite(what, err) => write!(f, "SQLite error while {what}: {err}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Attach "while doing X" to a rusqlite result.
pub trait Context<T> {
    fn ctx(self, what: &str) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, rusqlite::Error> {
    fn ctx(self, what: &str) -> Result<T> {
        self.map_err(|e| StoreError::Sqlite(what.to_string(), e))
    }
}

/// True for the errors a later retry can cure (another connection holds a lock).
pub fn is_busy(err: &StoreError) -> bool {
    match err {
        StoreError::Sqlite(_, rusqlite::Error::SqliteFailure(e, _)) => matches!(
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
