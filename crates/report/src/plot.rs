//! The warp plot.
//!
//! plotters draws the axes, the warp, the identity line and the speed with
//! its shaded freezes and cuts. The word anchors and unmatched words are then
//! added as SVG circles at the coordinates plotters maps them to, each with a
//! `<title>` (the word, shown on hover): plotters has no per-point titles.

use crate::escape;
use plotters::coord::Shift;
use plotters::prelude::*;
use vantage_core::{Alignment, FreezePlan, Severity, WordMatch};

/// Plot size in pixels.
pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 660;
/// Height of the warp panel; the speed panel takes the rest.
const WARP_HEIGHT: u32 = 440;

#[derive(Debug, thiserror::Error)]
#[error("drawing the warp plot: {0}")]
pub struct PlotError(String);

fn fail<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError(format!("{e:?}"))
}

/// A freeze's colour (as in the diagnostic video).
fn severity_colour(severity: Severity) -> RGBColor {
    let (r, g, b) = severity.rgb();
    RGBColor(r, g, b)
}

/// The plot as SVG. `cuts` are output times (seconds) of scene cuts.
pub fn warp_svg(a: &Alignment, freezes: &FreezePlan, cuts: &[f64]) -> Result<String, PlotError> {
    let mut svg = String::new();
    let mut marks = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        let (upper, lower) = root.split_vertically(WARP_HEIGHT);
        marks += &warp_panel(&upper, a)?;
        speed_panel(&lower, a, freezes, cuts)?;
        root.present().map_err(fail)?;
    }
    // The hoverable marks go last, above everything plotters drew.
    let end = svg
        .rfind("</svg>")
        .ok_or_else(|| PlotError("no </svg>".into()))?;
    svg.insert_str(end, &marks);
    Ok(svg)
}

/// Target time against source time; returns the SVG of the word marks.
fn warp_panel(area: &DrawingArea<SVGBackend, Shift>, a: &Alignment) -> Result<String, PlotError> {
    let (smax, tmax) = (a.source_duration.max(0.1), a.target_duration.max(0.1));
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Warp: where each moment of the new audio takes the picture from",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..smax, 0f64..tmax)
        .map_err(fail)?;
    chart
        .configure_mesh()
        .x_desc("source time (s)")
        .y_desc("target time (s)")
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(fail)?;
    let m = smax.min(tmax);
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (m, m)],
            RGBColor(160, 160, 160).stroke_width(1),
        ))
        .map_err(fail)?
        .label("identity (no re-timing)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RGBColor(160, 160, 160)));
    let knots = a.warp.knots().iter().map(|k| (k.source, k.target));
    chart
        .draw_series(LineSeries::new(
            knots,
            RGBColor(31, 119, 180).stroke_width(2),
        ))
        .map_err(fail)?
        .label("warp")
        .legend(|(x, y)| {
            PathElement::new(
                [(x, y), (x + 16, y)],
                RGBColor(31, 119, 180).stroke_width(2),
            )
        });
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(fail)?;

    Ok(a.confidence
        .words
        .as_ref()
        .map_or_else(String::new, |words| {
            word_marks(words, |x, y| chart.backend_coord(&(x, y)))
        }))
}

/// Every matched pair as a point and every unmatched word on its side's
/// axis, each with a hover title; `at` maps (source s, target s) to pixels.
fn word_marks(words: &WordMatch, at: impl Fn(f64, f64) -> (i32, i32)) -> String {
    let mut out = String::from("<g id=\"anchors\">");
    for p in &words.pairs {
        let (x, y) = at(p.source, p.target);
        let fill = if p.anchor { "#d62728" } else { "#ff9896" };
        out += &format!(
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"4\" fill=\"{fill}\"><title>{} → {} ({:.2} s → {:.2} s){}</title></circle>",
            escape(&p.source_word),
            escape(&p.target_word),
            p.source,
            p.target,
            if p.anchor { "" } else { ", similar: not an anchor" }
        );
    }
    out += "</g><g id=\"unmatched\">";
    let lone = |time: f64, word: &str, source: bool| {
        let (x, y) = if source { at(time, 0.0) } else { at(0.0, time) };
        let side = if source { "source" } else { "target" };
        format!(
            "<circle class=\"{side}\" cx=\"{x}\" cy=\"{y}\" r=\"5\" fill=\"none\" stroke=\"#9467bd\" stroke-width=\"2\"><title>only in the {side}: {} ({time:.2} s)</title></circle>",
            escape(word)
        )
    };
    for (w, t) in words
        .unmatched_source
        .iter()
        .zip(&words.unmatched_source_at)
    {
        out += &lone(*t, w, true);
    }
    for (w, t) in words
        .unmatched_target
        .iter()
        .zip(&words.unmatched_target_at)
    {
        out += &lone(*t, w, false);
    }
    out += "</g>";
    out
}

/// The picture's speed against output time: 1 is unchanged, below 1 slowed
/// down (where frames would repeat), above 1 sped up.
fn speed_panel(
    area: &DrawingArea<SVGBackend, Shift>,
    a: &Alignment,
    freezes: &FreezePlan,
    cuts: &[f64],
) -> Result<(), PlotError> {
    let tmax = a.target_duration.max(0.1);
    let samples = 600;
    let dt = tmax / samples as f64;
    let speed: Vec<(f64, f64)> = (0..=samples)
        .map(|i| {
            let t = i as f64 * dt;
            let (t0, t1) = ((t - dt).max(0.0), (t + dt).min(tmax));
            let v = (a.warp.source_at(t1) - a.warp.source_at(t0)) / (t1 - t0).max(1e-9);
            (t, v)
        })
        .collect();
    let ymax = speed.iter().map(|p| p.1).fold(2.0f64, f64::max).min(4.0);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Picture speed (1 = unchanged; shaded: freezes by severity, blue: cuts)",
            ("sans-serif", 15),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..tmax, 0f64..ymax)
        .map_err(fail)?;
    chart
        .configure_mesh()
        .x_desc("output time (s)")
        .y_desc("speed")
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(fail)?;
    chart
        .draw_series(freezes.segments.iter().map(|s| {
            let colour = severity_colour(s.severity).mix(0.35).filled();
            Rectangle::new([(s.start_s, 0.0), (s.start_s + s.duration_s, ymax)], colour)
        }))
        .map_err(fail)?;
    for &c in cuts {
        chart
            .draw_series(LineSeries::new(
                [(c, 0.0), (c, ymax)],
                RGBColor(40, 90, 255).stroke_width(2),
            ))
            .map_err(fail)?;
    }
    chart
        .draw_series(LineSeries::new(
            [(0.0, 1.0), (tmax, 1.0)],
            RGBColor(160, 160, 160),
        ))
        .map_err(fail)?;
    chart
        .draw_series(LineSeries::new(
            speed,
            RGBColor(44, 160, 44).stroke_width(2),
        ))
        .map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vantage_core::{
        Confidence, FreezeSegment, Knot, Rational, VideoInfo, Warp, WordMatch, WordPair,
    };

    pub(crate) fn alignment() -> Alignment {
        let knots = [(0.0, 0.0), (1.0, 1.5), (2.0, 2.2), (3.0, 4.0)]
            .map(|(source, target)| Knot { source, target });
        let pair = |w: &str, source, target, anchor| WordPair {
            source_word: w.into(),
            target_word: w.into(),
            source,
            target,
            anchor,
        };
        Alignment {
            warp: Warp::new(knots.to_vec()).unwrap(),
            source_duration: 3.0,
            target_duration: 4.0,
            video: VideoInfo {
                width: 16,
                height: 16,
                fps: Rational { num: 25, den: 1 },
                frame_times: (0..75).map(|k| k as f64 / 25.0).collect(),
                duration: 3.0,
                vfr: false,
            },
            confidence: Confidence {
                score: 0.9,
                path_cost: 1.0,
                chance_cost: 2.0,
                plausible_rate_share: 1.0,
                source_speech_s: 2.5,
                target_speech_s: 3.2,
                words: Some(WordMatch {
                    source_words: 4,
                    target_words: 4,
                    matched: 3,
                    match_ratio: 0.75,
                    unmatched_source: vec!["quick".into()],
                    unmatched_target: vec!["<fast>".into()],
                    pairs: vec![
                        pair("the", 0.2, 0.3, true),
                        pair("brown", 1.0, 1.5, true),
                        pair("fox", 2.5, 3.1, false),
                    ],
                    unmatched_source_at: vec![0.6],
                    unmatched_target_at: vec![0.9],
                }),
                warnings: vec![],
            },
            anchors_used: 2,
        }
    }

    pub(crate) fn freezes() -> FreezePlan {
        FreezePlan {
            fps: Rational { num: 25, den: 1 },
            output_frames: 100,
            repeated_frames: 3,
            dropped_frames: 0,
            segments: vec![FreezeSegment {
                start_frame: 10,
                frames: 4,
                source_frame: 7,
                start_s: 0.4,
                duration_s: 0.16,
                severity: Severity::Moderate,
            }],
        }
    }

    /// The `<circle` elements inside `<g id="{id}">`.
    fn circles(svg: &str, id: &str) -> usize {
        let start = svg.find(&format!("<g id=\"{id}\">")).expect("group");
        let end = start + svg[start..].find("</g>").expect("end of group");
        svg[start..end].matches("<circle").count()
    }

    #[test]
    fn the_plot_has_the_warp_and_one_point_per_word_pair() {
        let svg = warp_svg(&alignment(), &freezes(), &[2.5]).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(circles(&svg, "anchors"), 3);
        assert_eq!(circles(&svg, "unmatched"), 2);
        assert!(svg.contains("<title>brown → brown (1.00 s → 1.50 s)</title>"));
        assert!(svg.contains("&lt;fast&gt;"), "words are escaped");
        // The warp: one polyline in its colour, through every knot.
        let warp = svg
            .split("<polyline")
            .find(|p| p.contains("#1F77B4"))
            .expect("warp line");
        let points = warp
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split_whitespace().count(), 4);
        assert!(svg.contains("source time (s)") && svg.contains("output time (s)"));
    }
}
