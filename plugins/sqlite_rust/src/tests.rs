//! Unit tests of the pure-Rust core against real SQLite files, with the schema Optuna 5.0's
//! RDBStorage creates (tests/fixtures/optuna_schema.sql, dumped from a real RDBStorage file).

use std::path::PathBuf;

use crate::db::Sync;
use crate::error::StoreError;
use crate::store::{Store, Versions};
use crate::trials::{Template, TrialWrite};

const SCHEMA: &str = include_str!("../tests/fixtures/optuna_schema.sql");

fn ddl() -> Vec<String> {
    let body: String = SCHEMA
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn want() -> Versions {
    Versions {
        schema_version: 12,
        library_version: "5.0.0".into(),
        alembic: Some("v3.2.0.a".into()),
    }
}

struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        let dir = std::env::temp_dir().join(format!("osk-sqlite-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDb(dir.join("study.db"))
    }
    fn open(&self) -> Store {
        let s = Store::open(self.0.to_str().unwrap(), 10.0, Sync::Normal, false).unwrap();
        s.ensure_schema(&ddl(), &want()).unwrap();
        s
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

fn mins() -> Vec<String> {
    vec!["MINIMIZE".to_string()]
}

#[test]
fn schema_is_created_once_and_versions_read_back() {
    let t = TempDb::new("schema");
    let a = t.open();
    assert_eq!(a.versions().unwrap(), Some(want()));
    let b = t.open();
    let other = Versions {
        schema_version: 99,
        library_version: "x".into(),
        alembic: None,
    };
    // A second creation finds the existing schema and leaves it alone.
    assert_eq!(b.ensure_schema(&ddl(), &other).unwrap(), want());
}

#[test]
fn foreign_tables_are_refused() {
    let t = TempDb::new("foreign");
    let s = Store::open(t.0.to_str().unwrap(), 5.0, Sync::Normal, false).unwrap();
    s.db.write("test", |db| {
        db.exec("CREATE TABLE other (x INTEGER)", []).map(|_| ())
    })
    .unwrap();
    assert!(matches!(
        s.ensure_schema(&ddl(), &want()),
        Err(StoreError::Schema(_))
    ));
}

#[test]
fn studies_round_trip_and_duplicates_are_refused() {
    let t = TempDb::new("studies");
    let mut s = t.open();
    let id = s
        .create_study("a", &["MAXIMIZE".into(), "MINIMIZE".into()])
        .unwrap();
    assert!(matches!(
        s.create_study("a", &mins()),
        Err(StoreError::DuplicateStudy(_))
    ));
    assert_eq!(s.study_id_from_name("a").unwrap(), id);
    assert_eq!(
        s.study_directions(id).unwrap(),
        vec!["MAXIMIZE", "MINIMIZE"]
    );
    s.set_study_attr(false, id, "k", "1").unwrap();
    s.set_study_attr(false, id, "k", "2").unwrap();
    assert_eq!(
        s.study_attrs(false, id).unwrap(),
        vec![("k".to_string(), "2".to_string())]
    );
    s.delete_study(id).unwrap();
    assert!(matches!(s.study_name(id), Err(StoreError::NotFound(_))));
}

#[test]
fn owned_trial_writes_are_batched_into_the_state_change() {
    let t = TempDb::new("batch");
    let mut s = t.open();
    s.write_behind = true;
    let mut other = t.open();
    let study = s.create_study("s", &mins()).unwrap();
    let (tid, number, _) = s.create_trial(study, None).unwrap();
    assert_eq!(number, 0);
    let before = s.counters();
    for i in 0..3 {
        s.write_trial(
            tid,
            TrialWrite::Param(format!("x{i}"), i as f64, "{}".into()),
        )
        .unwrap();
    }
    assert_eq!(s.counters(), before, "buffered writes issue no statement");
    // Another connection sees the running trial, without params yet.
    let seen = other.sync(study).unwrap().1;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].state, "RUNNING");
    assert!(seen[0].params.is_empty());
    assert!(s.set_state(tid, "COMPLETE", Some(&[1.5]), None).unwrap());
    let (stmts, commits) = s.counters();
    assert_eq!(commits - before.1, 1, "one commit for the whole trial");
    // BEGIN, UPDATE (also the check that it is unfinished), 1 value, 3 params in one INSERT,
    // COMMIT
    assert_eq!(stmts - before.0, 5);
    let seen = other.sync(study).unwrap().1;
    assert_eq!(seen.len(), 1, "only the changed trial is read again");
    assert_eq!(seen[0].state, "COMPLETE");
    assert_eq!(seen[0].values, vec![1.5]);
    assert_eq!(seen[0].params.len(), 3);
    assert!(
        other.sync(study).unwrap().1.is_empty(),
        "nothing changed since"
    );
    assert!(matches!(
        s.write_trial(tid, TrialWrite::Intermediate(1, 0.5)),
        Err(StoreError::Finished(_))
    ));
}

#[test]
fn numbers_are_unique_across_connections() {
    let t = TempDb::new("numbers");
    let mut setup = t.open();
    let study = setup.create_study("s", &mins()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let path = t.0.clone();
            std::thread::spawn(move || {
                let mut s = Store::open(path.to_str().unwrap(), 30.0, Sync::Normal, false).unwrap();
                (0..25)
                    .map(|_| {
                        let (id, n, _) = s.create_trial(study, None).unwrap();
                        s.set_state(id, "COMPLETE", Some(&[0.0]), None).unwrap();
                        n
                    })
                    .collect::<Vec<i64>>()
            })
        })
        .collect();
    let mut all: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<i64>>());
    assert_eq!(setup.sync(study).unwrap().1.len(), 100);
}

#[test]
fn a_param_set_twice_keeps_its_last_value() {
    let t = TempDb::new("twice");
    let mut a = t.open();
    let mut b = t.open();
    let study = a.create_study("s", &mins()).unwrap();
    let (tid, _, _) = a.create_trial(study, None).unwrap();
    for v in [1.0, 2.0] {
        a.write_trial(tid, TrialWrite::Param("x".into(), v, "{}".into()))
            .unwrap();
    }
    a.write_trial(tid, TrialWrite::Param("y".into(), 3.0, "{}".into()))
        .unwrap();
    a.set_state(tid, "COMPLETE", Some(&[0.0]), None).unwrap();
    let params = b.sync(study).unwrap().1.remove(0).params;
    assert_eq!(
        params,
        vec![
            ("x".into(), 2.0, "{}".into()),
            ("y".into(), 3.0, "{}".into())
        ]
    );
}

#[test]
fn waiting_trials_are_popped_once() {
    let t = TempDb::new("waiting");
    let mut a = t.open();
    let mut b = t.open();
    let study = a.create_study("s", &mins()).unwrap();
    let template = Template {
        state: "WAITING".into(),
        ..Default::default()
    };
    let (tid, _) = a.create_trial_from(study, &template).unwrap();
    assert!(b.set_state(tid, "RUNNING", None, None).unwrap());
    assert!(!a.set_state(tid, "RUNNING", None, None).unwrap());
    assert!(b.owns(tid) && !a.owns(tid));
}

#[test]
fn special_values_round_trip() {
    let t = TempDb::new("values");
    let mut a = t.open();
    let mut b = t.open();
    let study = a.create_study("s", &mins()).unwrap();
    let (tid, _, _) = a.create_trial(study, None).unwrap();
    a.write_trial(tid, TrialWrite::Intermediate(0, f64::NAN))
        .unwrap();
    a.write_trial(tid, TrialWrite::Intermediate(1, f64::NEG_INFINITY))
        .unwrap();
    a.set_state(tid, "COMPLETE", Some(&[f64::INFINITY]), None)
        .unwrap();
    let r = b.sync(study).unwrap().1;
    assert_eq!(r[0].values, vec![f64::INFINITY]);
    assert!(r[0].intermediate_values[0].1.is_nan());
    assert_eq!(r[0].intermediate_values[1].1, f64::NEG_INFINITY);
}

#[test]
fn heartbeat_flushes_and_marks_stale() {
    let t = TempDb::new("heartbeat");
    let mut a = t.open();
    let mut b = t.open();
    let study = a.create_study("s", &mins()).unwrap();
    let (tid, _, _) = a.create_trial(study, None).unwrap();
    a.write_trial(tid, TrialWrite::Param("x".into(), 1.0, "{}".into()))
        .unwrap();
    a.record_heartbeat(tid).unwrap();
    assert_eq!(
        b.sync(study).unwrap().1[0].params.len(),
        1,
        "the heartbeat flushed the param"
    );
    assert!(b.stale_trials(study, 60.0).unwrap().is_empty());
    assert_eq!(b.stale_trials(study, -1.0).unwrap(), vec![tid]);
    assert!(b.set_state(tid, "FAIL", None, None).unwrap());
    // The owner finds out at its next write and stops holding the trial.
    assert!(matches!(
        a.set_state(tid, "COMPLETE", Some(&[1.0]), None),
        Err(StoreError::Finished(_))
    ));
    assert!(!a.owns(tid));
    let failed = t.open().sync(study).unwrap().1;
    assert_eq!(failed[0].state, "FAIL");
    assert!(
        failed[0].values.is_empty(),
        "the refused write left no value"
    );
    assert!(matches!(
        a.set_state(tid + 1000, "COMPLETE", Some(&[1.0]), None),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn flush_commits_every_running_trial_and_drops_those_finished_elsewhere() {
    let t = TempDb::new("flush");
    let mut a = t.open();
    let mut b = t.open();
    let study = a.create_study("s", &mins()).unwrap();
    let (kept, _, _) = a.create_trial(study, None).unwrap();
    let (failed, _, _) = a.create_trial(study, None).unwrap();
    let (idle, _, _) = a.create_trial(study, None).unwrap();
    assert_eq!(a.flush().unwrap(), 0, "nothing buffered: no transaction");
    for tid in [kept, failed] {
        a.write_trial(tid, TrialWrite::Param("x".into(), 2.0, "{}".into()))
            .unwrap();
    }
    b.sync(study).unwrap();
    assert!(b.set_state(failed, "FAIL", None, None).unwrap());
    let before = a.counters();
    assert_eq!(a.flush().unwrap(), 1);
    assert_eq!(a.counters().1 - before.1, 1, "one commit for all trials");
    let seen = b.sync(study).unwrap().1;
    let params = |tid: i64| {
        seen.iter()
            .find(|r| r.trial_id == tid)
            .unwrap()
            .params
            .len()
    };
    assert_eq!(
        params(kept),
        1,
        "the running trial's param is visible after the flush"
    );
    assert!(a.owns(kept) && a.owns(idle));
    assert!(
        !a.owns(failed),
        "a trial finished elsewhere is no longer held"
    );
    let before = a.counters();
    assert_eq!(a.flush().unwrap(), 0, "buffers were emptied");
    assert_eq!(a.counters(), before);
    assert!(a.set_state(kept, "COMPLETE", Some(&[1.0]), None).unwrap());
}

#[test]
fn a_recreated_study_id_resets_the_cache() {
    let t = TempDb::new("reuse");
    let mut a = t.open();
    let mut b = t.open();
    let first = a.create_study("first", &mins()).unwrap();
    let (tid, _, _) = a.create_trial(first, None).unwrap();
    a.set_state(tid, "COMPLETE", Some(&[1.0]), None).unwrap();
    assert_eq!(b.sync(first).unwrap().1.len(), 1);
    a.delete_study(first).unwrap();
    // Another process (which never saw the old id) gets it again: SQLite reuses the largest
    // rowid, as Optuna's schema has no AUTOINCREMENT.
    let c = t.open();
    let second = c.create_study("second", &mins()).unwrap();
    assert_eq!(second, first);
    let (reset, records) = b.sync(second).unwrap();
    assert!(
        reset,
        "the reader must drop what it cached for the old study"
    );
    assert!(records.is_empty());
}

#[test]
fn study_attrs_are_read_again_only_after_another_connection_commits() {
    let t = TempDb::new("attrs");
    let mut a = t.open();
    let mut b = t.open();
    let study = a.create_study("s", &mins()).unwrap();
    a.set_study_attr(true, study, "k", "1").unwrap();
    assert_eq!(
        a.study_attrs(true, study).unwrap(),
        vec![("k".into(), "1".into())]
    );
    let before = a.counters();
    assert_eq!(a.study_attrs(true, study).unwrap().len(), 1);
    assert_eq!(a.counters().0 - before.0, 1, "kept: one data_version check");
    assert_eq!(a.counters().1, before.1, "a read commits nothing");
    a.set_study_attr(true, study, "k", "2").unwrap(); // our own write: the copy is dropped
    assert_eq!(
        a.study_attrs(true, study).unwrap(),
        vec![("k".into(), "2".into())]
    );
    b.set_study_attr(true, study, "m", "3").unwrap(); // another connection's
    assert_eq!(a.study_attrs(true, study).unwrap().len(), 2);
    assert!(a.study_attrs(false, study).unwrap().is_empty());
    b.delete_study(study).unwrap();
    assert!(matches!(
        a.study_attrs(true, study),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn locked_database_waits_then_reports_clearly() {
    let t = TempDb::new("locked");
    let s = t.open();
    let blocker = rusqlite::Connection::open(&t.0).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let impatient = Store::open(t.0.to_str().unwrap(), 0.3, Sync::Normal, false).unwrap();
    let err = impatient.create_study("x", &mins()).unwrap_err();
    assert!(err.to_string().contains("stayed locked"), "{err}");
    blocker.execute_batch("ROLLBACK").unwrap();
    // Once the lock is gone, the same call succeeds; nothing was half-written.
    assert!(impatient.create_study("x", &mins()).is_ok());
    assert_eq!(s.all_studies().unwrap().len(), 1);
}

/// Not a test: `cargo test --release -- --ignored --nocapture timing` prints per-trial costs.
#[test]
#[ignore]
fn timing() {
    let t = TempDb::new("timing");
    let mut s = t.open();
    let study = s.create_study("s", &mins()).unwrap();
    let n = 5000;
    let start = std::time::Instant::now();
    let mut create = std::time::Duration::ZERO;
    for i in 0..n {
        let c = std::time::Instant::now();
        let (id, _, _) = s.create_trial(study, None).unwrap();
        create += c.elapsed();
        for p in ["x", "y", "z"] {
            s.write_trial(
                id,
                TrialWrite::Param(
                    p.into(),
                    i as f64,
                    "{\"name\": \"FloatDistribution\"}".into(),
                ),
            )
            .unwrap();
        }
        s.set_state(id, "COMPLETE", Some(&[1.0]), None).unwrap();
        s.sync(study).unwrap();
    }
    let total = start.elapsed();
    let wal = std::fs::metadata(format!("{}-wal", t.0.display()))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "per trial {:?}, create {:?}, wal {} KB",
        total / n,
        create / n,
        wal / 1024
    );
}

/// Not a test: where a state-change commit spends its time.
#[test]
#[ignore]
fn timing_phases() {
    use std::time::{Duration, Instant};
    let t = TempDb::new("phases");
    let mut s = t.open();
    let study = s.create_study("s", &mins()).unwrap();
    let (mut begin, mut body, mut commit) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let n = 3000;
    for _ in 0..n {
        let (id, _, _) = s.create_trial(study, None).unwrap();
        let a = Instant::now();
        s.db.exec("BEGIN IMMEDIATE", []).unwrap();
        let b = Instant::now();
        s.db.exec("UPDATE trials SET state='COMPLETE' WHERE trial_id=?1", [id])
            .unwrap();
        for p in ["x", "y", "z"] {
            s.db.exec("INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) VALUES (?1, ?2, 0.5, '{}')", rusqlite::params![id, p]).unwrap();
        }
        s.db.exec("INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES (?1, 0, 1.0, 'FINITE')", [id]).unwrap();
        let c = Instant::now();
        s.db.exec("COMMIT", []).unwrap();
        let d = Instant::now();
        begin += b - a;
        body += c - b;
        commit += d - c;
    }
    println!(
        "begin {:?} body {:?} commit {:?}",
        begin / n,
        body / n,
        commit / n
    );
}

#[test]
fn ids_this_process_knows_are_never_handed_out_again() {
    let t = TempDb::new("no-reuse");
    let mut a = t.open();
    let first = a.create_study("first", &mins()).unwrap();
    let (t1, _, _) = a.create_trial(first, None).unwrap();
    a.delete_study(first).unwrap();
    let second = a.create_study("second", &mins()).unwrap();
    assert!(second > first, "study id {first} was reused");
    let (t2, number, _) = a.create_trial(second, None).unwrap();
    assert!(t2 > t1, "trial id {t1} was reused");
    assert_eq!(number, 0);
    // Statement counts do not change: the floor is folded into the INSERT.
    let mut b = t.open();
    let (_, records) = b.sync(second).unwrap();
    assert_eq!(
        records.iter().map(|r| r.trial_id).collect::<Vec<_>>(),
        vec![t2]
    );
}

fn listing(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_last_connection_to_close_checkpoints_the_wal() {
    let t = TempDb::new("checkpoint");
    let mut a = t.open();
    let b = t.open();
    let study = a.create_study("s", &mins()).unwrap();
    a.create_trial(study, None).unwrap();
    // A connection that is not ours keeps the file open, so SQLite's own checkpoint at the
    // last close cannot run: ours must.
    let foreign = rusqlite::Connection::open(&t.0).unwrap();
    let _: i64 = foreign
        .query_row("SELECT COUNT(*) FROM trials", [], |r| r.get(0))
        .unwrap();
    let wal = t.0.with_file_name("study.db-wal");
    a.close();
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "b still has it open"
    );
    b.close();
    assert_eq!(
        std::fs::metadata(&wal).unwrap().len(),
        0,
        "checkpointed, truncated"
    );
    let copy = t.0.with_file_name("copy.db");
    std::fs::copy(&t.0, &copy).unwrap();
    let c = Store::open(copy.to_str().unwrap(), 5.0, Sync::Normal, true).unwrap();
    assert_eq!(c.study_id_from_name("s").unwrap(), study);
    drop(foreign);
}

#[test]
fn read_only_opens_change_nothing_and_refuse_writes() {
    let t = TempDb::new("readonly");
    let dir = t.0.parent().unwrap().to_path_buf();
    let missing = dir.join("missing.db");
    assert!(matches!(
        Store::open(missing.to_str().unwrap(), 5.0, Sync::Normal, true),
        Err(StoreError::Missing(_))
    ));
    assert!(listing(&dir).is_empty(), "a missing file is not created");
    {
        let mut w = t.open();
        let study = w.create_study("s", &mins()).unwrap();
        w.create_trial(study, None).unwrap();
        w.close();
    }
    let before = listing(&dir);
    assert_eq!(
        before.len(),
        1,
        "only the .db after the last close: {before:?}"
    );
    let mut r = Store::open(t.0.to_str().unwrap(), 5.0, Sync::Normal, true).unwrap();
    let study = r.study_id_from_name("s").unwrap();
    assert_eq!(r.sync(study).unwrap().1.len(), 1);
    let refused = r.create_study("t", &mins());
    assert!(
        matches!(refused, Err(StoreError::ReadOnly(_))),
        "{refused:?}"
    );
    r.close();
    assert_eq!(listing(&dir), before, "no -wal or -shm was created");
}

#[test]
fn sqlite_errors_say_what_was_done_never_the_sql() {
    let t = TempDb::new("errors");
    let mut s = t.open();
    let study = s.create_study("s", &mins()).unwrap();
    s.db.write("test", |db| {
        db.exec(
            "CREATE TRIGGER frozen BEFORE INSERT ON trials \
             BEGIN SELECT RAISE(ABORT, 'trials are frozen'); END",
            [],
        )
        .map(|_| ())
    })
    .unwrap();
    let err = s.create_trial(study, None).unwrap_err();
    let message = err.to_string();
    assert_eq!(
        message,
        "SQLite failed while creating a trial: trials are frozen"
    );
    assert!(!err.is_disk_full());
}

#[test]
fn the_checkpoint_thread_copies_the_wal_into_the_database_file() {
    // 2 x EVERY small commits (~2 MiB of WAL) stay far below the committing thread's own
    // automatic checkpoint (16 MiB): only the checkpoint thread copies them into the file.
    let t = TempDb::new("checkpoint-thread");
    let mut s = t.open();
    let study = s.create_study("s", &mins()).unwrap();
    let size = || std::fs::metadata(&t.0).unwrap().len();
    let before = size();
    for _ in 0..2 * crate::checkpoint::EVERY {
        s.create_trial(study, None).unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while size() == before && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        size() > before,
        "no checkpoint copied the WAL into {:?}",
        t.0
    );
    s.close();
}
