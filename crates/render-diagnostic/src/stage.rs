//! The `render-diagnostic` stage.

use crate::canvas::{self, blit, outline, Rect};
use crate::labels::{self, Layout};
use crate::marks::{marks, Mark};
use serde_json::json;
use vantage_core::{
    Alignment, FramePlan, FreezePlan, Made, ParamKind, ParamSpec, Params, Port, PortType, Ports,
    RenderLog, Resources, Stage, StageContext, StageError,
};
use vantage_media::{probe, EncodeSettings, Frame, FrameReader, FrameWriter};

pub struct RenderDiagnostic;

const LAYOUTS: &[&str] = &["side-by-side", "stacked"];

/// Panel and canvas geometry.
struct Geometry {
    panel: (u32, u32),
    /// Height of the label band above each panel.
    band: u32,
    /// Top-left corner of each panel's band; the picture starts `band` below.
    origins: [(u32, u32); 3],
    canvas: (u32, u32),
    /// Outline thickness.
    line: u32,
}

fn even(v: f64) -> u32 {
    ((v / 2.0).round() as u32 * 2).max(2)
}

impl Geometry {
    fn new(width: u32, height: u32, scale: f64, stacked: bool) -> Self {
        let (pw, ph) = (even(width as f64 * scale), even(height as f64 * scale));
        // Two lines of text: the panel's title and the frame's facts.
        let band = even((ph as f64 * 0.2).max(36.0));
        let cell = ph + band;
        let origins = if stacked {
            [(0, 0), (0, cell), (0, 2 * cell)]
        } else {
            [(0, 0), (pw, 0), (2 * pw, 0)]
        };
        let canvas = if stacked {
            (pw, 3 * cell)
        } else {
            (3 * pw, cell)
        };
        Self {
            panel: (pw, ph),
            band,
            origins,
            canvas,
            line: even((pw.min(ph) as f64 / 40.0).max(2.0)),
        }
    }

    /// The picture area of panel `i`.
    fn picture(&self, i: usize) -> Rect {
        let (x, y) = self.origins[i];
        Rect {
            x,
            y: y + self.band,
            w: self.panel.0,
            h: self.panel.1,
        }
    }
}

impl Stage for RenderDiagnostic {
    fn kind(&self) -> &'static str {
        "render-diagnostic"
    }
    fn version(&self) -> u32 {
        1
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
        let picture = ctx.output("video")?.with_extension("picture.mp4");
        render(ctx, &plan, &marks, &geometry, &ass, &picture)?;
        ctx.report(0.97, "muxing the target audio");
        vantage_media::mux(
            &picture,
            ctx.input("audio")?,
            ctx.output("video")?,
            &ctx.cancel,
        )?;
        let _ = std::fs::remove_file(&picture);
        let _ = std::fs::remove_file(&ass);
        let repeats = marks.iter().filter(|m| m.freeze.is_some()).count();
        ctx.report(
            1.0,
            &format!(
                "{} frames ({}x{}), {repeats} in freezes, {} synthesised, {} cuts",
                marks.len(),
                geometry.canvas.0,
                geometry.canvas.1,
                log.synthesised(),
                log.cuts.len()
            ),
        );
        Ok(())
    }
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

/// `ass` filter argument for `path`, escaped for both levels of ffmpeg's
/// filter syntax (option value, then filtergraph).
fn ass_filter(path: &std::path::Path) -> String {
    let escape = |text: &str, special: &[char]| -> String {
        text.chars()
            .flat_map(|c| {
                let pre = special.contains(&c).then_some('\\');
                pre.into_iter().chain(std::iter::once(c))
            })
            .collect()
    };
    let value = escape(&path.to_string_lossy(), &['\\', '\'', ':']);
    // Named, so a '=' in the path is not read as an option name.
    format!(
        "ass=filename={}",
        escape(&value, &['\\', '\'', '[', ']', ',', ';'])
    )
}

/// Decode the source and the delivered render once each (downscaled by
/// ffmpeg), compose every output frame, encode it with its labels.
fn render(
    ctx: &StageContext,
    plan: &FramePlan,
    marks: &[Mark],
    g: &Geometry,
    ass: &std::path::Path,
    out: &std::path::Path,
) -> Result<(), StageError> {
    let (source, delivered) = (ctx.input("video")?, ctx.input("render")?);
    let size = Some(g.panel);
    let mut src = FrameReader::open_scaled(source, &probe(source)?, size)?;
    let mut dst = FrameReader::open_scaled(delivered, &probe(delivered)?, size)?;
    let settings = EncodeSettings::from_stage(ctx)?;
    let filter = ass_filter(ass);
    let (cw, ch) = g.canvas;
    let mut writer = FrameWriter::create_filtered(out, cw, ch, plan.fps, &settings, Some(&filter))?;
    src.cancel_with(&ctx.cancel);
    dst.cancel_with(&ctx.cancel);
    writer.cancel_with(&ctx.cancel);
    let (pw, ph) = g.panel;
    let (mut shown, mut made, mut canvas) = (
        Frame::black(pw, ph),
        Frame::black(pw, ph),
        Frame::black(cw, ch),
    );
    // Index of the source frame in `shown`; the first read below makes it 0.
    let mut index: Option<usize> = None;
    let mut source_left = true;
    for (k, m) in marks.iter().enumerate() {
        ctx.cancel.check()?;
        while source_left && index.is_none_or(|i| i < m.nearest) {
            source_left = src.read_into(&mut shown)?;
            if source_left {
                index = Some(index.map_or(0, |i| i + 1));
            }
        }
        if !dst.read_into(&mut made)? {
            return Err(StageError::InvalidInput(format!(
                "{} has {k} frames but the plan has {}: it is not this plan's render",
                delivered.display(),
                marks.len()
            )));
        }
        compose(&mut canvas, g, &shown, &made, m);
        writer.write(&canvas)?;
        if k % 48 == 0 {
            ctx.report(
                0.95 * k as f32 / marks.len() as f32,
                &format!("frame {k}/{}", marks.len()),
            );
        }
    }
    if dst.read_into(&mut made)? {
        return Err(StageError::InvalidInput(format!(
            "{} has more frames than the plan's {}: it is not this plan's render",
            delivered.display(),
            marks.len()
        )));
    }
    src.close();
    dst.close();
    writer.finish(&ctx.cancel)?;
    Ok(())
}

/// One diagnostic frame: the three panels and their marks.
fn compose(canvas: &mut Frame, g: &Geometry, shown: &Frame, made: &Frame, m: &Mark) {
    canvas.data.fill(16);
    let luma = canvas.width as usize * canvas.height as usize;
    canvas.data[luma..].fill(128);
    let panels = [shown, shown, made];
    for (i, panel) in panels.into_iter().enumerate() {
        let r = g.picture(i);
        blit(canvas, panel, r.x, r.y);
    }
    // Panel 2: repeats in their freeze's colour, drops and cuts as bars.
    let r2 = g.picture(1);
    if let Some(s) = m.freeze {
        outline(canvas, r2, g.line, canvas::severity(s));
    }
    let bar = g.line * 2;
    if m.dropped > 0 {
        let bottom = Rect {
            y: r2.y + r2.h - bar,
            h: bar,
            ..r2
        };
        canvas::fill(canvas, bottom, canvas::DROPPED);
    }
    if m.cut {
        canvas::fill(canvas, Rect { w: bar, ..r2 }, canvas::CUT);
    }
    // Panel 3: what the render made.
    let r3 = g.picture(2);
    match (m.made, m.guarded) {
        (Made::Synthesised | Made::Blended, _) => outline(canvas, r3, g.line, canvas::SYNTHESISED),
        (Made::Real, true) => outline(canvas, r3, g.line, canvas::GUARDED),
        (Made::Real, false) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_even_and_keeps_the_panels_apart() {
        let g = Geometry::new(1920, 1080, 0.5, false);
        assert_eq!(g.panel, (960, 540));
        assert_eq!(g.canvas, (2880, 540 + g.band));
        assert_eq!(g.picture(2).x, 1920);
        let s = Geometry::new(161, 97, 1.0, true);
        assert_eq!((s.panel.0 % 2, s.panel.1 % 2, s.band % 2), (0, 0, 0));
        assert_eq!(s.picture(1).y, s.panel.1 + 2 * s.band);
    }

    #[test]
    fn filter_paths_are_escaped_twice() {
        let f = ass_filter(std::path::Path::new("/tmp/a:b,c/l'x.ass"));
        assert_eq!(f, "ass=filename=/tmp/a\\\\:b\\,c/l\\\\\\'x.ass");
    }
}
