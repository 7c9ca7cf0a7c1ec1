//! Where a checkpoint's files go, and the lock a run holds while it may write them.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::fs::WriteLock;

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
/// As [`WriteLock::acquire`](crate::fs::WriteLock::acquire).
pub fn lock_for_saving(path: &Path) -> Result<WriteLock> {
    WriteLock::acquire_covering(path, &[&training_state_path(path)])
}
