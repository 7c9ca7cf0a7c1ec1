//! Opening files with errors that name them; file writes that never leave a half-written file in place of a good one, and a lock that
//! keeps two runs from writing the same file (a leaf: it imports nothing of the crate but its
//! error type).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Opens `path` for reading.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn open(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Refuses an output path that is one of the command's own inputs (`inputs`: each flag and
/// its path): writing it would destroy what the command reads. Only an existing regular file
/// can be both; a path that is no file (a built-in dataset's name, a file not made yet, a
/// device) passes.
///
/// # Errors
/// [`Error::InvalidArgument`] naming the output's flag, the path and the input's flag.
pub fn refuse_input_as_output(
    output_flag: &'static str,
    output: &Path,
    inputs: &[(&str, &Path)],
) -> Result<()> {
    if !std::fs::metadata(output).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    match inputs.iter().find(|(_, input)| same_file(output, input)) {
        Some((flag, _)) => Err(Error::InvalidArgument {
            op: output_flag,
            detail: format!(
                "{} is also the {flag} this command reads: writing it would destroy it; choose another path",
                output.display()
            ),
        }),
        None => Ok(()),
    }
}

/// Whether two paths name one file (through links, hard links included where the platform
/// tells).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// How an output path is written: the one rule for every file the crate writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A regular file, or none yet: replaced atomically at this path — a symbolic link's
    /// target, never the link.
    Replace(PathBuf),
    /// Something that is not a regular file — a character device such as `/dev/null` or
    /// `/dev/stdout`'s terminal or pipe, a FIFO: written through, never replaced.
    Through(PathBuf),
}

impl Destination {
    /// Where writing `path` goes. A symbolic link is followed to its target (when the target
    /// does not exist yet, to where it would be).
    pub fn of(path: &Path) -> Destination {
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() && !meta.is_dir() => Destination::Through(path.into()),
            _ => Destination::Replace(link_target(path)),
        }
    }
}

/// `path` with its symbolic links resolved: the file a write through it changes.
fn link_target(path: &Path) -> PathBuf {
    if let Ok(resolved) = std::fs::canonicalize(path) {
        return resolved;
    }
    // A link to a file not made yet: its target, relative to the link's directory.
    match std::fs::read_link(path) {
        Ok(target) => path.parent().unwrap_or(Path::new("")).join(target),
        Err(_) => path.into(),
    }
}

/// Writes `bytes` to `path` as [`Destination::of`] says: a regular file (or a new one, or a
/// symbolic link's target) atomically — to a temporary file in the same directory, synced to
/// disk, then renamed over it, so that if anything fails it keeps its previous contents and the
/// temporary file is removed; a device or FIFO written through.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source: std::io::Error| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let path = match Destination::of(path) {
        Destination::Through(device) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(&device)
                .map_err(io)?;
            return file
                .write_all(bytes)
                .and_then(|()| file.flush())
                .map_err(io);
        }
        Destination::Replace(file) => file,
    };
    let path = path.as_path();
    let name = path
        .file_name()
        .ok_or_else(|| io(std::io::Error::other("not a file path")))?;
    let tmp = path.with_file_name(format!("{}{}", temporary_prefix(name), std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable where the platform allows syncing a directory.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(dir) = std::fs::File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// The start of the name of every temporary file [`write_atomic`] makes for a file called
/// `name`: `.{name}.tmp-`, followed by the writer's process id.
fn temporary_prefix(name: &std::ffi::OsStr) -> String {
    format!(".{}.tmp-", name.to_string_lossy())
}

/// An exclusive lock on writing one file, held until dropped: the operating system releases
/// it when the process ends, however it ends, so a killed run never leaves a stale lock.
///
/// The lock is a sibling file `.{name}.lock` of the file written (a symbolic link's target);
/// creating it also proves the directory exists and can be written, before any work whose
/// result would be written there. The holder removes it when done (on Unix; a killed holder's
/// stays, empty, and is reused). A device or FIFO, written through and never replaced, takes no
/// lock file (nothing is made beside it).
#[derive(Debug)]
pub struct WriteLock {
    /// The locked file and its path; `None` for a device or FIFO.
    held: Option<(std::fs::File, PathBuf)>,
}

impl WriteLock {
    /// Takes the lock on writing `path`, then removes the temporary files that earlier,
    /// killed writers of `path` left behind (only a holder of the lock writes `path`).
    ///
    /// # Errors
    /// [`Error::Io`] naming `path` when it is a directory, its directory does not exist or
    /// cannot be written; [`Error::Locked`] when another process holds the lock.
    pub fn acquire(path: &Path) -> Result<Self> {
        Self::acquire_covering(path, &[])
    }

    /// [`WriteLock::acquire`] for `path` and the `companions` written only together with it
    /// (a model file's training state): one lock, and the temporaries killed writers left
    /// of any of them removed.
    ///
    /// # Errors
    /// As [`WriteLock::acquire`].
    pub fn acquire_covering(path: &Path, companions: &[&Path]) -> Result<Self> {
        let io = |source: std::io::Error| Error::Io {
            path: path.display().to_string(),
            source,
        };
        if path.is_dir() {
            return Err(io(std::io::Error::other("is a directory, not a file path")));
        }
        let file_path = match Destination::of(path) {
            Destination::Through(_) => return Ok(Self { held: None }),
            Destination::Replace(file) => file,
        };
        let name = file_path
            .file_name()
            .ok_or_else(|| io(std::io::Error::other("not a file path")))?;
        let lock_path = file_path.with_file_name(format!(".{}.lock", name.to_string_lossy()));
        let file = loop {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Locked {
                        path: path.display().to_string(),
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
            // A holder removes the file before it lets go: if ours was removed between our open
            // and our lock, a newcomer may hold a new file at the path; take that one instead.
            if is_at(&file, &lock_path) {
                break file;
            }
        };
        for written in std::iter::once(file_path.as_path()).chain(companions.iter().copied()) {
            remove_temporaries(written);
        }
        Ok(Self {
            held: Some((file, lock_path)),
        })
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        // Removed while still held (the file closes after this), so that no one locks it after
        // its removal without seeing, by `is_at`, that it is gone.
        if let (true, Some((_, path))) = (cfg!(unix), &self.held) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether the open `file` is the one at `path` now (on Unix: the same device and inode).
fn is_at(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(open), Ok(now)) => open.dev() == now.dev() && open.ino() == now.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

/// Removes `.{name}.tmp-*` beside `path`: what writers killed mid-write left.
fn remove_temporaries(path: &Path) {
    let Some(name) = path.file_name() else {
        return;
    };
    let prefix = temporary_prefix(name);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            // Best effort: a leftover that cannot be removed harms nothing.
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
