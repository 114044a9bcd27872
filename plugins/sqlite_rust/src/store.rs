//! The storage core: Optuna's RDB schema in one SQLite file, with the caches that make it fast.
//!
//! Pure Rust (no Python), so `cargo test` covers it. `lib.rs` wraps it for Python.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use rusqlite::params;

use crate::db::{Db, Sync};
use crate::error::{is_unique_violation, Result, StoreError};

/// Writes of a trial this process runs, held until its state changes (or a heartbeat).
#[derive(Default, Debug)]
pub struct Pending {
    /// The trial's study (0 for a template, which is never owned).
    pub study_id: i64,
    pub params: Vec<(String, f64, String)>,
    pub intermediates: Vec<(i64, f64)>,
    pub user_attrs: Vec<(String, String)>,
    pub system_attrs: Vec<(String, String)>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
            && self.intermediates.is_empty()
            && self.user_attrs.is_empty()
            && self.system_attrs.is_empty()
    }
}

/// What this connection knows about one study.
#[derive(Default, Debug)]
pub struct StudyState {
    /// `data_version` at the last sync: equal now means no other connection wrote since.
    pub synced_at: Option<i64>,
    /// The largest trial id returned by a sync.
    pub max_seen: i64,
    /// Trials returned unfinished by a sync (re-read at the next sync).
    pub unfinished: BTreeSet<i64>,
    /// The study's name at the last sync (ids are reused after a deletion; names tell).
    pub name: Option<String>,
    /// `(number of trials, data_version)` after our last trial creation.
    pub count: Option<(i64, i64)>,
    /// The study's user (0) and system (1) attributes, with the `data_version` they were read
    /// at: Optuna asks for the system attributes after every trial (its log line names the
    /// metrics), and a read transaction costs far more than the `data_version` check.
    pub attrs: [Option<(i64, Attrs)>; 2],
}

/// A study's or trial's attributes: `(key, JSON)` in the order they were set.
pub type Attrs = Vec<(String, String)>;

/// One study as `get_all_studies` returns it.
pub type StudyRow = (
    i64,
    String,
    Vec<String>,
    Vec<(String, String)>,
    Vec<(String, String)>,
);

/// The storage core.
pub struct Store {
    pub(crate) db: Db,
    pub(crate) studies: HashMap<i64, StudyState>,
    pub(crate) owned: HashMap<i64, Pending>,
    /// Buffer the writes of owned trials until their state changes, a heartbeat or a flush
    /// (`write_behind`, on by default; off, every write is committed at once).
    pub write_behind: bool,
    /// The largest study and trial ids this process has created or read. Optuna's schema has
    /// no AUTOINCREMENT, so SQLite would hand a deleted study's or trial's id out again; new
    /// ids are kept above these, so an id this process knows never names another study or
    /// trial (a stale handle gets KeyError, as Optuna's contract asks).
    pub(crate) max_study_id: Cell<i64>,
    pub(crate) max_trial_id: Cell<i64>,
}

/// `version_info` and `alembic_version` contents of a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub schema_version: i64,
    pub library_version: String,
    pub alembic: Option<String>,
}

impl Store {
    /// Open the file, for writing or `read_only` (then nothing in the file or its directory
    /// changes, and a missing file is `StoreError::Missing`). The schema is checked or created
    /// separately (see `ensure_schema`).
    pub fn open(path: &str, timeout_secs: f64, sync: Sync, read_only: bool) -> Result<Store> {
        let timeout = Duration::from_secs_f64(timeout_secs.max(0.0));
        Ok(Store {
            db: Db::open(path, timeout, sync, read_only)?,
            studies: HashMap::new(),
            owned: HashMap::new(),
            write_behind: true,
            max_study_id: Cell::new(0),
            max_trial_id: Cell::new(0),
        })
    }

    /// `(statements, commits)` so far.
    pub fn counters(&self) -> (u64, u64) {
        self.db.counters()
    }

    /// Copy the WAL into the database file (see `Db::checkpoint`); false if readers kept it
    /// from completing.
    pub fn checkpoint(&self) -> Result<bool> {
        self.db.checkpoint()
    }

    /// Close the connection, checkpointing when it is this process's last one to the file.
    /// Buffered writes are *not* written: call `flush` first.
    pub fn close(self) {
        self.db.close()
    }

    // -- schema ------------------------------------------------------------------------------

    /// The versions recorded in the file, or `None` when it has no Optuna schema yet.
    pub fn versions(&self) -> Result<Option<Versions>> {
        self.db.read("reading the schema version", read_versions)
    }

    /// Create the schema from `ddl` (statements in order) unless another process already did,
    /// atomically. Returns the versions now in the file.
    pub fn ensure_schema(&self, ddl: &[String], want: &Versions) -> Result<Versions> {
        self.db.write("creating the Optuna schema", |db| {
            if let Some(found) = read_versions(db)? {
                return Ok(found);
            }
            let tables: i64 = db
                .row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type='table'",
                    [],
                    |r| r.get(0),
                )?
                .unwrap_or(0);
            if tables > 0 {
                return Err(StoreError::Schema(
                    "the file holds tables but no Optuna `version_info`: it is not an Optuna \
                     storage; give the path of an Optuna SQLite database or of a new file"
                        .into(),
                ));
            }
            for stmt in ddl {
                db.exec(stmt, [])?;
            }
            db.exec(
                "INSERT INTO version_info (version_info_id, schema_version, library_version) \
                 VALUES (1, ?1, ?2)",
                params![want.schema_version, want.library_version],
            )?;
            if let Some(rev) = &want.alembic {
                db.exec(
                    "INSERT INTO alembic_version (version_num) VALUES (?1)",
                    [rev],
                )?;
            }
            Ok(want.clone())
        })
    }

    // -- studies -----------------------------------------------------------------------------

    pub fn create_study(&self, name: &str, directions: &[String]) -> Result<i64> {
        self.db.write("creating a study", |db| {
            let floor = self.max_study_id.get() + 1;
            match db.exec(
                "INSERT INTO studies (study_id, study_name) \
                 VALUES (MAX(?2, (SELECT COALESCE(MAX(study_id), 0) + 1 FROM studies)), ?1)",
                params![name, floor],
            ) {
                Err(StoreError::Sqlite(_, e, _)) if is_unique_violation(&e) => {
                    return Err(StoreError::DuplicateStudy(format!(
                        "a study named {name:?} already exists; load it with \
                         optuna.load_study, or pass load_if_exists=True"
                    )))
                }
                other => other?,
            };
            let id = db.last_id();
            self.max_study_id.set(self.max_study_id.get().max(id));
            for (objective, d) in directions.iter().enumerate() {
                db.exec(
                    "INSERT INTO study_directions (direction, study_id, objective) \
                     VALUES (?1, ?2, ?3)",
                    params![d, id, objective as i64],
                )?;
            }
            Ok(id)
        })
    }

    pub fn delete_study(&mut self, study_id: i64) -> Result<()> {
        self.db.write("deleting a study", |db| {
            study_exists(db, study_id)?;
            for child in [
                "trial_params",
                "trial_values",
                "trial_intermediate_values",
                "trial_user_attributes",
                "trial_system_attributes",
                "trial_heartbeats",
            ] {
                db.exec(
                    &format!(
                        "DELETE FROM {child} WHERE trial_id IN \
                         (SELECT trial_id FROM trials WHERE study_id = ?1)"
                    ),
                    [study_id],
                )?;
            }
            for table in [
                "trials",
                "study_directions",
                "study_user_attributes",
                "study_system_attributes",
            ] {
                db.exec(
                    &format!("DELETE FROM {table} WHERE study_id = ?1"),
                    [study_id],
                )?;
            }
            db.exec("DELETE FROM studies WHERE study_id = ?1", [study_id])?;
            Ok(())
        })?;
        self.studies.remove(&study_id);
        self.owned.retain(|_, p| p.study_id != study_id);
        Ok(())
    }

    pub fn set_study_attr(
        &mut self,
        system: bool,
        study_id: i64,
        key: &str,
        json: &str,
    ) -> Result<()> {
        let table = if system {
            "study_system_attributes"
        } else {
            "study_user_attributes"
        };
        let sql = format!(
            "INSERT INTO {table} (study_id, key, value_json) VALUES (?1, ?2, ?3) \
             ON CONFLICT (study_id, key) DO UPDATE SET value_json = excluded.value_json"
        );
        let result = self.db.write("setting a study attribute", |db| {
            study_exists(db, study_id)?;
            db.exec(&sql, params![study_id, key, json])?;
            Ok(())
        });
        if let Some(state) = self.studies.get_mut(&study_id) {
            state.attrs = [None, None]; // our own commit leaves data_version as it was
        }
        result
    }

    pub fn study_id_from_name(&self, name: &str) -> Result<i64> {
        self.db
            .read("finding a study", |db| {
                db.row(
                    "SELECT study_id FROM studies WHERE study_name = ?1",
                    [name],
                    |r| r.get(0),
                )
            })?
            .ok_or_else(|| StoreError::NotFound(format!("no study named {name:?}")))
    }

    pub fn study_name(&self, study_id: i64) -> Result<String> {
        self.db
            .read("reading a study name", |db| {
                db.row(
                    "SELECT study_name FROM studies WHERE study_id = ?1",
                    [study_id],
                    |r| r.get(0),
                )
            })?
            .ok_or_else(|| no_study(study_id))
    }

    pub fn study_directions(&self, study_id: i64) -> Result<Vec<String>> {
        self.db.read("reading study directions", |db| {
            study_exists(db, study_id)?;
            directions(db, study_id)
        })
    }

    /// A study's user or system attributes, read again only if another connection committed
    /// since they were last read (`PRAGMA data_version`; our own writes drop the copy).
    pub fn study_attrs(&mut self, system: bool, study_id: i64) -> Result<Vec<(String, String)>> {
        let dv = self.db.data_version()?;
        let kept = self
            .studies
            .get(&study_id)
            .and_then(|s| s.attrs[system as usize].as_ref());
        if let Some((at, rows)) = kept {
            if *at == dv {
                return Ok(rows.clone());
            }
        }
        let rows = self.db.read("reading study attributes", |db| {
            study_exists(db, study_id)?;
            study_attrs(db, system, study_id)
        })?;
        // Labelled with the version read before: a commit in between makes the next call
        // read again, never the other way round.
        self.studies.entry(study_id).or_default().attrs[system as usize] = Some((dv, rows.clone()));
        Ok(rows)
    }

    pub fn all_studies(&self) -> Result<Vec<StudyRow>> {
        self.db.read("listing studies", |db| {
            let ids: Vec<(i64, String)> = db.rows(
                "SELECT study_id, study_name FROM studies ORDER BY study_id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let mut out = Vec::with_capacity(ids.len());
            for (id, name) in ids {
                out.push((
                    id,
                    name,
                    directions(db, id)?,
                    study_attrs(db, false, id)?,
                    study_attrs(db, true, id)?,
                ));
            }
            Ok(out)
        })
    }
}

pub(crate) fn no_study(study_id: i64) -> StoreError {
    StoreError::NotFound(format!("no study with id {study_id}"))
}

pub(crate) fn study_exists(db: &Db, study_id: i64) -> Result<()> {
    db.row(
        "SELECT 1 FROM studies WHERE study_id = ?1",
        [study_id],
        |_| Ok(()),
    )?
    .ok_or_else(|| no_study(study_id))
}

fn directions(db: &Db, study_id: i64) -> Result<Vec<String>> {
    db.rows(
        "SELECT direction FROM study_directions WHERE study_id = ?1 ORDER BY objective",
        [study_id],
        |r| r.get(0),
    )
}

fn study_attrs(db: &Db, system: bool, study_id: i64) -> Result<Vec<(String, String)>> {
    let sql = if system {
        "SELECT key, value_json FROM study_system_attributes WHERE study_id = ?1 \
         ORDER BY study_system_attribute_id"
    } else {
        "SELECT key, value_json FROM study_user_attributes WHERE study_id = ?1 \
         ORDER BY study_user_attribute_id"
    };
    db.rows(sql, [study_id], |r| Ok((r.get(0)?, r.get(1)?)))
}

fn read_versions(db: &Db) -> Result<Option<Versions>> {
    let has = db.row(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='version_info'",
        [],
        |_| Ok(()),
    )?;
    if has.is_none() {
        return Ok(None);
    }
    let row = db.row(
        "SELECT schema_version, library_version FROM version_info WHERE version_info_id = 1",
        [],
        |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<String>>(1)?)),
    )?;
    let Some((schema_version, library_version)) = row else {
        return Err(StoreError::Schema(
            "the file's `version_info` table is empty: the database was not fully created; \
             delete the file or recreate it with optuna.storages.RDBStorage"
                .into(),
        ));
    };
    let has_alembic = db.row(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'",
        [],
        |_| Ok(()),
    )?;
    let alembic = match has_alembic {
        Some(()) => db.row("SELECT version_num FROM alembic_version", [], |r| r.get(0))?,
        None => None,
    };
    Ok(Some(Versions {
        schema_version: schema_version.unwrap_or(0),
        library_version: library_version.unwrap_or_default(),
        alembic,
    }))
}
