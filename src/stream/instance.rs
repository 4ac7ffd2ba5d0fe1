//! A consumer process's identity on its host, kept as Kafka Streams keeps its process id: the
//! state directory holds, per consumer group, numbered slots; each slot keeps a generated id and
//! is locked while the process that took it runs. A process takes the first slot it can lock.
//!
//! So two processes started with the same defaults on one host never share an id (the second
//! finds the first slot locked and takes the next), and a process restarted after a crash takes
//! its old slot, and id, back: the kernel released the lock when the old process died. Under
//! exactly once the id names the transactional producer, so the restart fences its previous
//! life and aborts the transaction it left open.
//!
//! Written with std's advisory file locks (`File::try_lock`): they are released by the kernel
//! when the process dies, however it dies, which a lock file with a pid in it is not.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Slots per group on one host; a bound, so a bug cannot fill the disk with directories.
const MAX_SLOTS: usize = 1024;
const LOCK_FILE: &str = "lock";
const ID_FILE: &str = "instance.id";

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("{what} {path}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("all {MAX_SLOTS} instance slots under {0} are locked by running processes")]
    Full(PathBuf),
    #[error("{path} holds no usable instance id ({content:?}); remove the file to get a new id")]
    BadId { path: PathBuf, content: String },
}

/// A claimed slot: its id, and the lock that keeps it ours until the process exits.
#[derive(Debug)]
pub struct Instance {
    pub id: String,
    /// The slot's directory, for state kept beside the id.
    pub dir: PathBuf,
    _lock: File,
}

impl Instance {
    /// Takes the first free slot of `group` under `state_dir`, making the directories, the
    /// slot and its id as needed.
    pub fn claim(state_dir: &Path, group: &str) -> Result<Instance, InstanceError> {
        let base = state_dir.join(dir_name(group));
        for slot in 0..MAX_SLOTS {
            let dir = base.join(slot.to_string());
            std::fs::create_dir_all(&dir).map_err(|source| io("creating", &dir, source))?;
            let path = dir.join(LOCK_FILE);
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|source| io("opening", &path, source))?;
            match lock.try_lock() {
                Ok(()) => {
                    let id = read_or_make_id(&dir)?;
                    return Ok(Instance { id, dir, _lock: lock });
                }
                Err(std::fs::TryLockError::WouldBlock) => continue,
                Err(std::fs::TryLockError::Error(source)) => return Err(io("locking", &path, source)),
            }
        }
        Err(InstanceError::Full(base))
    }
}

fn io(what: &'static str, path: &Path, source: std::io::Error) -> InstanceError {
    InstanceError::Io { what, path: path.to_path_buf(), source }
}

/// The slot's id, made on first use. Written to a temporary file and renamed, so a crash never
/// leaves a half-written id behind.
fn read_or_make_id(dir: &Path) -> Result<String, InstanceError> {
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(content) => {
            let id = content.trim();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(InstanceError::BadId { path, content });
            }
            Ok(id.to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let tmp = dir.join(format!("{ID_FILE}.tmp"));
            let mut f = File::create(&tmp).map_err(|source| io("creating", &tmp, source))?;
            f.write_all(format!("{id}\n").as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|source| io("writing", &tmp, source))?;
            std::fs::rename(&tmp, &path).map_err(|source| io("renaming into", &path, source))?;
            Ok(id)
        }
        Err(source) => Err(io("reading", &path, source)),
    }
}

/// A directory name for a group: the group's name where it is safe in a path, with any other
/// byte written as `%XX`, so two groups never share a directory.
fn dir_name(group: &str) -> String {
    let mut out = String::with_capacity(group.len());
    for b in group.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') || (b == b'.' && !out.is_empty()) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_takes_another_slot_and_a_released_one_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = Instance::claim(dir.path(), "g").unwrap();
        let b = Instance::claim(dir.path(), "g").unwrap();
        assert_ne!(a.id, b.id, "two live processes never share an id");
        assert_ne!(a.dir, b.dir);
        let (a_id, a_dir) = (a.id.clone(), a.dir.clone());
        drop(a); // the process died: the kernel released its lock
        let again = Instance::claim(dir.path(), "g").unwrap();
        assert_eq!((again.id, again.dir), (a_id, a_dir), "a restart takes its old id back");
        let other = Instance::claim(dir.path(), "h").unwrap();
        assert_ne!(other.id, b.id, "each group has its own slots");
    }

    #[test]
    fn a_damaged_id_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = Instance::claim(dir.path(), "g").unwrap();
        let path = a.dir.join(ID_FILE);
        drop(a);
        std::fs::write(&path, "not an id!\n").unwrap();
        let err = Instance::claim(dir.path(), "g").unwrap_err();
        assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
    }

    #[test]
    fn group_names_become_distinct_safe_directory_names() {
        assert_eq!(dir_name("fraud-scorer"), "fraud-scorer");
        assert_eq!(dir_name("a/b"), "a%2Fb");
        assert_eq!(dir_name(".."), "%2E.");
        assert_ne!(dir_name("a/b"), dir_name("a%2Fb"));
    }
}
