//! The diagnostic of a run of `pipelines/diagnostic.yaml`: beside the
//! diagnostic video the run delivered, the warp plot (SVG, and PNG for places
//! that cannot show SVG) and the HTML report, all in one folder.

use crate::AppError;
use std::path::{Path, PathBuf};
use vantage_core::{Alignment, CancelToken, FreezePlan, RenderLog};
use vantage_report::html::{Report, StageRow};
use vantage_runner::RunOutcome;

/// The files of a diagnostic folder.
pub struct DiagnosticDir(pub PathBuf);

impl DiagnosticDir {
    pub fn video(&self) -> PathBuf {
        self.0.join("diagnostic.mp4")
    }
    pub fn report(&self) -> PathBuf {
        self.0.join("report.html")
    }
    pub fn svg(&self) -> PathBuf {
        self.0.join("warp.svg")
    }
    pub fn png(&self) -> PathBuf {
        self.0.join("warp.png")
    }
}

fn read<T: serde::de::DeserializeOwned>(outcome: &RunOutcome, name: &str) -> Result<T, AppError> {
    crate::summary::read_output(outcome, name)?
        .ok_or_else(|| AppError::Request(format!("the run has no output '{name}' for the report")))
}

/// Output time of each cut: the first output frame past it.
fn cut_times(log: &RenderLog, fps: f64) -> Vec<f64> {
    log.cuts
        .iter()
        .map(|&c| {
            let k = log
                .frames
                .iter()
                .position(|f| f.source > c)
                .unwrap_or(log.frames.len());
            k as f64 / fps
        })
        .collect()
}

/// `to` as a path relative to the folder `from` (both resolved: they exist
/// once the outputs are delivered).
fn relative(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let (from, to) = (abs(from), abs(to));
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = from.components().count() - common;
    let mut rel = PathBuf::new();
    for _ in 0..ups {
        rel.push("..");
    }
    for c in to.components().skip(common) {
        rel.push(c);
    }
    rel.to_string_lossy().into_owned()
}

/// Write the plot and the report for a finished diagnostic run into `dir`
/// (which already holds the delivered `diagnostic.mp4`); `output` is where the
/// re-timed video was delivered, `title` names the inputs. Returns warnings
/// (a PNG that could not be drawn does not cost the report).
pub fn write_report(
    outcome: &RunOutcome,
    dir: &DiagnosticDir,
    output: &Path,
    title: &str,
) -> Result<Vec<String>, AppError> {
    let alignment: Alignment = read(outcome, "alignment")?;
    let freezes: FreezePlan = read(outcome, "freezes")?;
    let log: RenderLog = read(outcome, "frames")?;
    let cuts = cut_times(&log, freezes.fps.as_f64());
    let svg = vantage_report::plot::warp_svg(&alignment, &freezes, &cuts)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    write(&dir.svg(), &svg)?;
    let stages: Vec<StageRow> = crate::Summary::stage_timings(outcome)
        .into_iter()
        .map(|s| StageRow {
            name: s.name,
            status: s.status,
            seconds: s.seconds,
        })
        .collect();
    let report = Report {
        title,
        alignment: &alignment,
        freezes: &freezes,
        log: &log,
        cuts_at: &cuts,
        stages: &stages,
        plot_svg: &svg,
        output_link: &relative(&dir.0, output),
        diagnostic_link: "diagnostic.mp4",
    };
    write(&dir.report(), &vantage_report::html::render(&report))?;
    let png = vantage_media::svg_to_png(&dir.svg(), &dir.png(), &CancelToken::default());
    Ok(png
        .err()
        .map(|e| format!("warp.png: {e}"))
        .into_iter()
        .collect())
}

fn write(path: &Path, text: &str) -> Result<(), AppError> {
    std::fs::write(path, text)
        .map_err(|e| AppError::Internal(format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_the_report() {
        assert_eq!(
            relative(Path::new("/a/b/diag"), Path::new("/a/b/out.mp4")),
            "../out.mp4"
        );
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/b/c/out.mp4")),
            "c/out.mp4"
        );
    }
}
