//! Trials: creation with unique numbers, write-behind of running trials, heartbeats.
//!
//! A trial created by this process (or popped from WAITING by it) is *owned*: its params,
//! intermediate values and attributes are buffered here and written in the same transaction
//! as its state change (or at a heartbeat). Every other trial is written through at once.
//! Reading is in `sync.rs`.

use rusqlite::params;

use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::store::{study_exists, Pending, Store};
use crate::timefmt::{format_micros, now_utc};

/// A trial given in full, as `create_new_trial(template_trial=...)` receives it.
#[derive(Default, Debug)]
pub struct Template {
    pub state: String,
    pub datetime_start: Option<String>,
    pub datetime_complete: Option<String>,
    pub values: Option<Vec<f64>>,
    pub pending: Pending,
}

pub(crate) fn is_finished(state: &str) -> bool {
    matches!(state, "COMPLETE" | "PRUNED" | "FAIL")
}

pub(crate) fn no_trial(trial_id: i64) -> StoreError {
    StoreError::NotFound(format!("no trial with id {trial_id}"))
}

fn finished(trial_id: i64, state: &str) -> StoreError {
    StoreError::Finished(format!(
        "trial id {trial_id} is already finished ({state}) and cannot be updated"
    ))
}

/// `(state, study_id)` of a trial inside a transaction; errors if it is missing or finished.
fn updatable_state(db: &Db, trial_id: i64) -> Result<(String, i64)> {
    let (state, study_id): (String, i64) = db
        .row(
            "SELECT state, study_id FROM trials WHERE trial_id = ?1",
            [trial_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .ok_or_else(|| no_trial(trial_id))?;
    if is_finished(&state) {
        return Err(finished(trial_id, &state));
    }
    Ok((state, study_id))
}

fn owned_by(study_id: i64) -> Pending {
    Pending {
        study_id,
        ..Default::default()
    }
}

fn stored_value(v: f64, nan_ok: bool) -> (Option<f64>, &'static str) {
    if v == f64::INFINITY {
        (None, "INF_POS")
    } else if v == f64::NEG_INFINITY {
        (None, "INF_NEG")
    } else if v.is_nan() && nan_ok {
        (None, "NAN")
    } else {
        (Some(v), "FINITE")
    }
}

/// Write buffered (or immediate) trial contents inside a transaction.
fn write_pending(db: &Db, trial_id: i64, p: &Pending) -> Result<()> {
    // All params of a trial in one statement (rows are applied in order, so a repeated name
    // ends with its last value).
    for chunk in p.params.chunks(64) {
        let mut sql = String::from(
            "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) \
             VALUES ",
        );
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&trial_id];
        for (i, (name, value, dist)) in chunk.iter().enumerate() {
            let n = 2 + 3 * i;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(?1, ?{}, ?{}, ?{})", n, n + 1, n + 2));
            args.push(name);
            args.push(value);
            args.push(dist);
        }
        sql.push_str(
            " ON CONFLICT (trial_id, param_name) DO UPDATE SET \
             param_value = excluded.param_value, distribution_json = excluded.distribution_json",
        );
        db.exec(&sql, args.as_slice())?;
    }
    for (step, value) in &p.intermediates {
        let (v, kind) = stored_value(*value, true);
        db.exec(
            "INSERT INTO trial_intermediate_values \
             (trial_id, step, intermediate_value, intermediate_value_type) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (trial_id, step) DO UPDATE SET \
             intermediate_value = excluded.intermediate_value, \
             intermediate_value_type = excluded.intermediate_value_type",
            params![trial_id, step, v, kind],
        )?;
    }
    for (table, attrs) in [
        ("trial_user_attributes", &p.user_attrs),
        ("trial_system_attributes", &p.system_attrs),
    ] {
        for (key, json) in attrs {
            db.exec(
                &format!(
                    "INSERT INTO {table} (trial_id, key, value_json) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (trial_id, key) DO UPDATE SET value_json = excluded.value_json"
                ),
                params![trial_id, key, json],
            )?;
        }
    }
    Ok(())
}

fn write_values(db: &Db, trial_id: i64, values: &[f64]) -> Result<()> {
    for (objective, value) in values.iter().enumerate() {
        let (v, kind) = stored_value(*value, false);
        db.exec(
            "INSERT INTO trial_values (trial_id, objective, value, value_type) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (trial_id, objective) DO UPDATE SET \
             value = excluded.value, value_type = excluded.value_type",
            params![trial_id, objective as i64, v, kind],
        )?;
    }
    Ok(())
}

/// One buffered or immediate write to a trial.
pub enum TrialWrite {
    Param(String, f64, String),
    Intermediate(i64, f64),
    Attr {
        system: bool,
        key: String,
        json: String,
    },
}

impl Pending {
    /// Add one write to the batch, whether it is buffered or written through at once.
    pub fn push(&mut self, w: TrialWrite) {
        match w {
            TrialWrite::Param(n, v, d) => self.params.push((n, v, d)),
            TrialWrite::Intermediate(s, v) => self.intermediates.push((s, v)),
            TrialWrite::Attr {
                system: true,
                key,
                json,
            } => self.system_attrs.push((key, json)),
            TrialWrite::Attr {
                system: false,
                key,
                json,
            } => self.user_attrs.push((key, json)),
        }
    }
}

impl Store {
    /// Create a RUNNING trial owned by this process, started at `now` (microseconds since the
    /// epoch, or the current time): `(trial_id, number, datetime_start)`.
    pub fn create_trial(&mut self, study_id: i64, now: Option<i64>) -> Result<(i64, i64, String)> {
        let start = now.map(format_micros).unwrap_or_else(now_utc);
        let (id, number) = self.insert_trial(study_id, |db, number, floor| {
            db.exec(
                "INSERT INTO trials (trial_id, number, study_id, state, datetime_start) \
                 VALUES (MAX(?4, (SELECT COALESCE(MAX(trial_id), 0) + 1 FROM trials)), \
                 ?1, ?2, 'RUNNING', ?3)",
                params![number, study_id, start, floor],
            )?;
            Ok(db.last_id())
        })?;
        self.owned.insert(id, owned_by(study_id));
        Ok((id, number, start))
    }

    /// Create a trial from a template, written at once: `(trial_id, number)`.
    pub fn create_trial_from(&mut self, study_id: i64, t: &Template) -> Result<(i64, i64)> {
        self.insert_trial(study_id, |db, number, floor| {
            db.exec(
                "INSERT INTO trials \
                 (trial_id, number, study_id, state, datetime_start, datetime_complete) \
                 VALUES (MAX(?6, (SELECT COALESCE(MAX(trial_id), 0) + 1 FROM trials)), \
                 ?1, ?2, ?3, ?4, ?5)",
                params![
                    number,
                    study_id,
                    t.state,
                    t.datetime_start,
                    t.datetime_complete,
                    floor
                ],
            )?;
            let id = db.last_id();
            if let Some(values) = &t.values {
                write_values(db, id, values)?;
            }
            write_pending(db, id, &t.pending)?;
            Ok(id)
        })
    }

    /// Insert a trial with its study's next number, in one write transaction: `insert` gets
    /// the number and the lowest trial id allowed (see `Store::max_trial_id`), writes the
    /// trial and returns its id. Returns `(trial_id, number)`.
    fn insert_trial(
        &mut self,
        study_id: i64,
        mut insert: impl FnMut(&Db, i64, i64) -> Result<i64>,
    ) -> Result<(i64, i64)> {
        let cached = self.studies.get(&study_id).and_then(|s| s.count);
        let floor = self.max_trial_id.get() + 1;
        let (id, number, dv) = self.db.write("creating a trial", |db| {
            let dv = db.data_version()?;
            let number = match cached {
                Some((n, at)) if at == dv => n,
                _ => {
                    study_exists(db, study_id)?;
                    count_trials(db, study_id)?
                }
            };
            Ok((insert(db, number, floor)?, number, dv))
        })?;
        self.max_trial_id.set(self.max_trial_id.get().max(id));
        self.studies.entry(study_id).or_default().count = Some((number + 1, dv));
        Ok((id, number))
    }

    /// Whether a write to this trial would only be buffered (no I/O).
    pub fn buffers(&self, trial_id: i64) -> bool {
        self.write_behind && self.owned.contains_key(&trial_id)
    }

    /// Whether this process holds the trial's writes (it created or popped it).
    pub fn owns(&self, trial_id: i64) -> bool {
        self.owned.contains_key(&trial_id)
    }

    /// Buffer a write to an owned trial, or write it through for any other trial.
    pub fn write_trial(&mut self, trial_id: i64, w: TrialWrite) -> Result<()> {
        if let Some(p) = self.owned.get_mut(&trial_id).filter(|_| self.write_behind) {
            p.push(w);
            return Ok(());
        }
        let mut p = Pending::default();
        p.push(w);
        self.db.write("updating a trial", |db| {
            updatable_state(db, trial_id)?;
            write_pending(db, trial_id, &p)
        })
    }

    /// Change a trial's state (and values), flushing its buffered writes in the same
    /// transaction. `now` (microseconds since the epoch, or the current time) becomes its start
    /// (RUNNING) or completion time. Returns false when RUNNING was asked for a trial that is
    /// not WAITING (another worker popped it).
    pub fn set_state(
        &mut self,
        trial_id: i64,
        state: &str,
        values: Option<&[f64]>,
        now: Option<i64>,
    ) -> Result<bool> {
        let now = now.map(format_micros).unwrap_or_else(now_utc);
        let empty = Pending::default();
        let pending = self.owned.get(&trial_id).unwrap_or(&empty);
        let mut study = 0;
        let result = self.db.write("changing a trial's state", |db| {
            if state == "RUNNING" {
                let (current, study_id) = updatable_state(db, trial_id)?;
                study = study_id;
                if current != "WAITING" {
                    return Ok(false);
                }
                if let Some(values) = values {
                    write_values(db, trial_id, values)?;
                }
                let n = db.exec(
                    "UPDATE trials SET state = 'RUNNING', datetime_start = ?2 \
                     WHERE trial_id = ?1 AND state = 'WAITING'",
                    params![trial_id, now],
                )?;
                return Ok(n == 1);
            }
            // The update is the check: it changes no row of a trial that is missing or
            // finished, and then the look-up names which (one statement less per trial).
            let complete = if is_finished(state) { Some(&now) } else { None };
            let n = db.exec(
                "UPDATE trials SET state = ?2, datetime_complete = COALESCE(?3, datetime_complete) \
                 WHERE trial_id = ?1 AND state IN ('RUNNING', 'WAITING')",
                params![trial_id, state, complete],
            )?;
            if n == 0 {
                updatable_state(db, trial_id)?;
                return Err(StoreError::Unusable(format!(
                    "trial {trial_id} could not be updated"
                )));
            }
            if let Some(values) = values {
                write_values(db, trial_id, values)?;
            }
            write_pending(db, trial_id, pending)?;
            Ok(true)
        });
        match &result {
            Ok(true) if state == "RUNNING" => {
                self.owned.insert(trial_id, owned_by(study));
            }
            Ok(true) if is_finished(state) => {
                self.owned.remove(&trial_id);
            }
            Ok(true) => {
                if let Some(p) = self.owned.get_mut(&trial_id) {
                    *p = owned_by(p.study_id);
                }
            }
            Err(StoreError::Finished(_)) | Err(StoreError::NotFound(_)) => {
                // Finished elsewhere (e.g. failed for a stale heartbeat): nothing left to write.
                self.owned.remove(&trial_id);
            }
            _ => {}
        }
        result
    }

    /// Record a heartbeat for a running trial, flushing its buffered writes with it.
    pub fn record_heartbeat(&mut self, trial_id: i64) -> Result<()> {
        let now = now_utc();
        let empty = Pending::default();
        let pending = self.owned.get(&trial_id).unwrap_or(&empty);
        self.db.write("recording a heartbeat", |db| {
            updatable_state(db, trial_id)?;
            write_pending(db, trial_id, pending)?;
            db.exec(
                "INSERT INTO trial_heartbeats (trial_id, heartbeat) VALUES (?1, ?2) \
                 ON CONFLICT (trial_id) DO UPDATE SET heartbeat = excluded.heartbeat",
                params![trial_id, now],
            )?;
            Ok(())
        })?;
        if let Some(p) = self.owned.get_mut(&trial_id) {
            *p = owned_by(p.study_id);
        }
        Ok(())
    }

    /// Commit the buffered writes of every owned trial, in one transaction: what a timed
    /// flush does, so other processes see a long-running trial's params. A trial finished
    /// elsewhere in the meantime (failed as stale, say) is dropped with its buffer, as its
    /// state change would have been refused. Returns the number of trials written.
    pub fn flush(&mut self) -> Result<usize> {
        let ids: Vec<i64> = self
            .owned
            .iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let owned = &self.owned;
        let mut gone = Vec::new();
        let written = self.db.write("flushing running trials", |db| {
            gone.clear();
            let mut written = 0;
            for id in &ids {
                match updatable_state(db, *id) {
                    Ok(_) => {
                        write_pending(db, *id, &owned[id])?;
                        written += 1;
                    }
                    Err(StoreError::Finished(_)) | Err(StoreError::NotFound(_)) => gone.push(*id),
                    Err(e) => return Err(e),
                }
            }
            Ok(written)
        })?;
        for id in ids {
            if gone.contains(&id) {
                self.owned.remove(&id);
            } else if let Some(p) = self.owned.get_mut(&id) {
                *p = owned_by(p.study_id);
            }
        }
        Ok(written)
    }

    /// RUNNING trials of the study whose last heartbeat is older than `grace` seconds.
    pub fn stale_trials(&self, study_id: i64, grace: f64) -> Result<Vec<i64>> {
        self.db.read("finding stale trials", |db| {
            db.rows(
                "SELECT t.trial_id FROM trials t JOIN trial_heartbeats h \
                 ON h.trial_id = t.trial_id WHERE t.study_id = ?1 AND t.state = 'RUNNING' \
                 AND (julianday('now') - julianday(h.heartbeat)) * 86400.0 > ?2 \
                 ORDER BY t.trial_id",
                params![study_id, grace],
                |r| r.get(0),
            )
        })
    }

    /// The study a trial belongs to.
    pub fn trial_study(&self, trial_id: i64) -> Result<i64> {
        self.db
            .read("finding a trial", |db| {
                db.row(
                    "SELECT study_id FROM trials WHERE trial_id = ?1",
                    [trial_id],
                    |r| r.get(0),
                )
            })?
            .ok_or_else(|| no_trial(trial_id))
    }
}

fn count_trials(db: &Db, study_id: i64) -> Result<i64> {
    Ok(db
        .row(
            "SELECT COUNT(*) FROM trials WHERE study_id = ?1",
            [study_id],
            |r| r.get(0),
        )?
        .unwrap_or(0))
}
