//! The interpolate render in segments (see [`vantage_core::segments`]):
//! each segment is an MPEG-TS file and its render log, two pieces of the
//! run; the segments are joined without re-encoding. A worker renders its
//! segments on one pass over the source, so decoding stays linear in the
//! length.

use crate::{render, RenderOptions, Renderer};
use std::ops::Range;
use std::path::{Path, PathBuf};
use vantage_core::segments::{attempt_file, make_piece, make_segments, plan_segments, Segmented};
use vantage_core::{FramePlan, Pieces, RenderLog, StageContext, StageError};
use vantage_media::EncodeSettings;

/// [`render`] in segments of about `seconds`; a single segment, or a run
/// without [`Pieces`], renders whole.
pub fn render_segmented(
    source: &Path,
    plan: &FramePlan,
    opts: &RenderOptions,
    settings: &EncodeSettings,
    output: &Path,
    ctx: &StageContext,
    seconds: f64,
) -> Result<RenderLog, StageError> {
    let ranges = plan_segments(plan, seconds, opts.tolerance);
    let Some(pieces) = ctx.pieces.as_deref().filter(|_| ranges.len() > 1) else {
        return render(source, plan, opts, settings, output, ctx);
    };
    let job = Segments::new(source, plan, opts, settings, ctx, pieces, output);
    let made = make_segments(&job, ranges, parallel_segments(opts, ctx.threads), ctx)?;
    let mut parts = Vec::with_capacity(made.len());
    let mut log = RenderLog {
        mode: opts.mode.name().to_string(),
        ..RenderLog::default()
    };
    for (part, piece_log) in made {
        parts.push(part);
        log.frames.extend(piece_log.frames);
        // Each segment lists the cuts it read past, from the source's start.
        log.cuts.extend(piece_log.cuts);
    }
    log.cuts.sort_unstable();
    log.cuts.dedup();
    ctx.report(0.99, &format!("joining {} segments", parts.len()));
    vantage_media::concat(&parts, plan.fps, output, &ctx.cancel)?;
    Ok(log)
}

/// Make segment `piece` of the render [`render_segmented`] would do with
/// these arguments, and keep it in the run's pieces: a replica's share of
/// a render another one leads.
pub fn render_piece(
    source: &Path,
    plan: &FramePlan,
    opts: &RenderOptions,
    settings: &EncodeSettings,
    ctx: &StageContext,
    seconds: f64,
    piece: &serde_json::Value,
) -> Result<(), StageError> {
    let pieces = ctx
        .pieces
        .as_deref()
        .ok_or_else(|| StageError::internal("a piece needs the run's pieces"))?;
    let output = ctx.output("video")?;
    let job = Segments::new(source, plan, opts, settings, ctx, pieces, output);
    make_piece(&job, &plan_segments(plan, seconds, opts.tolerance), piece)
}

/// Segments rendered at once: RIFE takes every thread the run has (or the
/// GPU), so one; otherwise a decoder and an encoder each, two threads apiece.
fn parallel_segments(opts: &RenderOptions, threads: usize) -> usize {
    if opts.mode.uses_rife() {
        1
    } else {
        (threads / 2).max(1)
    }
}

/// What every segment of one render shares.
struct Segments<'a> {
    source: &'a Path,
    plan: &'a FramePlan,
    opts: &'a RenderOptions,
    settings: &'a EncodeSettings,
    ctx: &'a StageContext,
    pieces: &'a dyn Pieces,
    dir: &'a Path,
}

impl<'a> Segments<'a> {
    /// Segments of the render into `output` (they are written beside it).
    fn new(
        source: &'a Path,
        plan: &'a FramePlan,
        opts: &'a RenderOptions,
        settings: &'a EncodeSettings,
        ctx: &'a StageContext,
        pieces: &'a dyn Pieces,
        output: &'a Path,
    ) -> Self {
        Segments {
            source,
            plan,
            opts,
            settings,
            ctx,
            pieces,
            dir: output.parent().unwrap_or(Path::new(".")),
        }
    }
}

fn labels(range: &Range<usize>) -> (String, String) {
    let label = format!("segment {}..{}", range.start, range.end);
    (format!("{label}.ts"), format!("{label}.log"))
}

impl<'a> Segmented for Segments<'a> {
    /// A pass over the source, and the first output frame it has not rendered.
    type Pass = (Renderer<'a>, usize);
    type Output = (PathBuf, RenderLog);

    fn find(&self, range: &Range<usize>) -> Result<Option<Self::Output>, StageError> {
        let (video_label, log_label) = labels(range);
        let (Some(video), Some(log)) = (
            self.pieces.find(&video_label)?,
            self.pieces.find(&log_label)?,
        ) else {
            return Ok(None);
        };
        Ok(read_log(&log).ok().map(|log| (video, log)))
    }

    fn make(
        &self,
        i: usize,
        range: &Range<usize>,
        pass: &mut Option<Self::Pass>,
    ) -> Result<Self::Output, StageError> {
        // A backup segment can lie behind the pass: start another.
        if let Some((renderer, _)) = pass.take_if(|(_, next)| range.start < *next) {
            renderer.close();
        }
        let (renderer, next) = match pass {
            Some(p) => p,
            None => pass.insert((
                Renderer::open(self.source, self.plan, self.opts, self.settings, self.ctx)?,
                0,
            )),
        };
        let part = attempt_file(self.dir, i, "ts");
        let log = renderer.render(range.clone(), &part)?;
        *next = range.end;
        let log_path = attempt_file(self.dir, i, "json");
        let json = serde_json::to_vec(&log).map_err(|e| StageError::internal(e.to_string()))?;
        std::fs::write(&log_path, json).map_err(|source| StageError::Io {
            context: format!("writing {}", log_path.display()),
            source,
        })?;
        let (video_label, log_label) = labels(range);
        let video = self.pieces.keep(&video_label, &part)?;
        self.pieces.keep(&log_label, &log_path)?;
        Ok((video, log))
    }

    fn close(&self, (renderer, _): Self::Pass) {
        renderer.close();
    }
}

fn read_log(path: &Path) -> Result<RenderLog, StageError> {
    let bytes = std::fs::read(path).map_err(|source| StageError::Io {
        context: format!("reading {}", path.display()),
        source,
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| StageError::internal(format!("a segment's log: {e}")))
}
