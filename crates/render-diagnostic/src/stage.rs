//! The `render-diagnostic` stage.

use crate::labels::{self, Layout};
use crate::marks::{marks, Mark};
use crate::render::{self, Diagnostic, Geometry};
use serde_json::json;
use std::ops::Range;
use std::path::{Path, PathBuf};
use vantage_core::segments::{make_piece, make_segments, plan_segments};
use vantage_core::{
    Alignment, FramePlan, FreezePlan, ParamKind, ParamSpec, Params, Port, PortType, Ports,
    RenderLog, Resources, Stage, StageContext, StageError,
};
use vantage_media::EncodeSettings;

pub struct RenderDiagnostic;

const LAYOUTS: &[&str] = &["side-by-side", "stacked"];

impl Stage for RenderDiagnostic {
    fn kind(&self) -> &'static str {
        "render-diagnostic"
    }
    fn version(&self) -> u32 {
        3
    }
    fn describe(&self) -> &'static str {
        "diagnostic video: nearest-frame render, the same with repeats/drops/cuts marked, the delivered render with synthesised frames outlined; labelled per frame, target audio muxed"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                "layout",
                ParamKind::Choice(LAYOUTS),
                json!("side-by-side"),
                "the three panels in a row, or one above the other",
            ),
            ParamSpec::new(
                "scale",
                ParamKind::Float { min: 0.1, max: 1.0 },
                json!(0.5),
                "each panel's size as a fraction of the source's (1080p at 0.5: 960x540 panels)",
            ),
            ParamSpec::new(
                "segment_seconds",
                ParamKind::Float { min: 0.0, max: 3600.0 },
                json!(30.0),
                "render in segments of about this many seconds, each cached on its own (a killed run resumes from them) and joined without re-encoding; 0: one piece",
            ),
        ]
        .into_iter()
        .chain(EncodeSettings::params(23))
        .collect()
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![
                Port::required("video", PortType::Video),
                Port::required("plan", PortType::FramePlan),
                Port::required("freezes", PortType::FreezePlan),
                Port::required("log", PortType::RenderLog),
                Port::required("render", PortType::Video),
                Port::required("audio", PortType::Audio),
                Port::optional("alignment", PortType::Alignment),
            ],
            outputs: vec![Port::required("video", PortType::Video)],
        }
    }
    fn resources(&self, _: &Params) -> Resources {
        // Two decoders, this loop and the encoder.
        Resources { cpu: 2, gpu: false }
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let prepared = prepare(ctx)?;
        let diagnostic = prepared.diagnostic(ctx)?;
        let picture = ctx.output("video")?.with_extension("picture.mp4");
        let ranges = prepared.segments(ctx)?;
        match ctx.pieces.as_deref().filter(|_| ranges.len() > 1) {
            None => {
                let mut pass = diagnostic.open()?;
                diagnostic.render(&mut pass, 0..prepared.marks.len(), &picture)?;
                render::close(pass);
            }
            Some(pieces) => {
                let dir = ctx.output("video")?.parent().unwrap_or(Path::new("."));
                let job = render::Segments {
                    diagnostic,
                    pieces,
                    dir,
                };
                // Two threads a segment (see `resources`): one at a time.
                let parts = make_segments(&job, ranges, 1, ctx)?;
                ctx.report(0.96, &format!("joining {} segments", parts.len()));
                vantage_media::concat(&parts, prepared.plan.fps, &picture, &ctx.cancel)?;
            }
        }
        ctx.report(0.97, "muxing the target audio");
        vantage_media::mux(
            &picture,
            ctx.input("audio")?,
            ctx.output("video")?,
            &ctx.cancel,
        )?;
        let _ = std::fs::remove_file(&picture);
        let _ = std::fs::remove_file(&prepared.ass);
        let (marks, log, g) = (&prepared.marks, &prepared.log, &prepared.geometry);
        let repeats = marks.iter().filter(|m| m.freeze.is_some()).count();
        ctx.report(
            1.0,
            &format!(
                "{} frames ({}x{}), {repeats} in freezes, {} synthesised, {} cuts",
                marks.len(),
                g.canvas.0,
                g.canvas.1,
                log.synthesised(),
                log.cuts.len()
            ),
        );
        Ok(())
    }
    fn run_piece(&self, ctx: &StageContext, piece: &serde_json::Value) -> Result<(), StageError> {
        let prepared = prepare(ctx)?;
        let pieces = ctx
            .pieces
            .as_deref()
            .ok_or_else(|| StageError::internal("a piece needs the run's pieces"))?;
        let job = render::Segments {
            diagnostic: prepared.diagnostic(ctx)?,
            pieces,
            dir: ctx.output("video")?.parent().unwrap_or(Path::new(".")),
        };
        let result = make_piece(&job, &prepared.segments(ctx)?, piece);
        let _ = std::fs::remove_file(&prepared.ass);
        result
    }
}

/// Segment boundaries move onto real frames as the interpolate render's
/// do (at its default tolerance), so the two cut at the same places.
const REAL_FRAME: f64 = 0.05;

/// What the diagnostic's frames are made from, read and checked, with the
/// labels written beside the output.
struct Prepared {
    plan: FramePlan,
    marks: Vec<Mark>,
    geometry: Geometry,
    log: RenderLog,
    ass: PathBuf,
}

impl Prepared {
    fn diagnostic<'a>(&'a self, ctx: &'a StageContext) -> Result<Diagnostic<'a>, StageError> {
        Ok(Diagnostic {
            ctx,
            plan: &self.plan,
            marks: &self.marks,
            geometry: &self.geometry,
            ass: &self.ass,
            settings: EncodeSettings::from_stage(ctx)?,
        })
    }

    fn segments(&self, ctx: &StageContext) -> Result<Vec<Range<usize>>, StageError> {
        let seconds = ctx.param_f64("segment_seconds")?;
        Ok(plan_segments(&self.plan, seconds, REAL_FRAME))
    }
}

fn prepare(ctx: &StageContext) -> Result<Prepared, StageError> {
    let plan: FramePlan = ctx.read_json("plan")?;
    let freezes: FreezePlan = ctx.read_json("freezes")?;
    let log: RenderLog = ctx.read_json("log")?;
    let confidence = match ctx.optional_input("alignment") {
        Some(_) => Some(ctx.read_json::<Alignment>("alignment")?.confidence.score),
        None => None,
    };
    if log.frames.len() != plan.positions.len() {
        return Err(StageError::InvalidInput(format!(
            "the render log has {} frames but the plan {}: they are not from the same render",
            log.frames.len(),
            plan.positions.len()
        )));
    }
    if plan.fps.as_f64() > 100.0 {
        return Err(StageError::InvalidInput(format!(
            "the diagnostic labels at most 100 frames per second (subtitle times are in centiseconds); this plan has {} fps: render the diagnostic at a lower rate",
            plan.fps
        )));
    }
    let marks = marks(&plan, &freezes, &log);
    let stacked = ctx.param_str("layout")? == "stacked";
    let geometry = Geometry::new(plan.width, plan.height, ctx.param_f64("scale")?, stacked);
    let mode = match confidence {
        Some(c) => format!("{}, confidence {c:.2}", log.mode),
        None => log.mode.clone(),
    };
    let ass = ctx.output("video")?.with_extension("ass");
    write_labels(&ass, &geometry, &marks, &mode, plan.fps.as_f64())?;
    Ok(Prepared {
        plan,
        marks,
        geometry,
        log,
        ass,
    })
}

fn write_labels(
    path: &std::path::Path,
    g: &Geometry,
    marks: &[Mark],
    mode: &str,
    fps: f64,
) -> Result<(), StageError> {
    let layout = Layout {
        width: g.canvas.0,
        height: g.canvas.1,
        bands: g.origins,
        // Two lines in the band, and about 48 characters across a panel.
        font_size: (g.band as f64 * 0.36)
            .min(g.panel.0 as f64 / 40.0)
            .max(9.0)
            .round() as u32,
    };
    let file = std::fs::File::create(path)
        .map_err(StageError::io(format!("writing {}", path.display())))?;
    let mut out = std::io::BufWriter::new(file);
    labels::write(&mut out, &layout, marks, mode, fps)
        .and_then(|()| std::io::Write::flush(&mut out))
        .map_err(StageError::io(format!("writing {}", path.display())))
}
