//! The crate's error type.

/// Everything that can go wrong in `wgsl-train`.
///
/// Every message says what went wrong and where, so that it can be shown to a user as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No GPU adapter could be found.
    #[error(
        "no GPU adapter found ({detail}). Install a GPU driver with Vulkan, Metal or DX12 support; \
         on Debian or Ubuntu without a GPU, `apt-get install mesa-vulkan-drivers` gives the \
         lavapipe software adapter"
    )]
    NoAdapter {
        /// What wgpu said.
        detail: String,
    },

    /// In a browser: it offers no WebGPU adapter (no WebGPU at all, or none enabled).
    #[error(
        "this browser offers no WebGPU adapter ({detail}). Use one with WebGPU on (Chrome or \
         Edge 113+, Safari 26+, Firefox 141+ on Windows); Chromium on Linux needs \
         --enable-unsafe-webgpu --enable-features=Vulkan"
    )]
    NoWebGpu {
        /// What the browser said.
        detail: String,
    },

    /// `WGPU_ADAPTER_NAME` is set but names no adapter that was found.
    #[error("WGPU_ADAPTER_NAME={wanted:?} matches none of the adapters found: {available}")]
    AdapterNotFound {
        /// The name asked for.
        wanted: String,
        /// The names of the adapters that were found, comma-separated.
        available: String,
    },

    /// The adapter refused to open a device.
    #[error("could not open a device on adapter {adapter:?}: {detail}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// What wgpu said.
        detail: String,
    },

    /// Two shapes that must agree do not.
    #[error("{op}: shape mismatch, {detail} (got {lhs:?} and {rhs:?})")]
    ShapeMismatch {
        /// The operation that was asked for.
        op: &'static str,
        /// What the shapes must satisfy.
        detail: String,
        /// The first shape involved.
        lhs: Vec<usize>,
        /// The second shape involved.
        rhs: Vec<usize>,
    },

    /// A tensor has the wrong element type.
    #[error("{op}: expected a {expected} tensor for {what}, got {got}")]
    DType {
        /// The operation that was asked for.
        op: &'static str,
        /// Which argument.
        what: &'static str,
        /// The element type expected.
        expected: crate::dtype::DType,
        /// The element type given.
        got: crate::dtype::DType,
    },

    /// An argument is out of its valid range.
    #[error("{op}: {detail}")]
    InvalidArgument {
        /// The operation that was asked for.
        op: &'static str,
        /// What is wrong with the argument.
        detail: String,
    },

    /// An optimizer hyperparameter is out of its valid range.
    #[error("{optimizer}: invalid {name} {value}: {expected}")]
    InvalidHyperparameter {
        /// The optimizer, e.g. `Adam`.
        optimizer: &'static str,
        /// The hyperparameter, e.g. `lr`.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What it must satisfy.
        expected: &'static str,
    },

    /// The data does not fit the model: its feature count, task or class count differs from
    /// the model's inputs, task or outputs (one check, `Mlp::check_fits`, on every path).
    #[error("the data does not fit the model: {0}")]
    ModelMismatch(String),

    /// A dataset is unusable: empty, non-finite values, labels that do not fit the task.
    #[error("data: {0}")]
    Data(String),

    /// A CSV file could not be read as a dataset.
    #[error("{path}: {}{detail}", on_line(*.line))]
    Csv {
        /// The file.
        path: String,
        /// The 1-based line (0 when the problem is not on one line).
        line: u64,
        /// What is wrong.
        detail: String,
    },

    /// A Parquet file that cannot be read as a dataset.
    #[error("{path}: {detail}")]
    Parquet {
        /// The file.
        path: String,
        /// What is wrong, naming the row or column where one is at fault.
        detail: String,
    },

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A blocking call in a browser, where nothing may block: the async variant is the one to
    /// call there.
    #[error("{op} blocks until the GPU is done, which a browser cannot do; call {op}_async")]
    WouldBlock {
        /// The blocking function.
        op: &'static str,
    },

    /// Another process is writing the same file (it holds its [`crate::fs::WriteLock`]).
    #[error(
        "{path}: another run is saving to this file; wait for it to end or choose another path"
    )]
    Locked {
        /// The file.
        path: String,
    },

    /// A checkpoint does not fit the model or is not a valid safetensors file.
    #[error("checkpoint {path}: {detail}")]
    Checkpoint {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },

    /// Training produced a NaN or infinite loss or gradient.
    #[error(
        "training diverged: non-finite {what} at epoch {epoch}, step {step}; the parameters and \
         optimizer state are back at the end of epoch {restored_epoch} (try a lower learning rate)"
    )]
    NonFinite {
        /// `loss`, or `parameter after the update` (from a non-finite gradient or step).
        what: &'static str,
        /// The 1-based epoch where it happened.
        epoch: usize,
        /// The 1-based step within that epoch.
        step: usize,
        /// The last epoch whose parameters were kept (0: the initial ones).
        restored_epoch: usize,
    },

    /// Training diverged without a NaN: an epoch's training loss grew past
    /// 10⁴ times the lowest loss seen before it (the loss at the start of training included).
    #[error(
        "training diverged: the training loss of epoch {epoch} ({loss:.4e}) is over 10⁴ times the \
         lowest before it ({lowest:.4e}); the parameters and optimizer state are back at the end of \
         epoch {restored_epoch} (try a lower learning rate)"
    )]
    Diverged {
        /// The 1-based epoch whose loss grew.
        epoch: usize,
        /// Its mean training loss.
        loss: f64,
        /// The lowest loss before it.
        lowest: f64,
        /// The last epoch whose parameters were kept (0: the initial ones).
        restored_epoch: usize,
    },

    /// A buffer would exceed a device limit.
    #[error(
        "{what} needs {size} bytes, more than this device allows ({limit} bytes, {limit_name})"
    )]
    TooLarge {
        /// What was being allocated or bound.
        what: String,
        /// The size asked for, in bytes.
        size: u64,
        /// The device's limit, in bytes.
        limit: u64,
        /// The name of the wgpu limit.
        limit_name: &'static str,
    },

    /// wgpu reported a validation error: a bug in this crate or a misuse it did not catch.
    #[error("GPU validation error in {op}: {message}")]
    Validation {
        /// The operation that was running.
        op: &'static str,
        /// wgpu's description.
        message: String,
    },

    /// The device ran out of memory.
    #[error("the GPU ran out of memory in {op}")]
    OutOfMemory {
        /// The operation that was running.
        op: &'static str,
    },

    /// Waiting for the device or reading a buffer back failed.
    #[error("reading back from the GPU failed: {0}")]
    Readback(String),

    /// The device was lost (driver reset, device removed, or destroyed).
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// `line N: ` for a message about line N; nothing for one about the whole file (line 0).
fn on_line(line: u64) -> String {
    match line {
        0 => String::new(),
        line => format!("line {line}: "),
    }
}
