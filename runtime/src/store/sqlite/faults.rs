//! What the SQLite store finds out when its file cannot be opened or written: why (a read-only
//! file or file system, a full disk, another program's file, another engine holding it), and
//! whether the path still names the file it has open. When a database is deleted or replaced
//! under a running engine, a copy of it is saved beside it, and the next open refuses to start
//! an empty database in its place while that copy is there. Also here: making a file's
//! directory entry durable, which opening and saving a copy both need. `DESIGN.md` (sections 9
//! and 10) describes the behaviour.

use super::StoreError;
use rusqlite::{Connection, ErrorCode};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// What names a file on its file system: (device, inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    device: u64,
    inode: u64,
}

/// The file `path` names now (symbolic links followed).
#[cfg(unix)]
pub(super) fn file_id(path: &Path) -> std::io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok(FileId {
        device: meta.dev(),
        inode: meta.ino(),
    })
}

/// Elsewhere an open file cannot be deleted, and there is no inode to compare.
#[cfg(not(unix))]
pub(super) fn file_id(_path: &Path) -> std::io::Result<FileId> {
    Err(ErrorKind::Unsupported.into())
}

/// Why the existing file at `path` cannot be opened for writing, in words that say what to do;
/// `None` when it can (or does not exist, or is not a file).
pub(super) fn write_problem(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let err = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .err()?;
    const EPERM: i32 = 1;
    Some(match err.kind() {
        ErrorKind::ReadOnlyFilesystem => "it is on a read-only file system; remount that file \
             system read-write, or move the database to a writable one"
            .to_string(),
        ErrorKind::PermissionDenied if err.raw_os_error() == Some(EPERM) => {
            "writing it is not permitted although its mode would allow it: it is probably \
             marked immutable or append-only (`lsattr` shows it, `chattr -i -a` clears it)"
                .to_string()
        }
        ErrorKind::PermissionDenied => format!(
            "the file is read-only for this user ({}); make it writable (`chmod u+w`) or run \
             the engine as its owner",
            describe_mode(&meta)
        ),
        _ => format!("it cannot be opened for writing: {err}"),
    })
}

#[cfg(unix)]
fn describe_mode(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "mode {:04o}, owner uid {}",
        meta.mode() & 0o7777,
        meta.uid()
    )
}

#[cfg(not(unix))]
fn describe_mode(_meta: &std::fs::Metadata) -> String {
    "marked read-only".to_string()
}

/// Turns a failed open into a [`StoreError`] naming the file and, where it can tell, why.
pub(super) fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::NotADatabase {
            path,
            reason: format!(
                "{e}; the file is not a SQLite database or is damaged, so move it aside or choose another path"
            ),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::InUse { path },
        Some(ErrorCode::CannotOpen) => StoreError::Open {
            path,
            reason: format!("{e}; check that the directory exists and is writable"),
        },
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => StoreError::Open {
            reason: match write_problem(&path) {
                Some(problem) => format!("{e}: {problem}"),
                None => format!("{e}; the file or its directory is not writable"),
            },
            path,
        },
        Some(ErrorCode::SystemIoFailure) => StoreError::Open {
            reason: match write_problem(&path) {
                Some(problem) => format!("{e}: {problem}"),
                None => e.to_string(),
            },
            path,
        },
        _ => StoreError::Open {
            path,
            reason: e.to_string(),
        },
    }
}

/// Turns a failed write into a [`StoreError`]: failures that may pass (a full disk, I/O errors,
/// a file or file system made read-only) become [`StoreError::Unwritable`], naming the cause
/// found; others are given back for the caller to map.
pub(super) fn write_error(path: &Path, e: rusqlite::Error) -> Result<StoreError, rusqlite::Error> {
    let reason = match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => format!(
            "{e}: the file system that holds it has no space left; free some and the engine \
             writes again by itself"
        ),
        Some(
            ErrorCode::SystemIoFailure
            | ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked,
        ) => match write_problem(path) {
            Some(problem) => format!("{e}: {problem}"),
            None => e.to_string(),
        },
        _ => return Err(e),
    };
    Ok(StoreError::Unwritable {
        path: path.to_path_buf(),
        reason,
    })
}

/// How the copy saved when the database went missing is named: `<file name>.rescued-<ms>`.
const RESCUED: &str = ".rescued-";

/// Copies of the database at `path` saved by [`save_copy`], oldest first.
pub(super) fn rescued_copies(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (parent(path), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}{RESCUED}", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Refuses to create a new database at `path` while a copy saved from the one that was there
/// exists: starting empty would quietly hide every run the copy holds. When the file exists,
/// such copies are only warned about.
pub(super) fn check_rescued(path: &Path) -> Result<(), StoreError> {
    let copies = rescued_copies(path);
    let Some(newest) = copies.last() else {
        return Ok(());
    };
    let missing =
        matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == ErrorKind::NotFound);
    if !missing {
        tracing::warn!(
            path = %path.display(),
            copy = %newest.display(),
            "a copy of this database was saved when it was deleted or replaced under a running \
             engine; it may hold runs that the file opened now lacks"
        );
        return Ok(());
    }
    let wal = wal_path(path);
    let stale_wal = if wal.exists() {
        format!(
            ", after deleting {} (what it held is in the copy)",
            wal.display()
        )
    } else {
        String::new()
    };
    Err(StoreError::Open {
        path: path.to_path_buf(),
        reason: format!(
            "it does not exist, but {} does: the copy an engine saved when this database was \
             deleted or moved away while it ran. To resume with the runs it holds, move it to \
             {}{stale_wal}; to start with an empty database instead, move the copy elsewhere",
            newest.display(),
            path.display(),
        ),
    })
}

/// What was done when the path stopped naming the open database file.
#[derive(Debug)]
pub(super) struct Lost {
    /// Said in every refusal until the file is back.
    pub(super) told: String,
    /// Where the database's write-ahead log was moved, so that no file put at the path later
    /// has it replayed into it; moved back if the database comes back.
    wal_aside: Option<PathBuf>,
}

/// Keeps what can be kept of the database at `path` that lost its name: saves a copy of it
/// beside the path, and moves its write-ahead log (`wal`, when known) out of the way.
pub(super) fn keep_lost(conn: &Connection, path: &Path, wal: Option<FileId>) -> Lost {
    let copy = save_copy(conn, path);
    let wal_path = wal_path(path);
    let wal_aside = wal
        .filter(|id| file_id(&wal_path).is_ok_and(|now| now == *id))
        .and_then(|_| {
            let aside = sibling(path, ".orphaned-wal-");
            match std::fs::rename(&wal_path, &aside) {
                Ok(()) => Some(aside),
                Err(e) => {
                    tracing::warn!(wal = %wal_path.display(), "could not move the write-ahead log of the lost database aside: {e}");
                    None
                }
            }
        });
    let stale_wal = if wal_aside.is_none() && wal_path.exists() {
        format!(" (after deleting {})", wal_path.display())
    } else {
        String::new()
    };
    let told = match copy {
        Ok(copy) => format!(
            "Its runs as of the last commit were saved to {}: to resume with them, stop the \
             engine and move the copy to {}{stale_wal}; or move the original file back under \
             its name, and the engine goes on by itself",
            copy.display(),
            path.display()
        ),
        Err(e) => format!(
            "Saving a copy of its runs failed ({e}), so they are only in this process: move \
             the original file back under its name if you can"
        ),
    };
    Lost { told, wal_aside }
}

/// Puts back what [`keep_lost`] moved, now that the database is back under its name.
pub(super) fn restore_lost(path: &Path, lost: &Lost) -> Result<(), String> {
    let Some(aside) = &lost.wal_aside else {
        return Ok(());
    };
    let wal = wal_path(path);
    if wal.exists() {
        return Err(format!(
            "is back under its name, but {} is another file now, so its write-ahead log cannot \
             move back from {}; remove that file and the engine goes on",
            wal.display(),
            aside.display()
        ));
    }
    std::fs::rename(aside, &wal).map_err(|e| {
        format!(
            "is back under its name, but its write-ahead log cannot move back from {} to {}: {e}",
            aside.display(),
            wal.display()
        )
    })
}

/// Saves the database as the connection sees it (every committed transaction, the WAL
/// included) beside `path`; gives the copy, or why it could not be saved.
fn save_copy(conn: &Connection, path: &Path) -> Result<PathBuf, String> {
    let copy = sibling(path, RESCUED);
    tracing::warn!(copy = %copy.display(), "saving a copy of the database that lost its name");
    let target = copy.to_str().ok_or("the path is not UTF-8")?;
    let saved = conn
        .execute("VACUUM INTO ?1", [target])
        .map_err(|e| e.to_string())
        .and_then(|_| {
            std::fs::File::open(&copy)
                .and_then(|f| f.sync_all())
                .map_err(|e| e.to_string())
        });
    match saved {
        Ok(()) => {
            sync_parent_dir(&copy);
            Ok(copy)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            Err(format!("{}: {e}", copy.display()))
        }
    }
}

/// `<path><infix><unix ms>`.
fn sibling(path: &Path, infix: &str) -> PathBuf {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut name = path.as_os_str().to_owned();
    name.push(format!("{infix}{millis}"));
    PathBuf::from(name)
}

fn parent(path: &Path) -> Option<&Path> {
    match path.parent() {
        Some(dir) if dir.as_os_str().is_empty() => Some(Path::new(".")),
        other => other,
    }
}

/// Where SQLite keeps the write-ahead log of the database at `path`.
pub(super) fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Makes the directory entry of the database file durable, so that a power loss cannot leave
/// committed data on disk in a file that no directory names. SQLite does this for the WAL files
/// it creates but not for the database file itself.
pub(super) fn sync_parent_dir(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        // Some file systems cannot sync a directory; the data itself is synced regardless.
        tracing::debug!(dir = %dir.display(), "could not sync the directory of the database: {e}");
    }
}
