//! `interpolate`: render a frame plan.
//!
//! The source is decoded once, front to back, holding only the two frames that
//! bracket the current position; each output frame is either a copy of a real
//! frame or synthesised at its exact fractional position, then encoded once.
//!
//! Modes: `off` (nearest frame: repeats where the picture slows down), `blend`
//! (cross-fade at the fractional position), and with RIFE (see [`vantage_rife`]):
//! `adaptive` (synthesise only where the nearest frame would repeat),
//! `precision` (synthesise every position off a real frame) and `maximum`
//! (precision, each frame computed both ways and averaged). A scene-cut
//! guard never synthesises across a cut.
//!
//! * this file: the render loop and the per-frame decision ([`pick`]).
//! * `stage`: the `interpolate` stage (RIFE on a thread pool of its granted slots).

mod segments;
mod stage;

pub use segments::{render_piece, render_segmented};
pub use stage::Interpolate;

use vantage_core::{FramePlan, Made, RenderLog, RenderedFrame, StageContext, StageError};
use vantage_media::{probe, EncodeSettings, Frame, FrameReader, FrameWriter, Matrix};
use vantage_rife::{color, Prepared, Rife};

/// How output frames between two source frames are made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Off,
    Blend,
    Adaptive,
    Precision,
    Maximum,
}

impl Mode {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "off" => Mode::Off,
            "blend" => Mode::Blend,
            "adaptive" => Mode::Adaptive,
            "precision" => Mode::Precision,
            "maximum" => Mode::Maximum,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Blend => "blend",
            Mode::Adaptive => "adaptive",
            Mode::Precision => "precision",
            Mode::Maximum => "maximum",
        }
    }

    pub fn uses_rife(self) -> bool {
        matches!(self, Mode::Adaptive | Mode::Precision | Mode::Maximum)
    }
}

/// What to show for a position `frac` of the way from frame A to frame B.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pick {
    A,
    B,
    Mix(f64),
    Synthesise(f64),
}

/// The decision for one output frame. `tolerance`: positions this close (in
/// frames) to a real frame show it; `repeats`: the nearest frame would also
/// be shown by a neighbouring output frame; `cut`: A and B are different shots.
pub fn pick(mode: Mode, frac: f64, has_b: bool, tolerance: f64, repeats: bool, cut: bool) -> Pick {
    let nearest = if frac < 0.5 || !has_b {
        Pick::A
    } else {
        Pick::B
    };
    let between = has_b && frac > tolerance && frac < 1.0 - tolerance;
    if !between || cut {
        return nearest;
    }
    match mode {
        Mode::Off => nearest,
        Mode::Blend => Pick::Mix(frac),
        Mode::Adaptive if !repeats => nearest,
        Mode::Adaptive | Mode::Precision | Mode::Maximum => Pick::Synthesise(frac),
    }
}

/// For each output frame, whether the nearest source frame is also the
/// nearest of the frame before or after it (what `predict-freeze` reports as
/// a freeze).
pub fn repeats(plan: &FramePlan) -> Vec<bool> {
    let nearest: Vec<usize> = plan.nearest_frames().collect();
    (0..nearest.len())
        .map(|k| {
            (k > 0 && nearest[k - 1] == nearest[k])
                || (k + 1 < nearest.len() && nearest[k + 1] == nearest[k])
        })
        .collect()
}

/// Mean absolute luma difference (0..255) between two frames, on every
/// fourth pixel: consecutive frames of one shot differ by a few levels,
/// frames across a hard cut by tens.
pub fn luma_difference(a: &Frame, b: &Frame) -> f64 {
    let n = a.width as usize * a.height as usize;
    let (sum, count) = a.data[..n]
        .iter()
        .zip(&b.data[..n])
        .step_by(4)
        .fold((0u64, 0u64), |(s, c), (&x, &y)| {
            (s + x.abs_diff(y) as u64, c + 1)
        });
    sum as f64 / count.max(1) as f64
}

/// `out = (1-w)·a + w·b`, in 8-bit fixed point.
pub fn blend_into(a: &[u8], b: &[u8], w: f64, out: &mut [u8]) {
    let wb = (w * 256.0).round().clamp(0.0, 256.0) as u16;
    let wa = 256 - wb;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = ((x as u16 * wa + y as u16 * wb + 128) >> 8) as u8;
    }
}

/// How a render makes its frames.
#[derive(Clone)]
pub struct RenderOptions {
    pub mode: Mode,
    /// Positions this close (in frames) to a real frame show it.
    pub tolerance: f64,
    /// [`luma_difference`] above which two consecutive frames are a cut.
    pub cut_threshold: f64,
    /// Needed by the RIFE modes.
    pub model: Option<std::sync::Arc<Rife>>,
}

/// The two source frames around the current position, each prepared for
/// RIFE on first use (and then shared by every frame made next to it).
struct Pair {
    frames: [Frame; 2],
    prepared: [Option<Prepared>; 2],
    /// Index of `frames[0]`; `frames[1]` is the next one when `has_next`.
    base: usize,
    has_next: bool,
    /// `frames[0] → frames[1]` is a scene cut.
    cut: bool,
    /// Every cut passed so far (each consecutive pair is checked as it is
    /// read, so the log lists the cuts a plan skips over too).
    cuts: Vec<usize>,
    cut_threshold: f64,
}

impl Pair {
    fn advance(&mut self, reader: &mut FrameReader) -> Result<(), StageError> {
        self.frames.swap(0, 1);
        self.prepared.swap(0, 1);
        self.prepared[1] = None;
        self.base += 1;
        self.has_next = reader.read_into(&mut self.frames[1])?;
        self.check_cut();
        Ok(())
    }

    /// Every fourth luma pixel of two frames: a fraction of a millisecond.
    fn check_cut(&mut self) {
        self.cut =
            self.has_next && luma_difference(&self.frames[0], &self.frames[1]) > self.cut_threshold;
        if self.cut {
            self.cuts.push(self.base);
        }
    }

    fn prepared(&mut self, i: usize, synth: &Synth) -> Result<Prepared, StageError> {
        let model = &synth.rife;
        if let Some(p) = &self.prepared[i] {
            return Ok(p.clone());
        }
        let rgb =
            color::to_rgb(&self.frames[i], synth.matrix, model.device()).map_err(model_error)?;
        let p = model.prepare(&rgb).map_err(model_error)?;
        self.prepared[i] = Some(p.clone());
        Ok(p)
    }
}

fn model_error(e: candle_core::Error) -> StageError {
    StageError::internal(format!("RIFE: {e}"))
}

/// Render `plan` from `source` into `output`; returns how each frame was made.
pub fn render(
    source: &std::path::Path,
    plan: &FramePlan,
    opts: &RenderOptions,
    settings: &EncodeSettings,
    output: &std::path::Path,
    ctx: &StageContext,
) -> Result<RenderLog, StageError> {
    let mut renderer = Renderer::open(source, plan, opts, settings, ctx)?;
    let log = renderer.render(0..plan.positions.len(), output)?;
    renderer.close();
    Ok(log)
}

/// A render in progress: the source's decoder and the two frames around
/// the current position. Ranges of output frames are rendered in order,
/// each into a file of its own, on one pass over the source: a segment's
/// frames are exactly the ones a whole render makes there.
/// What makes frames: the network, and the matrix the source's YUV is
/// turned into its RGB with (and back).
struct Synth {
    rife: std::sync::Arc<Rife>,
    matrix: Matrix,
}

pub struct Renderer<'a> {
    source: std::path::PathBuf,
    plan: &'a FramePlan,
    opts: &'a RenderOptions,
    settings: &'a EncodeSettings,
    ctx: &'a StageContext,
    synth: Option<Synth>,
    reader: FrameReader,
    pair: Pair,
    repeats: Vec<bool>,
    made: Frame,
}

impl<'a> Renderer<'a> {
    pub fn open(
        source: &std::path::Path,
        plan: &'a FramePlan,
        opts: &'a RenderOptions,
        settings: &'a EncodeSettings,
        ctx: &'a StageContext,
    ) -> Result<Self, StageError> {
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
        reader.cancel_with(&ctx.cancel);
        let (w, h) = (video.width, video.height);
        let synth = match (opts.mode.uses_rife(), &opts.model) {
            (true, Some(m)) => Some(Synth {
                rife: m.clone(),
                matrix: reader.colour().matrix_for(w, h, source)?,
            }),
            (true, None) => return Err(StageError::internal("a RIFE mode needs the model")),
            (false, _) => None,
        };
        let mut pair = Pair {
            frames: [Frame::black(w, h), Frame::black(w, h)],
            prepared: [None, None],
            base: 0,
            has_next: false,
            cut: false,
            cuts: Vec::new(),
            cut_threshold: opts.cut_threshold,
        };
        if !reader.read_into(&mut pair.frames[0])? {
            return Err(StageError::InvalidInput(format!(
                "{} decodes to no frames",
                source.display()
            )));
        }
        pair.has_next = reader.read_into(&mut pair.frames[1])?;
        pair.check_cut();
        Ok(Renderer {
            source: source.to_path_buf(),
            plan,
            opts,
            settings,
            ctx,
            synth,
            reader,
            pair,
            repeats: repeats(plan),
            made: Frame::black(w, h),
        })
    }

    /// Render the output frames `range` (after every earlier range) into
    /// `output`; the log's cuts are every cut read past so far.
    pub fn render(
        &mut self,
        range: std::ops::Range<usize>,
        output: &std::path::Path,
    ) -> Result<RenderLog, StageError> {
        let (plan, opts, ctx) = (self.plan, self.opts, self.ctx);
        let mut writer = FrameWriter::create(
            output,
            (plan.width, plan.height),
            plan.fps,
            self.reader.colour(),
            self.settings,
        )?;
        writer.cancel_with(&ctx.cancel);
        let mut log = RenderLog {
            mode: opts.mode.name().to_string(),
            ..RenderLog::default()
        };
        let total = plan.positions.len();
        let mut synthesised = 0;
        for k in range {
            ctx.cancel.check()?;
            let made = self.frame(k, &mut writer)?;
            synthesised += usize::from(made.made != Made::Real);
            if k % 24 == 0 || (made.made != Made::Real && synthesised % 8 == 1) {
                ctx.report(k as f32 / total as f32, &format!("frame {k}/{total}"));
            }
            log.frames.push(made);
        }
        writer.finish(&ctx.cancel)?;
        log.cuts = self.pair.cuts.clone();
        Ok(log)
    }

    /// Make output frame `k` and write it.
    fn frame(&mut self, k: usize, writer: &mut FrameWriter) -> Result<RenderedFrame, StageError> {
        let (opts, pair) = (self.opts, &mut self.pair);
        let p = self.plan.positions[k];
        let want = p.max(0.0).floor() as usize;
        while pair.base < want && pair.has_next {
            pair.advance(&mut self.reader)?;
        }
        // The plan counts the source's packets; the decoder must give as
        // many frames, or the frames after a gap would all be misplaced.
        let decoded = pair.base + 1;
        if pair.base < want && !pair.has_next && decoded < self.plan.source_frames {
            return Err(StageError::InvalidInput(format!(
                "{} decodes to {decoded} frames but its packets count {}: some cannot be decoded (a damaged file?); re-encode it (ffmpeg -i IN OUT.mp4) and try again",
                self.source.display(),
                self.plan.source_frames
            )));
        }
        // Past the last frame (a position the plan rounds beyond it) it holds.
        let frac = if pair.base < want {
            0.0
        } else {
            p - pair.base as f64
        };
        let repeats = self.repeats[k];
        let wanted = pick(
            opts.mode,
            frac,
            pair.has_next,
            opts.tolerance,
            repeats,
            false,
        );
        let mut choice = wanted;
        if pair.cut && matches!(wanted, Pick::Mix(_) | Pick::Synthesise(_)) {
            choice = pick(
                opts.mode,
                frac,
                pair.has_next,
                opts.tolerance,
                repeats,
                true,
            );
        }
        let (how, source, t) = match choice {
            Pick::A => (Made::Real, pair.base, None),
            Pick::B => (Made::Real, pair.base + 1, None),
            Pick::Mix(t) => (Made::Blended, pair.base, Some(t)),
            Pick::Synthesise(t) => (Made::Synthesised, pair.base, Some(t)),
        };
        match choice {
            Pick::A => writer.write(&pair.frames[0])?,
            Pick::B => writer.write(&pair.frames[1])?,
            Pick::Mix(t) => {
                blend_into(
                    &pair.frames[0].data,
                    &pair.frames[1].data,
                    t,
                    &mut self.made.data,
                );
                writer.write(&self.made)?;
            }
            Pick::Synthesise(t) => {
                let synth = self
                    .synth
                    .as_ref()
                    .ok_or_else(|| StageError::internal("no model"))?;
                let (a, b) = (pair.prepared(0, synth)?, pair.prepared(1, synth)?);
                let model = &synth.rife;
                let rgb = if opts.mode == Mode::Maximum {
                    model.between_both_ways(&a, &b, t)
                } else {
                    model.between(&a, &b, t)
                }
                .map_err(model_error)?;
                color::to_yuv(&rgb, synth.matrix, &mut self.made).map_err(model_error)?;
                writer.write(&self.made)?;
            }
        }
        Ok(RenderedFrame {
            made: how,
            source,
            t,
            guarded: choice != wanted,
        })
    }

    /// Stop the decoder (the rest of the source is not needed).
    pub fn close(self) {
        self.reader.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_follow_the_mode() {
        use Mode::*;
        let p = |mode, frac, repeats, cut| pick(mode, frac, true, 0.05, repeats, cut);
        assert_eq!(p(Off, 0.49, true, false), Pick::A);
        assert_eq!(p(Off, 0.5, true, false), Pick::B);
        assert_eq!(
            pick(Precision, 0.4, false, 0.05, true, false),
            Pick::A,
            "no next frame"
        );
        assert_eq!(p(Blend, 0.04, false, false), Pick::A);
        assert_eq!(p(Blend, 0.96, false, false), Pick::B);
        assert_eq!(p(Blend, 0.25, false, false), Pick::Mix(0.25));
        // Adaptive synthesises only where the nearest frame repeats.
        assert_eq!(p(Adaptive, 0.3, false, false), Pick::A);
        assert_eq!(p(Adaptive, 0.3, true, false), Pick::Synthesise(0.3));
        // Precision and maximum everywhere off a real frame, at the exact position.
        assert_eq!(p(Precision, 0.3, false, false), Pick::Synthesise(0.3));
        assert_eq!(p(Maximum, 0.7, false, false), Pick::Synthesise(0.7));
        assert_eq!(p(Precision, 0.03, false, false), Pick::A);
        // Never across a cut: the nearest frame on the correct side.
        assert_eq!(p(Precision, 0.3, true, true), Pick::A);
        assert_eq!(p(Precision, 0.7, true, true), Pick::B);
        assert_eq!(p(Blend, 0.7, true, true), Pick::B);
    }

    #[test]
    fn repeats_are_frames_sharing_their_nearest_source_frame() {
        // 0, 0.4 (both nearest 0), 1.0, 2.1, 2.6 (nearest 3), 3.2 (nearest 3).
        let plan = FramePlan {
            fps: vantage_core::Rational { num: 24, den: 1 },
            width: 16,
            height: 16,
            source_frames: 5,
            positions: vec![0.0, 0.4, 1.0, 2.1, 2.6, 3.2],
        };
        let r = repeats(&plan);
        assert_eq!(r, [true, true, false, false, true, true]);
    }

    #[test]
    fn cuts_stand_out_from_motion() {
        let mut a = Frame::black(16, 16);
        let mut b = Frame::black(16, 16);
        a.data[..256]
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (16 + i % 200) as u8);
        b.data[..256]
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (18 + i % 200) as u8);
        assert!(luma_difference(&a, &b) < 5.0);
        b.data[..256].fill(235);
        assert!(luma_difference(&a, &b) > 30.0);
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
