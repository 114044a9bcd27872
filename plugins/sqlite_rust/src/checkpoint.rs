//! Checkpoints off the writer's path.
//!
//! In WAL mode every commit appends to the `-wal` file, and a checkpoint copies it back into
//! the database file with two fsyncs. SQLite runs it inside the commit that crosses
//! `wal_autocheckpoint`, so that commit waits for the disk. Here a thread with a connection of
//! its own runs `wal_checkpoint(PASSIVE)`, which never blocks a writer, whenever the writer
//! has committed [`EVERY`] transactions; the writer's own automatic checkpoint stays as the
//! backstop at a larger size (it also lets the WAL restart from its beginning, as a PASSIVE
//! checkpoint racing a busy writer rarely finishes with nothing left to copy).
//!
//! A checkpoint never runs while the process forks: a forked child could otherwise inherit
//! SQLite's internal mutexes held by this thread (the `pthread_atfork` handlers wait for the
//! checkpoint in progress).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Once;
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};

/// Write transactions between two checkpoint requests (a trial commits two).
pub const EVERY: u32 = 512;

/// Closed by a checkpoint in progress, and by a fork from before it until it returns.
static GATE: AtomicBool = AtomicBool::new(false);
static AT_FORK: Once = Once::new();

fn close_gate() {
    while GATE
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::thread::yield_now();
    }
}

fn open_gate() {
    GATE.store(false, Ordering::Release);
}

extern "C" fn before_fork() {
    close_gate();
}

extern "C" fn after_fork() {
    open_gate();
}

/// The checkpointing thread of one writable connection.
pub struct Checkpointer {
    requests: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Start the thread for the database at `path` (None if no thread can be started: the
    /// writer's automatic checkpoints then do the work).
    pub fn start(path: &str) -> Option<Checkpointer> {
        AT_FORK.call_once(|| {
            crate::fork::at_fork(Some(before_fork), Some(after_fork), Some(after_fork))
        });
        let (requests, received) = sync_channel(1);
        let path = path.to_string();
        let thread = std::thread::Builder::new()
            .name("osk-sqlite-checkpoint".into())
            .spawn(move || run(&path, received))
            .ok()?;
        Some(Checkpointer {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Ask for a checkpoint; never blocks (a request already pending is enough).
    pub fn request(&self) {
        if let Some(requests) = &self.requests {
            let _ = requests.try_send(());
        }
    }

    /// Stop the thread once the checkpoint in progress, if any, is done.
    pub fn stop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(path: &str, requests: Receiver<()>) {
    let mut conn: Option<Connection> = None;
    while requests.recv().is_ok() {
        close_gate();
        if conn.is_none() {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            conn = Connection::open_with_flags(path, flags).ok();
        }
        // Best effort: if another checkpoint runs or this one fails, the writer's automatic
        // checkpoint still bounds the WAL.
        if let Some(c) = &conn {
            let _ = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
        open_gate();
    }
    close_gate();
    drop(conn);
    open_gate();
}
