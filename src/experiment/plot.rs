//! Learning curves as an SVG chart.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::train::History;

/// Draws the training and validation loss of each `(label, history)` against the epoch.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn plot_curves(path: &Path, title: &str, runs: &[(String, &History)]) -> Result<()> {
    let io = |e: String| Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e),
    };
    let epochs = runs
        .iter()
        .map(|(_, h)| h.epochs.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let losses = runs.iter().flat_map(|(_, h)| {
        h.epochs
            .iter()
            .flat_map(|r| std::iter::once(r.train_loss).chain(r.validation_loss))
    });
    let (lo, hi) = losses
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let lo = if lo.is_finite() { lo * 0.95 } else { 0.0 };
    let hi = if hi > lo { hi * 1.05 } else { lo + 1.0 };

    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| io(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1usize..epochs, lo..hi)
        .map_err(|e| io(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss (training units)")
        .draw()
        .map_err(|e| io(e.to_string()))?;
    for (i, (label, history)) in runs.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let train = history.epochs.iter().map(|r| (r.epoch, r.train_loss));
        chart
            .draw_series(LineSeries::new(train, color.stroke_width(1)))
            .map_err(|e| io(e.to_string()))?
            .label(format!("{label} train"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(1)));
        let validation: Vec<(usize, f64)> = history
            .epochs
            .iter()
            .filter_map(|r| r.validation_loss.map(|v| (r.epoch, v)))
            .collect();
        if !validation.is_empty() {
            chart
                .draw_series(LineSeries::new(validation, color.stroke_width(3)))
                .map_err(|e| io(e.to_string()))?
                .label(format!("{label} validation"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], color.stroke_width(3))
                });
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| io(e.to_string()))?;
    root.present().map_err(|e| io(e.to_string()))
}
