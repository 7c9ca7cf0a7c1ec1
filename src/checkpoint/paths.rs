//! Where a checkpoint's files go, and the lock a run holds while it may write them.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::{Destination, WriteLock};

/// The training-state file that belongs to the model file `path`.
pub fn training_state_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}.training.safetensors"))
}

/// The lock a run holds while it may save to `path`: it covers the model file and its
/// training state, and removes what killed writers of either left behind.
///
/// # Errors
/// [`Error::Checkpoint`] when `path` is a device or FIFO (a checkpoint is two files, the
/// training state beside the model, and nothing is made beside a device); otherwise as
/// [`WriteLock::acquire`](crate::fs::WriteLock::acquire).
pub fn lock_for_saving(path: &Path) -> Result<WriteLock> {
    if let Destination::Through(_) = Destination::of(path) {
        return Err(Error::Checkpoint {
            path: path.display().to_string(),
            detail: "is not a regular file: a checkpoint is a model file with its training \
                     state beside it; save to a file path"
                .into(),
        });
    }
    WriteLock::acquire_covering(path, &[&training_state_path(path)])
}
