//! Python bindings of the SQLite storage core (`osk_sqlite._native`).
//!
//! Every method releases the GIL while it talks to SQLite, so threads overlap. No panic crosses
//! into Python: each call runs under `catch_unwind` and a panic becomes a `SqliteStorageError`.
//! Errors become the exceptions Optuna's `BaseStorage` contract promises (`KeyError`,
//! `DuplicatedStudyError`, `UpdateFinishedTrialError`) or `osk_sqlite` errors.

mod checkpoint;
mod db;
mod error;
mod files;
mod fork;
mod store;
mod sync;
mod timefmt;
mod trials;

#[cfg(test)]
mod tests;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PyTuple, PyType};

pub use db::Sync as Synchronous;
pub use error::StoreError;
pub use store::{Attrs, Pending, Store, Versions};
pub use sync::{TrialRecord, TrialRow};
pub use trials::{Template, TrialWrite};

type VersionTuple = (i64, String, Option<String>);

/// The exception classes `_native` defines (made at import: their bases are Python classes).
struct Classes {
    sqlite: Py<PyType>,
    schema: Py<PyType>,
    closed: Py<PyType>,
    disk_full: Py<PyType>,
}

static CLASSES: GILOnceCell<Classes> = GILOnceCell::new();

fn class(py: Python<'_>, module: &str, name: &str) -> PyResult<Py<PyType>> {
    Ok(py
        .import(module)?
        .getattr(name)?
        .downcast_into::<PyType>()?
        .unbind())
}

fn new_class(
    m: &Bound<'_, PyModule>,
    name: &str,
    bases: Vec<Py<PyType>>,
    doc: &str,
) -> PyResult<Py<PyType>> {
    let py = m.py();
    let namespace = PyDict::new(py);
    namespace.set_item("__doc__", doc)?;
    namespace.set_item("__module__", "osk_sqlite")?;
    let made = py
        .get_type::<PyType>()
        .call1((name, PyTuple::new(py, bases)?, namespace))?
        .downcast_into::<PyType>()?;
    m.add(name, &made)?;
    Ok(made.unbind())
}

fn define_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let kit = class(py, "optuna_storage_kit.errors", "StorageKitError")?;
    let internal = class(py, "optuna.exceptions", "StorageInternalError")?;
    let sqlite = new_class(
        m,
        "SqliteStorageError",
        vec![kit.clone_ref(py), internal],
        "SQLite failed, e.g. the file is not a database, it cannot be opened for writing, or \
         the database stayed locked longer than the ``timeout`` option. The message names the \
         file, what was being done and why it failed.",
    )?;
    let runtime = py.get_type::<pyo3::exceptions::PyRuntimeError>().unbind();
    let schema = new_class(
        m,
        "SchemaMismatchError",
        vec![kit, runtime],
        "The file's Optuna schema is not the one the installed Optuna uses (the message says \
         which command brings them together), or the file is not an Optuna database.",
    )?;
    let closed = new_class(
        m,
        "StoreClosedError",
        vec![sqlite.clone_ref(py)],
        "The storage was closed (``close()``); open it again to use the file.",
    )?;
    let os_error = py.get_type::<pyo3::exceptions::PyOSError>().unbind();
    let disk_full = new_class(
        m,
        "DiskFullError",
        vec![sqlite.clone_ref(py), os_error],
        "The device holding the file is full (``errno`` is ``ENOSPC``): the write that \
         raised it was not stored; every earlier acknowledged write is intact.",
    )?;
    let _ = CLASSES.set(
        py,
        Classes {
            sqlite,
            schema,
            closed,
            disk_full,
        },
    );
    Ok(())
}

fn raise(cls: PyResult<Bound<'_, PyAny>>, message: String) -> PyErr {
    let made = cls.and_then(|c| c.call1((message,)));
    match made {
        Ok(obj) => PyErr::from_value(obj),
        Err(e) => e,
    }
}

/// The Python exception for `err` on the file at `path`.
fn to_py(err: StoreError, path: &str) -> PyErr {
    Python::with_gil(|py| {
        let classes = CLASSES
            .get(py)
            .expect("_native defines its classes at import");
        let of = |c: &Py<PyType>| Ok(c.bind(py).clone().into_any());
        let import =
            |module: &str, name: &str| class(py, module, name).map(|c| c.into_bound(py).into_any());
        match err {
            StoreError::NotFound(m) => PyKeyError::new_err(m),
            StoreError::Invalid(m) => PyValueError::new_err(m),
            StoreError::DuplicateStudy(m) => {
                raise(import("optuna.exceptions", "DuplicatedStudyError"), m)
            }
            StoreError::Finished(m) => {
                raise(import("optuna.exceptions", "UpdateFinishedTrialError"), m)
            }
            StoreError::Schema(m) => raise(of(&classes.schema), format!("{path}: {m}")),
            StoreError::Missing(_) => raise(
                import("optuna_storage_kit.errors", "StoreNotFoundError"),
                err.to_string(),
            ),
            StoreError::ReadOnly(what) => raise(
                import("optuna_storage_kit.errors", "ReadOnlyStorageError"),
                format!(
                    "cannot {what}: {path} was opened read-only (mode=ro); open it without \
                     mode=ro to write"
                ),
            ),
            StoreError::Closed => raise(of(&classes.closed), format!("{path}: {err}")),
            StoreError::Unusable(m) => raise(of(&classes.sqlite), m),
            ref e @ StoreError::Sqlite(..) if e.is_disk_full() => {
                let made = classes
                    .disk_full
                    .bind(py)
                    .call1((28, format!("{path}: {e}")));
                match made {
                    Ok(obj) => PyErr::from_value(obj),
                    Err(e) => e,
                }
            }
            e @ StoreError::Sqlite(..) => raise(of(&classes.sqlite), format!("{path}: {e}")),
        }
    })
}

fn internal_error(path: &str, what: String) -> PyErr {
    to_py(
        StoreError::Unusable(format!(
            "{path}: internal error in the SQLite storage core (please report): {what}"
        )),
        path,
    )
}

/// Forks this process went through (counted in the child): a connection opened before the
/// last one belongs to another process. An atomic load per call, where `getpid()` would be
/// a system call (~0.6 us here).
static FORKS: AtomicU64 = AtomicU64::new(0);
static COUNT_FORKS: Once = Once::new();

extern "C" fn forked_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

fn count_forks() {
    COUNT_FORKS.call_once(|| fork::at_fork(None, None, Some(forked_child)));
}

/// One connection to one SQLite file. Thread-safe: calls are serialised on a mutex, with the
/// GIL released. Bound to the process that opened it: in a forked child every call raises,
/// and closing or dropping it there leaves the parent's connection alone.
#[pyclass(module = "osk_sqlite._native", frozen)]
pub struct NativeStore {
    inner: Mutex<Option<Store>>,
    path: String,
    pid: u32,
    forks: u64,
}

impl NativeStore {
    /// True in a child forked after this connection was opened.
    fn foreign(&self) -> bool {
        FORKS.load(Ordering::Relaxed) != self.forks
    }

    fn inherited_error(&self) -> PyErr {
        to_py(
            StoreError::Unusable(format!(
                "{}: this connection was opened by process {} and cannot be used in process {} \
                 (a fork): open the storage again in this process",
                self.path,
                self.pid,
                std::process::id()
            )),
            &self.path,
        )
    }

    /// Run `f` on the store without the GIL, turning errors and panics into Python errors.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send,
    ) -> PyResult<T> {
        if self.foreign() {
            return Err(self.inherited_error());
        }
        let outcome = py.allow_threads(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                match guard.as_mut() {
                    Some(store) => f(store),
                    None => Err(StoreError::Closed),
                }
            }))
        });
        match outcome {
            Ok(result) => result.map_err(|e| to_py(e, &self.path)),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(internal_error(&self.path, what))
            }
        }
    }
}

impl Drop for NativeStore {
    fn drop(&mut self) {
        let store = self
            .inner
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if self.foreign() {
            // The parent's connection, inherited through fork: closing it here could disturb
            // the parent's locks and files (SQLite: never carry a connection across fork).
            std::mem::forget(store);
        }
    }
}

impl NativeStore {
    /// Buffer a write to a trial this process owns while holding the GIL (it is a push onto
    /// a vector, no I/O); write any other trial through with the GIL released.
    fn write_trial(&self, py: Python<'_>, trial_id: i64, w: TrialWrite) -> PyResult<()> {
        // try_lock: if another thread is in I/O (a flush waiting for another process's
        // lock, say), wait for it below with the GIL released, not here holding it.
        if self.foreign() {
            return Err(self.inherited_error());
        }
        if let Ok(mut guard) = self.inner.try_lock() {
            if let Some(store) = guard.as_mut().filter(|s| s.buffers(trial_id)) {
                return store
                    .write_trial(trial_id, w)
                    .map_err(|e| to_py(e, &self.path));
            }
        }
        self.with(py, move |s| s.write_trial(trial_id, w))
    }
}

fn versions_tuple(v: Versions) -> VersionTuple {
    (v.schema_version, v.library_version, v.alembic)
}

#[pymethods]
impl NativeStore {
    #[new]
    #[pyo3(signature = (
        path, timeout = 60.0, synchronous = "normal", write_behind = true, read_only = false
    ))]
    fn new(
        py: Python<'_>,
        path: String,
        timeout: f64,
        synchronous: &str,
        write_behind: bool,
        read_only: bool,
    ) -> PyResult<Self> {
        let sync = match synchronous {
            "normal" => Synchronous::Normal,
            "full" => Synchronous::Full,
            other => {
                return Err(PyValueError::new_err(format!(
                    "synchronous must be 'normal' or 'full', got {other:?}"
                )))
            }
        };
        let mut store = py
            .allow_threads(|| {
                catch_unwind(AssertUnwindSafe(|| {
                    Store::open(&path, timeout, sync, read_only)
                }))
            })
            .map_err(|_| internal_error(&path, "opening the database".into()))?
            .map_err(|e| to_py(e, &path))?;
        store.write_behind = write_behind;
        count_forks();
        Ok(NativeStore {
            inner: Mutex::new(Some(store)),
            path,
            pid: std::process::id(),
            forks: FORKS.load(Ordering::Relaxed),
        })
    }

    /// Close the connection (buffered writes are not written: `flush` first); later calls
    /// raise `StoreClosedError`. The process's last writable connection to the file
    /// checkpoints it first. In a forked child it leaves the parent's connection alone.
    fn close(&self, py: Python<'_>) {
        if self.foreign() {
            return;
        }
        py.allow_threads(|| {
            let store = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(store) = store {
                store.close();
            }
        })
    }

    /// Copy the WAL into the database file and truncate it, so the `.db` file alone holds
    /// every commit; false when other connections' reads kept it from completing.
    fn checkpoint(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |s| s.checkpoint())
    }

    /// `(statements, commits)` executed by this connection so far.
    fn counters(&self, py: Python<'_>) -> PyResult<(u64, u64)> {
        self.with(py, |s| Ok(s.counters()))
    }

    fn versions(&self, py: Python<'_>) -> PyResult<Option<VersionTuple>> {
        self.with(py, |s| Ok(s.versions()?.map(versions_tuple)))
    }

    fn ensure_schema(
        &self,
        py: Python<'_>,
        ddl: Vec<String>,
        schema_version: i64,
        library_version: String,
        alembic: Option<String>,
    ) -> PyResult<VersionTuple> {
        let want = Versions {
            schema_version,
            library_version,
            alembic,
        };
        self.with(py, move |s| {
            Ok(versions_tuple(s.ensure_schema(&ddl, &want)?))
        })
    }

    fn create_study(&self, py: Python<'_>, name: String, directions: Vec<String>) -> PyResult<i64> {
        self.with(py, move |s| s.create_study(&name, &directions))
    }

    fn delete_study(&self, py: Python<'_>, study_id: i64) -> PyResult<()> {
        self.with(py, move |s| s.delete_study(study_id))
    }

    fn set_study_attr(
        &self,
        py: Python<'_>,
        system: bool,
        study_id: i64,
        key: String,
        json: String,
    ) -> PyResult<()> {
        self.with(py, move |s| s.set_study_attr(system, study_id, &key, &json))
    }

    fn study_id_from_name(&self, py: Python<'_>, name: String) -> PyResult<i64> {
        self.with(py, move |s| s.study_id_from_name(&name))
    }

    fn study_name(&self, py: Python<'_>, study_id: i64) -> PyResult<String> {
        self.with(py, move |s| s.study_name(study_id))
    }

    fn study_directions(&self, py: Python<'_>, study_id: i64) -> PyResult<Vec<String>> {
        self.with(py, move |s| s.study_directions(study_id))
    }

    fn study_attrs(&self, py: Python<'_>, system: bool, study_id: i64) -> PyResult<Attrs> {
        self.with(py, move |s| s.study_attrs(system, study_id))
    }

    fn all_studies(&self, py: Python<'_>) -> PyResult<Vec<store::StudyRow>> {
        self.with(py, |s| s.all_studies())
    }

    #[pyo3(signature = (study_id, now = None))]
    fn create_trial(
        &self,
        py: Python<'_>,
        study_id: i64,
        now: Option<i64>,
    ) -> PyResult<(i64, i64, String)> {
        self.with(py, move |s| s.create_trial(study_id, now))
    }

    #[allow(clippy::too_many_arguments)]
    fn create_trial_from(
        &self,
        py: Python<'_>,
        study_id: i64,
        state: String,
        datetime_start: Option<String>,
        datetime_complete: Option<String>,
        values: Option<Vec<f64>>,
        params: Vec<(String, f64, String)>,
        intermediates: Vec<(i64, f64)>,
        user_attrs: Attrs,
        system_attrs: Attrs,
    ) -> PyResult<(i64, i64)> {
        let t = Template {
            state,
            datetime_start,
            datetime_complete,
            values,
            pending: Pending {
                study_id,
                params,
                intermediates,
                user_attrs,
                system_attrs,
            },
        };
        self.with(py, move |s| s.create_trial_from(study_id, &t))
    }

    /// Whether this process runs the trial (it created it or popped it from WAITING, and it
    /// has not finished since): then this process's picture of it is current. No I/O: asked
    /// with the GIL held, unless another thread is inside SQLite on this connection.
    fn owns(&self, py: Python<'_>, trial_id: i64) -> PyResult<bool> {
        if self.foreign() {
            return Err(self.inherited_error());
        }
        if let Ok(guard) = self.inner.try_lock() {
            return match guard.as_ref() {
                Some(store) => Ok(store.owns(trial_id)),
                None => Err(to_py(StoreError::Closed, &self.path)),
            };
        }
        self.with(py, move |s| Ok(s.owns(trial_id)))
    }

    fn set_param(
        &self,
        py: Python<'_>,
        trial_id: i64,
        name: String,
        value: f64,
        distribution_json: String,
    ) -> PyResult<()> {
        self.write_trial(
            py,
            trial_id,
            TrialWrite::Param(name, value, distribution_json),
        )
    }

    fn set_intermediate(
        &self,
        py: Python<'_>,
        trial_id: i64,
        step: i64,
        value: f64,
    ) -> PyResult<()> {
        self.write_trial(py, trial_id, TrialWrite::Intermediate(step, value))
    }

    fn set_trial_attr(
        &self,
        py: Python<'_>,
        system: bool,
        trial_id: i64,
        key: String,
        json: String,
    ) -> PyResult<()> {
        self.write_trial(py, trial_id, TrialWrite::Attr { system, key, json })
    }

    #[pyo3(signature = (trial_id, state, values = None, now = None))]
    fn set_state(
        &self,
        py: Python<'_>,
        trial_id: i64,
        state: String,
        values: Option<Vec<f64>>,
        now: Option<i64>,
    ) -> PyResult<bool> {
        self.with(py, move |s| {
            s.set_state(trial_id, &state, values.as_deref(), now)
        })
    }

    /// Commit the buffered writes of every running trial this process owns.
    fn flush(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |s| s.flush())
    }

    fn record_heartbeat(&self, py: Python<'_>, trial_id: i64) -> PyResult<()> {
        self.with(py, move |s| s.record_heartbeat(trial_id))
    }

    fn stale_trials(&self, py: Python<'_>, study_id: i64, grace: f64) -> PyResult<Vec<i64>> {
        self.with(py, move |s| s.stale_trials(study_id, grace))
    }

    fn trial_study(&self, py: Python<'_>, trial_id: i64) -> PyResult<i64> {
        self.with(py, move |s| s.trial_study(trial_id))
    }

    fn sync(&self, py: Python<'_>, study_id: i64) -> PyResult<(bool, Vec<TrialRow>)> {
        let (reset, records) = self.with(py, move |s| s.sync(study_id))?;
        Ok((
            reset,
            records.into_iter().map(TrialRecord::into_row).collect(),
        ))
    }

    fn forget_study(&self, py: Python<'_>, study_id: i64) -> PyResult<()> {
        self.with(py, move |s| {
            s.forget_study(study_id);
            Ok(())
        })
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeStore>()?;
    define_classes(m)?;
    m.add("SQLITE_VERSION", rusqlite::version())?;
    Ok(())
}
