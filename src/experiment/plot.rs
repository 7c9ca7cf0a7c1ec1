//! Learning curves as an SVG chart.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::train::History;

use super::sweep::{fold_spread, mean_curves, SweepOutcome};

/// Each epoch's (epoch, low, high).
type Band = Vec<(usize, f64, f64)>;

/// One panel: its caption, its curves, and a band around the validation curve (epoch, low,
/// high) where there is one.
struct Panel<'a> {
    label: String,
    history: &'a History,
    band: Band,
}

/// Draws the training and validation loss of each `(label, history)` against the epoch, as
/// small multiples: one panel per run (three to a row), each with its training (thin) and
/// validation (thick) curve, all on the same axes so the panels compare at a glance.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn plot_curves(path: &Path, title: &str, runs: &[(String, &History)]) -> Result<()> {
    let panels: Vec<Panel> = runs
        .iter()
        .map(|(label, history)| Panel {
            label: label.clone(),
            history,
            band: Vec::new(),
        })
        .collect();
    write_panels(path, title, &panels)
}

/// Draws a sweep's learning curves as small multiples: one panel per candidate, best first,
/// with its folds' mean training (thin) and validation (thick) loss and the validation loss's
/// spread over the folds (a band of ± one standard deviation) — in the standardised units
/// the models trained in.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn plot_sweep(path: &Path, title: &str, outcome: &SweepOutcome) -> Result<()> {
    let mut order: Vec<usize> = (0..outcome.candidates.len()).collect();
    order.sort_by_key(|&c| outcome.candidates[c].rank);
    let curves: Vec<(usize, History, Band)> = order
        .iter()
        .map(|&c| {
            let folds: Vec<_> = outcome.models.iter().filter(|m| m.candidate == c).collect();
            let histories: Vec<&History> = folds.iter().map(|m| &m.history).collect();
            (c, mean_curves(&histories), fold_spread(&folds))
        })
        .collect();
    let panels: Vec<Panel> = curves
        .iter()
        .map(|(c, history, band)| Panel {
            label: format!(
                "{}. {}",
                outcome.candidates[*c].rank,
                outcome.candidates[*c].candidate.describe()
            ),
            history,
            band: band.clone(),
        })
        .collect();
    write_panels(path, title, &panels)
}

fn write_panels(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    // Drawn into memory, then written as every output is (crate::fs::write_atomic).
    let mut svg = String::new();
    draw_curves(&mut svg, path, title, panels)?;
    crate::fs::write_atomic(path, svg.as_bytes())
}

fn draw_curves(svg: &mut String, path: &Path, title: &str, runs: &[Panel]) -> Result<()> {
    let io = |e: String| Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e),
    };
    let epochs = runs
        .iter()
        .map(|p| p.history.epochs.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let losses = runs.iter().flat_map(|p| {
        let curves = p.history.epochs.iter();
        let band = p.band.iter().flat_map(|&(_, low, high)| [low, high]);
        curves
            .flat_map(|r| std::iter::once(r.train_loss).chain(r.validation_loss))
            .chain(band)
    });
    let (lo, hi) = losses
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let lo = if lo.is_finite() { lo * 0.95 } else { 0.0 };
    let hi = if hi > lo { hi * 1.05 } else { lo + 1.0 };

    let columns = runs.len().clamp(1, 3);
    let rows = runs.len().div_ceil(columns).max(1);
    let size = (320 * columns as u32 + 40, 260 * rows as u32 + 50);
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| io(e.to_string()))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| io(e.to_string()))?;
    let train_color = RGBColor(90, 120, 200);
    let validation_color = RGBColor(220, 90, 40);
    let panels = root.split_evenly((rows, columns));
    for (i, (run, panel)) in runs.iter().zip(&panels).enumerate() {
        let history = run.history;
        let mut chart = ChartBuilder::on(panel)
            .caption(&run.label, ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(1usize..epochs, lo..hi)
            .map_err(|e| io(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss")
            .draw()
            .map_err(|e| io(e.to_string()))?;
        if !run.band.is_empty() {
            let upper = run.band.iter().map(|&(e, _, high)| (e, high));
            let lower = run.band.iter().rev().map(|&(e, low, _)| (e, low));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    upper.chain(lower).collect::<Vec<_>>(),
                    validation_color.mix(0.2).filled(),
                )))
                .map_err(|e| io(e.to_string()))?
                .label("validation ± std over folds")
                .legend(move |(x, y)| {
                    Rectangle::new(
                        [(x, y - 4), (x + 16, y + 4)],
                        validation_color.mix(0.2).filled(),
                    )
                });
        }
        let train = history.epochs.iter().map(|r| (r.epoch, r.train_loss));
        chart
            .draw_series(LineSeries::new(train, train_color.stroke_width(1)))
            .map_err(|e| io(e.to_string()))?
            .label("train")
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 16, y)], train_color.stroke_width(1))
            });
        let validation: Vec<(usize, f64)> = history
            .epochs
            .iter()
            .filter_map(|r| r.validation_loss.map(|v| (r.epoch, v)))
            .collect();
        if !validation.is_empty() {
            chart
                .draw_series(LineSeries::new(
                    validation,
                    validation_color.stroke_width(3),
                ))
                .map_err(|e| io(e.to_string()))?
                .label("validation")
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], validation_color.stroke_width(3))
                });
        }
        // One legend says it for every panel.
        if i == 0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| io(e.to_string()))?;
        }
    }
    root.present().map_err(|e| io(e.to_string()))
}
