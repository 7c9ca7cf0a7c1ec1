//! Timing launches on the GPU: timestamp queries where the adapter has them, wall clock around
//! a submission and a wait otherwise.

use std::time::Instant;

use super::{Gpu, Launch};
use crate::error::{Error, Result};

/// How a [`Timing`] was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimingSource {
    /// GPU timestamps written at the start and end of the compute pass.
    GpuTimestamps,
    /// Host wall clock around a submission and a wait (includes the submission's overhead).
    WallClock,
}

impl std::fmt::Display for TimingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimingSource::GpuTimestamps => "GPU timestamps",
            TimingSource::WallClock => "wall clock",
        })
    }
}

/// The median time of several runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Median seconds per run.
    pub seconds: f64,
    /// How it was measured.
    pub source: TimingSource,
}

impl Gpu {
    /// Whether this device can time passes with GPU timestamps.
    pub fn has_timestamps(&self) -> bool {
        self.device()
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Runs `launches` (recorded into one compute pass) `runs` times after one warm-up run and
    /// returns the median time per run: GPU timestamps when the device has them, else the
    /// wall clock around each submission and its wait.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for zero runs; device errors.
    pub fn time_launches(&self, launches: &[&Launch], runs: usize) -> Result<Timing> {
        if runs == 0 {
            return Err(Error::InvalidArgument {
                op: "time_launches",
                detail: "runs must be at least 1".into(),
            });
        }
        let record = |timed: Option<&wgpu::QuerySet>| {
            let mut batch = self.batch();
            if let Some(q) = timed {
                batch.time_next_pass(q.clone());
            }
            for launch in launches {
                batch.record(launch);
            }
            batch
        };
        self.submit(record(None))?;
        self.wait()?;
        let mut samples = Vec::with_capacity(runs);
        if self.has_timestamps() {
            let query_set = self.scoped("timestamps", || {
                self.device().create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("timing"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                })
            })?;
            let resolved = self.scoped("timestamps", || {
                self.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps"),
                    size: 16,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                })
            })?;
            let period_ns = f64::from(self.queue().get_timestamp_period());
            for _ in 0..runs {
                let mut batch = record(Some(&query_set));
                batch.resolve_timestamps(&query_set, &resolved);
                self.submit(batch)?;
                let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&super::block_on(
                    "Gpu::time_launches",
                    self.read_bytes_async(&resolved, 0, 16),
                )?);
                samples.push(ticks[1].saturating_sub(ticks[0]) as f64 * period_ns * 1e-9);
            }
        } else {
            for _ in 0..runs {
                let start = Instant::now();
                self.submit(record(None))?;
                self.wait()?;
                samples.push(start.elapsed().as_secs_f64());
            }
        }
        samples.sort_by(f64::total_cmp);
        let source = if self.has_timestamps() {
            TimingSource::GpuTimestamps
        } else {
            TimingSource::WallClock
        };
        Ok(Timing {
            seconds: samples[samples.len() / 2],
            source,
        })
    }
}
