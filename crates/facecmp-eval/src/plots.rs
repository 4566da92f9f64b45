//! PNG plots with plotters: training/validation loss, validation accuracy,
//! ROC, and genuine-vs-impostor similarity histograms. Text is drawn with the
//! embedded Roboto (Apache-2.0, see assets/SOURCES.md), so no system font is
//! needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{DrawError, EvalError};
use crate::metrics::{RocPoint, ScoredPair, roc};

/// The embedded Roboto: the plots' text, and anything else that draws captions.
pub const FONT: &[u8] = include_bytes!("../assets/Roboto-Regular.ttf");
const SIZE: (u32, u32) = (800, 500);
/// FAR axis floor of the log-scale ROC: FAR 0 is drawn there.
const FAR_FLOOR: f64 = 1e-5;

pub const LOSS_PNG: &str = "loss.png";
pub const ACCURACY_PNG: &str = "accuracy.png";
pub const ROC_PNG: &str = "roc.png";
pub const HISTOGRAM_PNG: &str = "histogram.png";

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is compiled in and known good; a failure would only lose labels.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

type PlotResult = Result<(), EvalError>;

/// (epoch, value) points of one series.
pub type Series = [(f64, f64)];

/// A named series and its colour.
type Line<'a> = (&'a str, &'a Series, RGBColor);

fn failed(path: &Path) -> impl Fn(DrawError) -> EvalError + '_ {
    move |source| EvalError::Plot { path: path.to_path_buf(), source }
}

/// ROC and histogram of a set of scored pairs.
pub fn evaluation_plots(dir: &Path, scores: &[ScoredPair], label: &str) -> PlotResult {
    if scores.is_empty() {
        return Ok(());
    }
    roc_plot(&dir.join(ROC_PNG), &roc(scores), label)?;
    histogram_plot(&dir.join(HISTOGRAM_PNG), scores, label)
}

/// Training and validation loss per epoch.
pub fn loss_plot(path: &Path, training: &Series, validation: &Series) -> PlotResult {
    let top = training.iter().chain(validation).map(|p| p.1).fold(0.0f64, f64::max).max(1e-3) * 1.1;
    line_plot(
        path,
        "Contrastive loss per epoch",
        "loss",
        0.0..top,
        &[("training", training, RED), ("validation", validation, BLUE)],
    )
}

/// Validation accuracy and ROC AUC per epoch.
pub fn accuracy_plot(path: &Path, accuracy: &Series, auc: &Series) -> PlotResult {
    line_plot(
        path,
        "Validation (people never trained on)",
        "accuracy / AUC",
        0.4..1.0,
        &[("best pair accuracy", accuracy, BLUE), ("ROC AUC", auc, GREEN)],
    )
}

fn line_plot(
    path: &Path,
    title: &str,
    y_label: &str,
    y_range: std::ops::Range<f64>,
    lines: &[Line<'_>],
) -> PlotResult {
    register_font();
    let last_epoch = lines.iter().flat_map(|l| l.1.iter().map(|p| p.0)).fold(1.0f64, f64::max);
    let draw = || -> Result<(), DrawError> {
        let root = BitMapBackend::new(path, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(1.0..last_epoch.max(2.0), y_range)?;
        chart.configure_mesh().x_desc("epoch").y_desc(y_label).draw()?;
        for &(name, points, colour) in lines {
            chart
                .draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(failed(path))
}

fn roc_plot(path: &Path, curve: &[RocPoint], label: &str) -> PlotResult {
    register_font();
    let draw = || -> Result<(), DrawError> {
        let root = BitMapBackend::new(path, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("ROC ({label})"), ("sans-serif", 24))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((FAR_FLOOR..1.0).log_scale(), 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("false accept rate (log)")
            .y_desc("true accept rate")
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .draw()?;
        let points = curve.iter().map(|p| (p.far.max(FAR_FLOOR), p.tar));
        chart.draw_series(LineSeries::new(points, BLUE.stroke_width(2)))?;
        root.present()?;
        Ok(())
    };
    draw().map_err(failed(path))
}

/// Normalised histograms (each kind sums to 1) of cosine similarity.
fn histogram_plot(path: &Path, scores: &[ScoredPair], label: &str) -> PlotResult {
    const BINS: usize = 50;
    register_font();
    let bin_of = |s: f32| (((s + 1.0) / 2.0 * BINS as f32) as usize).min(BINS - 1);
    let shares = |genuine: bool| {
        let mut counts = [0usize; BINS];
        let kind: Vec<f32> = scores.iter().filter(|p| p.genuine == genuine).map(|p| p.score).collect();
        kind.iter().for_each(|&s| counts[bin_of(s)] += 1);
        counts.map(|c| c as f64 / kind.len().max(1) as f64)
    };
    let (genuine, impostor) = (shares(true), shares(false));
    let top = genuine.iter().chain(&impostor).fold(0.0f64, |a, &b| a.max(b)).max(0.01) * 1.1;
    let draw = || -> Result<(), DrawError> {
        let root = BitMapBackend::new(path, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Cosine similarity ({label})"), ("sans-serif", 24))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-1.0..1.0, 0.0..top)?;
        chart.configure_mesh().x_desc("cosine similarity").y_desc("share of pairs").draw()?;
        let width = 2.0 / BINS as f64;
        for (name, shares, colour) in [("genuine", genuine, GREEN), ("impostor", impostor, RED)] {
            let bars = shares.into_iter().enumerate().map(move |(i, share)| {
                let x = -1.0 + i as f64 * width;
                Rectangle::new([(x, 0.0), (x + width, share)], colour.mix(0.45).filled())
            });
            chart.draw_series(bars)?.label(name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 15, y + 5)], colour.mix(0.45).filled())
            });
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(failed(path))
}
