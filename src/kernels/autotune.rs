//! The matmul autotuner: at the first use of a shape class, time every kernel variant on the
//! actual adapter and keep the fastest, in memory and in a small file keyed by adapter and
//! driver, so later runs start from the same choice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use super::matmul::{
    operands_align_to_4, subgroup_applies, vec4_applies, MatmulLayout, MatmulVariant,
};
use crate::error::Result;

/// Chosen variants by shape class, with the file they persist to.
pub(crate) struct Autotuner {
    path: Option<PathBuf>,
    choices: Mutex<HashMap<String, MatmulVariant>>,
}

/// Shape classes: each dimension rounded up to a power of two, and which variants apply
/// (whether the BlockedVec4 and Subgroup kernels do, and whether both operands align to 4).
fn class_key(layout: MatmulLayout, m: usize, n: usize, k: usize) -> String {
    let class = |x: usize| x.next_power_of_two().trailing_zeros();
    format!(
        "{layout:?}/{}/{}/{}/{}/{}/{}",
        class(m),
        class(n),
        class(k),
        vec4_applies(layout, n, k),
        operands_align_to_4(layout, (m, n, k)),
        subgroup_applies(layout, (m, n, k))
    )
}

/// A variant by the name `WGSL_TRAIN_MATMUL` and the cache file use.
pub(crate) fn parse_variant(name: &str) -> Option<MatmulVariant> {
    MatmulVariant::ALL
        .into_iter()
        .find(|v| v.name() == name.trim())
}

impl Autotuner {
    /// The tuner for this adapter, with the choices an earlier run saved.
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
                        Some((key.to_string(), parse_variant(name)?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            path,
            choices: Mutex::new(choices),
        }
    }

    /// The variant for this shape: the cached one, or the fastest of `candidates` by
    /// `time_of` (seconds), which is then cached and saved.
    pub fn choose(
        &self,
        layout: MatmulLayout,
        (m, n, k): (usize, usize, usize),
        candidates: &[MatmulVariant],
        mut time_of: impl FnMut(MatmulVariant) -> Result<f64>,
    ) -> Result<MatmulVariant> {
        let key = class_key(layout, m, n, k);
        if let Some(&v) = self
            .choices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(v);
        }
        let mut best = (f64::INFINITY, candidates[0]);
        for &v in candidates {
            let t = time_of(v)?;
            if t < best.0 {
                best = (t, v);
            }
        }
        let mut choices = self.choices.lock().unwrap_or_else(|e| e.into_inner());
        choices.insert(key, best.1);
        if let Some(path) = &self.path {
            let mut lines: Vec<String> = choices
                .iter()
                .map(|(k, v)| format!("{k} {}", v.name()))
                .collect();
            lines.sort();
            // A cache: failing to write it only means tuning again next time.
            let _ = path.parent().map(std::fs::create_dir_all);
            let _ = crate::checkpoint::write_atomic(path, (lines.join("\n") + "\n").as_bytes());
        }
        Ok(best.1)
    }
}
