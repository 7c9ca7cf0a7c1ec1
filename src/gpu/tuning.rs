//! A per-adapter cache of "the fastest of these named candidates", for kernels that come in
//! variants: at the first use of a shape class the candidates are timed on the actual adapter
//! and the fastest is kept, in memory and in a small file keyed by adapter and driver, so later
//! runs start from the same choice. The kernels decide what the candidates and classes are.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::error::Result;

/// Chosen candidates by key (a kernel family and its shape class), with the file they persist to.
pub(crate) struct TuningCache {
    path: Option<PathBuf>,
    choices: Mutex<HashMap<String, String>>,
}

impl TuningCache {
    /// The cache for this adapter, with the choices an earlier run saved under
    /// `$XDG_CACHE_HOME/wgsl-train/` (or `~/.cache/wgsl-train/`).
    pub fn load(info: &wgpu::AdapterInfo) -> Self {
        let dir = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("wgsl-train"));
        let id: String = format!("{}-{}-{}", info.name, info.driver, info.driver_info)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.map(|d| d.join(format!("autotune-{id}.txt")));
        let choices = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|text| {
                text.lines()
                    .filter_map(|line| {
                        let (key, name) = line.split_once(' ')?;
                        Some((key.to_string(), name.trim().to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            path,
            choices: Mutex::new(choices),
        }
    }

    /// The choice for `key`: the cached one if it is still among `candidates`, else the
    /// fastest of `candidates` by `time_of` (seconds), which is then cached and saved.
    pub fn choose<'a>(
        &self,
        key: &str,
        candidates: &[&'a str],
        mut time_of: impl FnMut(&'a str) -> Result<f64>,
    ) -> Result<&'a str> {
        let cached = self
            .choices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        if let Some(found) = cached.and_then(|c| candidates.iter().find(|&&n| n == c)) {
            return Ok(found);
        }
        let mut best = (f64::INFINITY, candidates[0]);
        for &candidate in candidates {
            let t = time_of(candidate)?;
            if t < best.0 {
                best = (t, candidate);
            }
        }
        let mut choices = self.choices.lock().unwrap_or_else(|e| e.into_inner());
        choices.insert(key.to_string(), best.1.to_string());
        if let Some(path) = &self.path {
            let mut lines: Vec<String> = choices.iter().map(|(k, v)| format!("{k} {v}")).collect();
            lines.sort();
            // A cache: failing to write it only means tuning again next time.
            let _ = path.parent().map(std::fs::create_dir_all);
            let _ = crate::fs::write_atomic(path, (lines.join("\n") + "\n").as_bytes());
        }
        Ok(best.1)
    }
}
