//! How to open a file read-only without changing any byte of it or of its directory.
//!
//! SQLite's `mode=ro` is not enough on its own for a WAL-mode file (every file this backend
//! has written):
//!
//! * without a `-wal` file, a `mode=ro` connection *creates* `-wal` and `-shm` (or, in a
//!   read-only directory, fails with "attempt to write a readonly database");
//! * with `-wal` and `-shm`, a `mode=ro` connection still writes read marks into `-shm`
//!   unless `readonly_shm=1` is given, which reads the WAL index without writing it;
//! * `immutable=1` never touches `-wal`/`-shm` and takes no locks, but it also ignores the
//!   `-wal` file: correct only when that file holds nothing.
//!
//! So: a WAL-mode file whose `-wal` is absent (or empty, with no `-shm`) holds the whole
//! database and is opened `immutable=1`; otherwise `mode=ro&readonly_shm=1`. A file in
//! rollback-journal mode (Optuna's own files) is opened `mode=ro`, which never writes.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Result, StoreError};

/// The `file:` URI that opens `path` read-only, changing nothing.
pub fn read_only_uri(path: &str) -> Result<String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::Missing(path.to_string()))
        }
        Err(e) => return Err(StoreError::Unusable(format!("cannot read {path}: {e}"))),
    };
    if meta.is_dir() {
        return Err(StoreError::Unusable(format!(
            "{path} is a directory, not a SQLite file: give the path of the .db file"
        )));
    }
    let params = if is_wal_mode(path)? {
        let wal = std::fs::metadata(format!("{path}-wal"))
            .map(|m| m.len())
            .ok();
        let shm = Path::new(&format!("{path}-shm")).exists();
        match (wal, shm) {
            (None, _) | (Some(0), false) => "immutable=1",
            (Some(_), false) => {
                return Err(StoreError::Unusable(format!(
                    "cannot read {path} without writing: its -wal file holds writes not yet \
                     copied into the database and its -shm file is missing; open it once for \
                     writing (without mode=ro), which completes the database file"
                )))
            }
            (Some(_), true) => "mode=ro&readonly_shm=1",
        }
    } else {
        "mode=ro"
    };
    Ok(format!("file:{}?{params}", encode(path)))
}

/// Whether the file's header says WAL mode (byte 18, the read version, is 2).
fn is_wal_mode(path: &str) -> Result<bool> {
    let mut header = [0u8; 20];
    let mut file =
        File::open(path).map_err(|e| StoreError::Unusable(format!("cannot read {path}: {e}")))?;
    let mut got = 0;
    while got < header.len() {
        match file.read(&mut header[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(StoreError::Unusable(format!("cannot read {path}: {e}"))),
        }
    }
    Ok(got == header.len() && &header[..16] == b"SQLite format 3\0" && header[18] == 2)
}

/// Percent-encode a path for a `file:` URI (RFC 3986 unreserved characters and `/` stay).
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn paths_are_encoded_for_uris() {
        assert_eq!(encode("/tmp/a b/x?.db"), "/tmp/a%20b/x%3F.db");
        assert_eq!(encode("rel/é#.db"), "rel/%C3%A9%23.db");
    }
}
