//! The JSON file flag sink: one file holds every flag,
//! `{"flags": {"KEY": {"basis_points", "generation", "salt", "always", "never", "updated_at",
//! "updated_by"}}}`. It is replaced atomically (write a temp file in the same directory, fsync,
//! rename, fsync the directory), so a gateway reading it never sees half a file. Writers
//! serialise on a lock file beside it, so two processes cannot lose each other's flags.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{FlagError, FlagSink, SinkFuture};
use crate::domain::{SplitRecord, SplitWrite, Timestamp};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlagsFile {
    /// Every flag by key.
    pub flags: BTreeMap<String, FileEntry>,
}

/// One flag in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The canary's share in basis points.
    pub basis_points: u32,
    /// Grows by one on every write of this flag.
    pub generation: u64,
    /// The routing salt.
    pub salt: String,
    /// Tenants that always get the canary while the split is above 0.
    #[serde(default)]
    pub always: Vec<String>,
    /// Tenants that never get the canary.
    #[serde(default)]
    pub never: Vec<String>,
    /// When it was last written.
    pub updated_at: Timestamp,
    /// Who wrote it.
    #[serde(default)]
    pub updated_by: String,
}

impl FileEntry {
    fn to_record(&self, flag: &str) -> SplitRecord {
        SplitRecord {
            flag_key: flag.to_string(),
            basis_points: self.basis_points,
            generation: self.generation,
            salt: self.salt.clone(),
            always: self.always.clone(),
            never: self.never.clone(),
            updated_at: self.updated_at,
            updated_by: self.updated_by.clone(),
        }
    }
}

/// Writes and reads splits in one JSON file.
#[derive(Debug, Clone)]
pub struct FileSink {
    path: PathBuf,
}

impl FileSink {
    /// A sink over the file at `path` (created on the first write; its directory must exist).
    pub fn new(path: PathBuf) -> FileSink {
        FileSink { path }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl FlagSink for FileSink {
    fn name(&self) -> &str {
        "file"
    }

    fn write<'a>(&'a self, flag: &'a str, split: &'a SplitWrite) -> SinkFuture<'a, SplitRecord> {
        let path = self.path.clone();
        let flag_key = flag.to_string();
        let wanted = split.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || write_flag(&path, &flag_key, &wanted))
                .await
                .map_err(|err| FlagError::Task(err.to_string()))?
        })
    }

    fn read<'a>(&'a self, flag: &'a str) -> SinkFuture<'a, Option<SplitRecord>> {
        let path = self.path.clone();
        let flag_key = flag.to_string();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let file = read_flags_file(&path)?;
                Ok(file
                    .flags
                    .get(&flag_key)
                    .map(|entry| entry.to_record(&flag_key)))
            })
            .await
            .map_err(|err| FlagError::Task(err.to_string()))?
        })
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FlagError + '_ {
    move |source| FlagError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the whole file; a missing file holds no flags.
pub fn read_flags_file(path: &Path) -> Result<FlagsFile, FlagError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(FlagsFile::default()),
        Err(err) => return Err(io_error(path)(err)),
    };
    serde_json::from_slice(&bytes).map_err(|err| FlagError::BadContent {
        path: path.to_path_buf(),
        detail: err.to_string(),
    })
}

/// A sibling of `path` named `.NAME.SUFFIX` (same directory, so a rename is atomic).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "flags.json".to_string());
    path.with_file_name(format!(".{name}.{suffix}"))
}

fn write_flag(path: &Path, flag: &str, split: &SplitWrite) -> Result<SplitRecord, FlagError> {
    let lock_path = sibling(path, "lock");
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error(&lock_path))?;
    lock_file.lock().map_err(io_error(&lock_path))?;
    let result = write_flag_locked(path, flag, split);
    // Closing the file releases the lock too; unlocking first keeps the intent explicit.
    let _unlocked = lock_file.unlock();
    result
}

fn write_flag_locked(
    path: &Path,
    flag: &str,
    split: &SplitWrite,
) -> Result<SplitRecord, FlagError> {
    let mut file = read_flags_file(path)?;
    let previous_generation = file.flags.get(flag).map_or(0, |entry| entry.generation);
    let entry = FileEntry {
        basis_points: split.basis_points,
        generation: previous_generation + 1,
        salt: split.salt.clone(),
        always: split.always.clone(),
        never: split.never.clone(),
        updated_at: split.updated_at,
        updated_by: split.updated_by.clone(),
    };
    let record = entry.to_record(flag);
    file.flags.insert(flag.to_string(), entry);
    let mut bytes = serde_json::to_vec_pretty(&file).map_err(|err| FlagError::BadContent {
        path: path.to_path_buf(),
        detail: err.to_string(),
    })?;
    bytes.push(b'\n');
    replace_atomically(path, &bytes)?;
    Ok(record)
}

/// Writes `bytes` to a temp file beside `path`, fsyncs it, renames it over `path`, and fsyncs
/// the directory so the rename survives a crash.
fn replace_atomically(path: &Path, bytes: &[u8]) -> Result<(), FlagError> {
    let temp_path = sibling(path, &format!("tmp-{}", uuid::Uuid::now_v7().simple()));
    let written = write_and_sync(&temp_path, bytes)
        .and_then(|()| std::fs::rename(&temp_path, path).map_err(io_error(path)));
    if written.is_err() {
        let _ignored = std::fs::remove_file(&temp_path);
        return written;
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|handle| handle.sync_all())
            .map_err(io_error(dir))?;
    }
    Ok(())
}

fn write_and_sync(path: &Path, bytes: &[u8]) -> Result<(), FlagError> {
    let mut temp = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(path)
        .map_err(io_error(path))?;
    temp.write_all(bytes).map_err(io_error(path))?;
    temp.sync_all().map_err(io_error(path))
}
