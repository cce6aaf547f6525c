//! `interpolate`: render a frame plan.
//!
//! The source is decoded once, front to back, holding only the two frames that
//! bracket the current position; each output frame is either a copy of a real
//! frame or synthesised at its exact fractional position, then encoded once.
//!
//! Methods: `duplicate` (nearest frame: repeats where the picture slows down)
//! and `blend` (cross-fade at the fractional position). Motion-compensated
//! synthesis (RIFE) plugs in as another [`Synthesis`] in its own issue.

pub mod rife;

use serde_json::json;
use vantage_core::{
    FramePlan, ParamKind, ParamSpec, Params, Port, PortType, Ports, Resources, Stage, StageContext,
    StageError,
};
use vantage_media::{probe, EncodeSettings, Frame, FrameReader, FrameWriter};

/// How an output frame between two source frames is made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Synthesis {
    /// The nearest real frame.
    Duplicate,
    /// A linear cross-fade; positions within `tolerance` of a real frame copy it.
    Blend { tolerance: f64 },
}

/// What to show for a position `frac` of the way from frame A to frame B.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pick {
    A,
    B,
    Mix(f64),
}

impl Synthesis {
    pub fn pick(self, frac: f64, has_b: bool) -> Pick {
        if !has_b {
            return Pick::A;
        }
        match self {
            Synthesis::Duplicate if frac < 0.5 => Pick::A,
            Synthesis::Duplicate => Pick::B,
            Synthesis::Blend { tolerance } if frac <= tolerance => Pick::A,
            Synthesis::Blend { tolerance } if frac >= 1.0 - tolerance => Pick::B,
            Synthesis::Blend { .. } => Pick::Mix(frac),
        }
    }
}

/// `out = (1-w)·a + w·b`, in 8-bit fixed point.
pub fn blend_into(a: &[u8], b: &[u8], w: f64, out: &mut [u8]) {
    let wb = (w * 256.0).round().clamp(0.0, 256.0) as u16;
    let wa = 256 - wb;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = ((x as u16 * wa + y as u16 * wb + 128) >> 8) as u8;
    }
}

/// Counts of what a render did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RenderStats {
    pub frames: usize,
    pub synthesised: usize,
}

/// Render `plan` from `source` into `output`.
pub fn render(
    source: &std::path::Path,
    plan: &FramePlan,
    synthesis: Synthesis,
    settings: &EncodeSettings,
    output: &std::path::Path,
    ctx: &StageContext,
) -> Result<RenderStats, StageError> {
    let info = probe(source)?;
    let video = info.require_video(source)?;
    if (video.width, video.height) != (plan.width, plan.height) {
        return Err(StageError::InvalidInput(format!(
            "the plan is for {}x{} frames but {} is {}x{}",
            plan.width,
            plan.height,
            source.display(),
            video.width,
            video.height
        )));
    }
    let mut reader = FrameReader::open(source, &info)?;
    let mut writer = FrameWriter::create(output, video.width, video.height, plan.fps, settings)?;
    // pair[0] is source frame `base`, pair[1] is `base + 1` when `has_next`.
    let mut pair = [
        Frame::black(video.width, video.height),
        Frame::black(video.width, video.height),
    ];
    if !reader.read_into(&mut pair[0])? {
        return Err(StageError::InvalidInput(format!(
            "{} decodes to no frames",
            source.display()
        )));
    }
    let mut has_next = reader.read_into(&mut pair[1])?;
    let mut base = 0usize;
    let mut mixed = Frame::black(video.width, video.height);
    let mut stats = RenderStats::default();
    let total = plan.positions.len();
    for (k, &p) in plan.positions.iter().enumerate() {
        ctx.cancel.check()?;
        let want = p.max(0.0).floor() as usize;
        while base < want && has_next {
            pair.swap(0, 1);
            base += 1;
            has_next = reader.read_into(&mut pair[1])?;
        }
        // Past the last decodable frame the last one holds.
        let frac = if base < want { 0.0 } else { p - base as f64 };
        match synthesis.pick(frac, has_next) {
            Pick::A => writer.write(&pair[0])?,
            Pick::B => writer.write(&pair[1])?,
            Pick::Mix(w) => {
                blend_into(&pair[0].data, &pair[1].data, w, &mut mixed.data);
                writer.write(&mixed)?;
                stats.synthesised += 1;
            }
        }
        stats.frames += 1;
        if k % 24 == 0 {
            ctx.report(k as f32 / total as f32, &format!("frame {k}/{total}"));
        }
    }
    reader.close();
    writer.finish(&ctx.cancel)?;
    Ok(stats)
}

pub struct Interpolate;

pub const PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];

impl Stage for Interpolate {
    fn kind(&self) -> &'static str {
        "interpolate"
    }
    fn version(&self) -> u32 {
        1
    }
    fn describe(&self) -> &'static str {
        "render a frame plan: copy exact frames, synthesise fractional ones, encode once (H.264)"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                "method",
                ParamKind::Choice(&["duplicate", "blend"]),
                json!("duplicate"),
                "duplicate: nearest frame; blend: cross-fade at the exact fractional position",
            ),
            ParamSpec::new(
                "tolerance",
                ParamKind::Float { min: 0.0, max: 0.5 },
                json!(0.05),
                "blend: positions this close (in frames) to a real frame copy it",
            ),
            ParamSpec::new(
                "crf",
                ParamKind::Int { min: 0, max: 51 },
                json!(18),
                "x264 quality (lower is better)",
            ),
            ParamSpec::new(
                "preset",
                ParamKind::Choice(PRESETS),
                json!("veryfast"),
                "x264 speed preset",
            ),
        ]
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![
                Port::required("video", PortType::Video),
                Port::required("plan", PortType::FramePlan),
            ],
            outputs: vec![Port::required("video", PortType::Video)],
        }
    }
    fn resources(&self, _: &Params) -> Resources {
        // Decoder, this loop and the encoder run in parallel.
        Resources { cpu: 2, gpu: false }
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let plan: FramePlan = ctx.read_json("plan")?;
        let synthesis = match ctx.param_str("method")? {
            "blend" => Synthesis::Blend {
                tolerance: ctx.param_f64("tolerance")?,
            },
            _ => Synthesis::Duplicate,
        };
        let settings = EncodeSettings {
            codec: "libx264".into(),
            crf: ctx.param_i64("crf")? as u32,
            preset: ctx.param_str("preset")?.to_string(),
        };
        let stats = render(
            ctx.input("video")?,
            &plan,
            synthesis,
            &settings,
            ctx.output("video")?,
            ctx,
        )?;
        ctx.report(
            1.0,
            &format!("{} frames, {} synthesised", stats.frames, stats.synthesised),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_follow_the_method() {
        let d = Synthesis::Duplicate;
        assert_eq!(d.pick(0.49, true), Pick::A);
        assert_eq!(d.pick(0.5, true), Pick::B);
        assert_eq!(d.pick(0.9, false), Pick::A);
        let b = Synthesis::Blend { tolerance: 0.05 };
        assert_eq!(b.pick(0.04, true), Pick::A);
        assert_eq!(b.pick(0.96, true), Pick::B);
        assert_eq!(b.pick(0.25, true), Pick::Mix(0.25));
    }

    #[test]
    fn blend_is_linear() {
        let mut out = [0u8; 3];
        blend_into(&[0, 100, 255], &[200, 100, 55], 0.25, &mut out);
        assert_eq!(out, [50, 100, 205]);
        blend_into(&[10, 20, 30], &[90, 80, 70], 0.0, &mut out);
        assert_eq!(out, [10, 20, 30]);
        blend_into(&[10, 20, 30], &[90, 80, 70], 1.0, &mut out);
        assert_eq!(out, [90, 80, 70]);
    }
}
