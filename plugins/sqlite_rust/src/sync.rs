//! Incremental reads: what other connections changed since this one last looked.
//!
//! Reads come from the caller's cache; `sync` returns only what other connections changed
//! since the last sync, found with `PRAGMA data_version` (one statement when nothing changed,
//! ten whatever the study's size otherwise).

use std::collections::HashMap;

use rusqlite::params;

use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::trials::is_finished;

/// One trial as read from the database; datetimes are naive UTC text as RDBStorage stores
/// them, values decoded (infinities and NaN included). Python receives it as a [`TrialRow`].
#[derive(Debug)]
pub struct TrialRecord {
    pub trial_id: i64,
    /// The trial's number in its study (-1 if the row has none).
    pub number: i64,
    /// `RUNNING`, `WAITING`, `COMPLETE`, `PRUNED` or `FAIL`.
    pub state: String,
    pub datetime_start: Option<String>,
    pub datetime_complete: Option<String>,
    /// One value per objective, in order (empty if none).
    pub values: Vec<f64>,
    /// `(name, internal value, distribution JSON)` in the order they were set.
    pub params: Vec<(String, f64, String)>,
    /// `(step, value)` by step.
    pub intermediate_values: Vec<(i64, f64)>,
    /// `(key, JSON)` in the order they were set.
    pub user_attrs: Vec<(String, String)>,
    pub system_attrs: Vec<(String, String)>,
}

/// A [`TrialRecord`]'s fields, in order, as one tuple: what `NativeStore.sync` hands Python
/// (`osk_sqlite._native._TrialRow`). Moved, not copied, into Python objects: a class with
/// getters cost a clone and a new list at every field read (5 us a trial, most of opening a
/// large study).
pub type TrialRow = (
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Vec<f64>,
    Vec<(String, f64, String)>,
    Vec<(i64, f64)>,
    Vec<(String, String)>,
    Vec<(String, String)>,
);

impl TrialRecord {
    /// The record as the tuple Python receives.
    pub fn into_row(self) -> TrialRow {
        (
            self.trial_id,
            self.number,
            self.state,
            self.datetime_start,
            self.datetime_complete,
            self.values,
            self.params,
            self.intermediate_values,
            self.user_attrs,
            self.system_attrs,
        )
    }

    fn new(
        trial_id: i64,
        number: i64,
        state: String,
        datetime_start: Option<String>,
        datetime_complete: Option<String>,
    ) -> TrialRecord {
        TrialRecord {
            trial_id,
            number,
            state,
            datetime_start,
            datetime_complete,
            values: Vec::new(),
            params: Vec::new(),
            intermediate_values: Vec::new(),
            user_attrs: Vec::new(),
            system_attrs: Vec::new(),
        }
    }
}

impl Store {
    /// Trials of the study that other connections created or changed since the last sync
    /// (all of them at the first sync). Trials this process owns are never returned.
    ///
    /// Returns `(reset, records)`: `reset` is true when the study id now names another study
    /// (deleted and recreated elsewhere: SQLite reuses ids), so every cached trial of it is
    /// void and `records` holds the whole new study.
    pub fn sync(&mut self, study_id: i64) -> Result<(bool, Vec<TrialRecord>)> {
        let dv = self.db.data_version()?;
        let state = self.studies.entry(study_id).or_default();
        if state.synced_at == Some(dv) {
            return Ok((false, Vec::new()));
        }
        let known_name = state.name.clone();
        let max_seen = state.max_seen;
        // Re-read unfinished trials, including our own: another process may have finished
        // one of ours (failed it for a stale heartbeat, or told it).
        let mine = self
            .owned
            .iter()
            .filter(|(_, p)| p.study_id == study_id)
            .map(|(id, _)| *id);
        let unfinished: Vec<String> = state
            .unfinished
            .iter()
            .copied()
            .chain(mine)
            .map(|i| i.to_string())
            .collect();
        let result = self.db.read("reading trials", |db| {
            let name: String = db
                .row(
                    "SELECT study_name FROM studies WHERE study_id = ?1",
                    [study_id],
                    |r| r.get(0),
                )?
                .ok_or_else(|| crate::store::no_study(study_id))?;
            let reset = known_name.as_ref().is_some_and(|n| *n != name);
            let records = if reset || unfinished.is_empty() {
                read_trials(
                    db,
                    study_id,
                    if reset { 0 } else { max_seen },
                    "t.trial_id > ?2",
                )?
            } else {
                let filter = format!(
                    "(t.trial_id > ?2 OR t.trial_id IN ({}))",
                    unfinished.join(",")
                );
                read_trials(db, study_id, max_seen, &filter)?
            };
            Ok((name, reset, records))
        });
        let (name, reset, mut records) = match result {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, StoreError::NotFound(_)) {
                    self.studies.remove(&study_id);
                }
                return Err(e);
            }
        };
        if reset {
            // The trials this process ran belonged to the study that is gone.
            self.studies.insert(study_id, Default::default());
            self.owned.retain(|_, p| p.study_id != study_id);
        }
        let state = self.studies.entry(study_id).or_default();
        state.name = Some(name);
        for r in &records {
            state.max_seen = state.max_seen.max(r.trial_id);
            self.max_trial_id
                .set(self.max_trial_id.get().max(r.trial_id));
            if is_finished(&r.state) {
                state.unfinished.remove(&r.trial_id);
            } else if !self.owned.contains_key(&r.trial_id) {
                state.unfinished.insert(r.trial_id);
            }
        }
        state.synced_at = Some(dv);
        // Our own trials stay as this process knows them, unless finished elsewhere: then
        // the database's version wins and the buffered writes are void.
        let owned = &mut self.owned;
        records.retain(|r| {
            if !owned.contains_key(&r.trial_id) {
                return true;
            }
            if is_finished(&r.state) {
                owned.remove(&r.trial_id);
                return true;
            }
            false
        });
        Ok((reset, records))
    }

    /// Forget what is known about a study (e.g. after another storage object deleted it).
    pub fn forget_study(&mut self, study_id: i64) {
        self.studies.remove(&study_id);
    }
}

fn loaded_value(v: Option<f64>, kind: &str) -> f64 {
    match kind {
        "INF_POS" => f64::INFINITY,
        "INF_NEG" => f64::NEG_INFINITY,
        "NAN" => f64::NAN,
        _ => v.unwrap_or(f64::NAN),
    }
}

/// A row of a trial's child table: (trial id, order within the trial, payload).
type Child<T> = (i64, i64, T);

/// `rows` by trial id, then by their order within the trial.
fn sorted<T>(mut rows: Vec<Child<T>>) -> Vec<Child<T>> {
    rows.sort_by_key(|&(id, key, _)| (id, key));
    rows
}

/// `rows` in order, as (trial id, payload).
fn ordered<T>(rows: Vec<Child<T>>) -> impl Iterator<Item = (i64, T)> {
    sorted(rows)
        .into_iter()
        .map(|(id, _, payload)| (id, payload))
}

fn read_trials(db: &Db, study_id: i64, max_seen: i64, filter: &str) -> Result<Vec<TrialRecord>> {
    let p = params![study_id, max_seen];
    type Base = (i64, i64, String, Option<String>, Option<String>);
    let base: Vec<Base> = db.rows(
        &format!(
            "SELECT t.trial_id, t.number, t.state, t.datetime_start, t.datetime_complete \
             FROM trials t WHERE t.study_id = ?1 AND {filter} ORDER BY t.trial_id"
        ),
        p,
        |r| {
            Ok((
                r.get(0)?,
                r.get::<_, Option<i64>>(1)?.unwrap_or(-1),
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        },
    )?;
    if base.is_empty() {
        return Ok(Vec::new());
    }
    let mut index: HashMap<i64, usize> = HashMap::with_capacity(base.len());
    let mut out: Vec<TrialRecord> = Vec::with_capacity(base.len());
    for (i, (id, number, state, start, complete)) in base.into_iter().enumerate() {
        index.insert(id, i);
        out.push(TrialRecord::new(id, number, state, start, complete));
    }
    // A child table's rows come in whatever order SQLite finds cheapest and are put in order
    // here, by trial and then by `key` (insertion id, objective or step): an ORDER BY on the
    // insertion id, which no index holds, cost a temporary B-tree spilled to disk (seconds for
    // a million trials). The stable sort is near linear on rows that arrive grouped by trial.
    let child = |table: &str, key: &str, cols: &str| {
        format!(
            "SELECT c.trial_id, {key}, {cols} FROM {table} c \
             JOIN trials t ON t.trial_id = c.trial_id WHERE t.study_id = ?1 AND {filter}"
        )
    };
    let values: Vec<Child<(Option<f64>, String)>> = db.rows(
        &child("trial_values", "c.objective", "c.value, c.value_type"),
        p,
        |r| Ok((r.get(0)?, r.get(1)?, (r.get(2)?, r.get(3)?))),
    )?;
    for (id, (v, kind)) in ordered(values) {
        if let Some(&i) = index.get(&id) {
            out[i].values.push(loaded_value(v, &kind));
        }
    }
    let params_rows: Vec<Child<(String, f64, String)>> = db.rows(
        &child(
            "trial_params",
            "c.param_id",
            "c.param_name, c.param_value, c.distribution_json",
        ),
        p,
        |r| Ok((r.get(0)?, r.get(1)?, (r.get(2)?, r.get(3)?, r.get(4)?))),
    )?;
    for (id, param) in ordered(params_rows) {
        if let Some(&i) = index.get(&id) {
            out[i].params.push(param);
        }
    }
    let inter: Vec<Child<(Option<f64>, String)>> = db.rows(
        &child(
            "trial_intermediate_values",
            "c.step",
            "c.intermediate_value, c.intermediate_value_type",
        ),
        p,
        |r| Ok((r.get(0)?, r.get(1)?, (r.get(2)?, r.get(3)?))),
    )?;
    for (id, step, (v, kind)) in sorted(inter) {
        if let Some(&i) = index.get(&id) {
            out[i]
                .intermediate_values
                .push((step, loaded_value(v, &kind)));
        }
    }
    for (system, table, key) in [
        (false, "trial_user_attributes", "c.trial_user_attribute_id"),
        (
            true,
            "trial_system_attributes",
            "c.trial_system_attribute_id",
        ),
    ] {
        let attrs: Vec<Child<(String, String)>> =
            db.rows(&child(table, key, "c.key, c.value_json"), p, |r| {
                Ok((r.get(0)?, r.get(1)?, (r.get(2)?, r.get(3)?)))
            })?;
        for (id, attr) in ordered(attrs) {
            if let Some(&i) = index.get(&id) {
                if system {
                    out[i].system_attrs.push(attr);
                } else {
                    out[i].user_attrs.push(attr);
                }
            }
        }
    }
    Ok(out)
}
