//! Python bindings of the SQLite storage core (`osk_sqlite._native`).
//!
//! Every method releases the GIL while it talks to SQLite, so threads overlap. No panic crosses
//! into Python: each call runs under `catch_unwind` and a panic becomes a `SqliteStorageError`.
//! Errors become the exceptions Optuna's `BaseStorage` contract promises (`KeyError`,
//! `DuplicatedStudyError`, `UpdateFinishedTrialError`) or `osk_sqlite` errors.

mod db;
mod error;
mod store;
mod sync;
mod timefmt;
mod trials;

#[cfg(test)]
mod tests;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;

pub use db::Sync as Synchronous;
pub use error::StoreError;
pub use store::{Pending, Store, Versions};
pub use sync::TrialRecord;
pub use trials::{Template, TrialWrite};

type VersionTuple = (i64, String, Option<String>);
type Attrs = Vec<(String, String)>;

fn python_error(kind: &str, message: String) -> PyErr {
    Python::with_gil(|py| {
        let (module, name) = match kind {
            "duplicate" => ("optuna.exceptions", "DuplicatedStudyError"),
            "finished" => ("optuna.exceptions", "UpdateFinishedTrialError"),
            "schema" => ("osk_sqlite._errors", "SchemaMismatchError"),
            _ => ("osk_sqlite._errors", "SqliteStorageError"),
        };
        match py.import(module).and_then(|m| m.getattr(name)) {
            Ok(cls) => match cls.call1((message.clone(),)) {
                Ok(obj) => PyErr::from_value(obj),
                Err(e) => e,
            },
            Err(e) => e,
        }
    })
}

fn to_py(err: StoreError) -> PyErr {
    match err {
        StoreError::NotFound(m) => PyKeyError::new_err(m),
        StoreError::Invalid(m) => PyValueError::new_err(m),
        StoreError::DuplicateStudy(m) => python_error("duplicate", m),
        StoreError::Finished(m) => python_error("finished", m),
        StoreError::Schema(m) => python_error("schema", m),
        other @ StoreError::Sqlite(..) => python_error("sqlite", other.to_string()),
    }
}

/// One connection to one SQLite file. Thread-safe: calls are serialised on a mutex, with the
/// GIL released. Not to be shared across `fork()`: open one per process.
#[pyclass(module = "osk_sqlite._native", frozen)]
pub struct NativeStore {
    inner: Mutex<Option<Store>>,
}

impl NativeStore {
    /// Run `f` on the store without the GIL, turning errors and panics into Python errors.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send,
    ) -> PyResult<T> {
        let outcome = py.allow_threads(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                match guard.as_mut() {
                    Some(store) => f(store),
                    None => Err(StoreError::Invalid(
                        "this SQLite storage was closed; open it again".into(),
                    )),
                }
            }))
        });
        match outcome {
            Ok(result) => result.map_err(to_py),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(python_error(
                    "sqlite",
                    format!("internal error in the SQLite storage core (please report): {what}"),
                ))
            }
        }
    }
}

impl NativeStore {
    /// Buffer a write to a trial this process owns while holding the GIL (it is a push onto
    /// a vector, no I/O); write any other trial through with the GIL released.
    fn write_trial(&self, py: Python<'_>, trial_id: i64, w: TrialWrite) -> PyResult<()> {
        // try_lock: if another thread is in I/O (a flush waiting for another process's
        // lock, say), wait for it below with the GIL released, not here holding it.
        if let Ok(mut guard) = self.inner.try_lock() {
            if let Some(store) = guard.as_mut().filter(|s| s.buffers(trial_id)) {
                return store.write_trial(trial_id, w).map_err(to_py);
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
    #[pyo3(signature = (path, timeout = 60.0, synchronous = "normal", write_behind = true))]
    fn new(
        py: Python<'_>,
        path: String,
        timeout: f64,
        synchronous: &str,
        write_behind: bool,
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
            .allow_threads(|| catch_unwind(AssertUnwindSafe(|| Store::open(&path, timeout, sync))))
            .map_err(|_| python_error("sqlite", "internal error opening the database".into()))?
            .map_err(to_py)?;
        store.write_behind = write_behind;
        Ok(NativeStore {
            inner: Mutex::new(Some(store)),
        })
    }

    /// Close the connection; later calls raise.
    fn close(&self, py: Python<'_>) {
        py.allow_threads(|| {
            let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            *guard = None;
        })
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

    fn owns(&self, py: Python<'_>, trial_id: i64) -> PyResult<bool> {
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
    ) -> PyResult<(bool, Option<String>)> {
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

    fn sync(&self, py: Python<'_>, study_id: i64) -> PyResult<(bool, Vec<TrialRecord>)> {
        self.with(py, move |s| s.sync(study_id))
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
    m.add("SQLITE_VERSION", rusqlite::version())?;
    Ok(())
}
