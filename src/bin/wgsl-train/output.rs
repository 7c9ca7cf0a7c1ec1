//! Standard output that never panics. `println!` panics when stdout cannot be written (a full
//! disk, `> /dev/full`); here the first failure is remembered and later output skipped, so the
//! work after it — saving a model — still happens, and `main` reports the failure at the end.
//! (A closed pipe ends the program by SIGPIPE before any of this, as it ends `cat`.)

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);
/// Set by `--json`: the text output is left out, and the JSON document alone is printed.
static TEXT_OFF: AtomicBool = AtomicBool::new(false);

/// Leaves the text output out (for `--json`).
pub fn text_off() {
    TEXT_OFF.store(true, Ordering::Relaxed);
}

/// Prints `document` as pretty JSON (with `--json`).
pub fn json(document: &serde_json::Value) {
    let text = serde_json::to_string_pretty(document).unwrap_or_default();
    emit(format_args!("{text}\n"));
}

/// Writes `args` to standard output unless the text output is off or an earlier write failed.
pub fn write(args: std::fmt::Arguments) {
    if !TEXT_OFF.load(Ordering::Relaxed) {
        emit(args);
    }
}

fn emit(args: std::fmt::Arguments) {
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_none() {
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
            *failed = Some(e);
        }
    }
}

/// The first write that failed, if any.
pub fn failure() -> Option<std::io::Error> {
    FAILED.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// `println!` that never panics (see the module docs).
macro_rules! say {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that never panics.
macro_rules! say_part {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*))
    };
}
