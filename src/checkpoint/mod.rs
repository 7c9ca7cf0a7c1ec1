//! Checkpoints as safetensors files that PyTorch can read.
//!
//! `save` writes two files: the model, `path`, whose tensors are named and shaped as the
//! `state_dict` of a PyTorch `nn.Sequential` of the same layers (`0.weight` `[out, in]`,
//! `0.bias`, `2.weight`, …), so `model.load_state_dict(safetensors.torch.load_file(path))`
//! works, and a file of ours can be loaded from theirs; and beside it the training state,
//! `<stem>.training.safetensors`: the optimizer's state per parameter (`0.weight.exp_avg`, …),
//! the best weights so far (`best.0.weight`, …), the step count, the learning curves, the
//! settings of the run, and a copy of the weights (`model.0.weight`, …), so training resumes
//! exactly. Every write goes to a temporary file that is synced and then renamed over the old
//! one: a failed or interrupted save never damages the previous file.
//!
//! Each file carries one JSON metadata entry, `"wgsl-train"`, with its format version
//! ([`FORMAT_VERSION`], checked on every load), the layers, task, preprocessing, split and
//! optimizer (model file) or the step, curves and settings (training state):
//! `docs/checkpoint-format.md` describes every field.
//!
//! The training state is written first and holds everything a resume needs, weights included:
//! its rename is the one commit point. A run killed between the two renames leaves a training
//! state one save ahead of the model file, and resuming takes the weights from the state, so
//! `kill -9` at any instant leaves a resumable pair.

mod format;
mod model;
mod paths;
mod resume;
mod run;
mod tensors;

pub use format::{FORMAT_VERSION, METADATA_KEY};
pub use model::{load_model, load_preprocessing, load_split, save_model};
pub use paths::{lock_for_saving, training_state_path};
pub use resume::{restore_training, save, Restored};
pub use run::{RunInfo, SplitRecord};
pub use tensors::read_tensors;
