//! A log file that can be reopened in place: after `logrotate` (or an operator) renamed it,
//! `reopen` (weir does it on `SIGUSR1`) starts a new file at the same path, and lines written
//! meanwhile went to the renamed one, none lost.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// A file opened for appending at a path, reopened on demand.
#[derive(Debug)]
pub struct ReopeningFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl ReopeningFile {
    /// Opens (creating it if needed) `path` for appending.
    pub fn open(path: &Path) -> io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            path: path.to_owned(),
            file: Mutex::new(append(path)?),
        }))
    }

    /// Opens the path again: the current file, if it was renamed, keeps what was written to it.
    pub fn reopen(&self) -> io::Result<()> {
        let fresh = append(&self.path)?;
        *self.file.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// A writer into a [`ReopeningFile`], for the log thread.
#[derive(Clone, Debug)]
pub struct Handle(pub Arc<ReopeningFile>);

impl Write for Handle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0
            .file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_to_the_renamed_file_until_reopened_then_to_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let file = ReopeningFile::open(&path).unwrap();
        let mut handle = Handle(file.clone());
        handle.write_all(b"one\n").unwrap();
        let rotated = dir.path().join("access.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        handle.write_all(b"two\n").unwrap();
        file.reopen().unwrap();
        handle.write_all(b"three\n").unwrap();
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
    }
}
