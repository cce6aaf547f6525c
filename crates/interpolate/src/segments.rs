//! Long renders in segments: the frame plan is cut into pieces of about N
//! seconds, each rendered and cached on its own (a killed run resumes from
//! the finished ones, a replica sharing the remote cache reuses them),
//! rendered side by side when the run has the threads for it, and joined
//! without re-encoding. Each worker takes every W-th segment on one pass
//! over the source, so the source is decoded W times whatever its length.

use crate::{render, RenderOptions, Renderer};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use vantage_core::{FramePlan, Pieces, RenderLog, StageContext, StageError};
use vantage_media::EncodeSettings;

/// Output frame ranges of about `seconds` each (one range when `seconds` is
/// 0 or the plan is short). A boundary moves up to a second later, onto a
/// frame that shows a real source frame, where the plan has one; the last
/// segment takes the remainder up to one and a half lengths.
pub fn plan_segments(plan: &FramePlan, seconds: f64, tolerance: f64) -> Vec<Range<usize>> {
    let n = plan.positions.len();
    let fps = plan.fps.as_f64();
    let per = (seconds * fps).round() as usize;
    if per == 0 {
        return std::iter::once(0..n).collect();
    }
    let window = fps.round().max(1.0) as usize;
    let real = |k: usize| {
        let p = plan.positions[k];
        (p - p.round()).abs() <= tolerance
    };
    let mut ranges = Vec::new();
    let mut start = 0;
    while n - start > per + per / 2 {
        let mark = start + per;
        let at = (mark..(mark + window).min(n))
            .find(|&k| real(k))
            .unwrap_or(mark);
        ranges.push(start..at);
        start = at;
    }
    ranges.push(start..n);
    ranges
}

/// [`render`] in segments of about `seconds` (see the module docs); a
/// single segment, or a run without [`Pieces`], renders whole.
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
    let job = Segments {
        source,
        plan,
        opts,
        settings,
        ctx,
        pieces,
        dir: output.parent().unwrap_or(Path::new(".")),
    };
    let done: Vec<Mutex<Option<(PathBuf, RenderLog)>>> =
        ranges.iter().map(|_| Mutex::new(None)).collect();
    let failed = AtomicBool::new(false);
    let first_error = Mutex::new(None);
    let work = |worker: usize, workers: usize| {
        // Opened at the first segment this worker renders, kept for the next.
        let mut renderer = None;
        for i in (worker..ranges.len()).step_by(workers) {
            if failed.load(Ordering::SeqCst) {
                break;
            }
            match job.segment(i, ranges[i].clone(), &mut renderer) {
                Ok(made) => *lock(&done[i]) = Some(made),
                Err(e) => {
                    failed.store(true, Ordering::SeqCst);
                    lock(&first_error).get_or_insert(e);
                }
            }
        }
        if let Some(r) = renderer {
            r.close();
        }
    };
    let workers = parallel_segments(opts, ctx.threads).min(ranges.len());
    if workers == 1 {
        // On this thread: RIFE's kernels use the pool the stage installed.
        work(0, 1);
    } else {
        std::thread::scope(|s| {
            for w in 0..workers {
                let work = &work;
                s.spawn(move || work(w, workers));
            }
        });
    }
    if let Some(e) = lock(&first_error).take() {
        return Err(e);
    }
    let mut parts = Vec::with_capacity(ranges.len());
    let mut log = RenderLog {
        mode: opts.mode.name().to_string(),
        ..RenderLog::default()
    };
    for slot in done {
        let (part, piece_log) = slot
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .ok_or_else(|| StageError::internal("a segment was not rendered"))?;
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

/// Segments rendered at once: RIFE takes every thread the run has (or the
/// GPU), so one; otherwise a decoder and an encoder each, two threads apiece.
fn parallel_segments(opts: &RenderOptions, threads: usize) -> usize {
    if opts.mode.uses_rife() {
        1
    } else {
        (threads / 2).max(1)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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

impl Segments<'_> {
    /// Segment `i` (output frames `range`): from the pieces if a run with
    /// the same key finished it, else rendered and kept.
    fn segment<'r>(
        &'r self,
        i: usize,
        range: Range<usize>,
        renderer: &mut Option<Renderer<'r>>,
    ) -> Result<(PathBuf, RenderLog), StageError> {
        let label = format!("segment {}..{}", range.start, range.end);
        let (video_label, log_label) = (format!("{label}.ts"), format!("{label}.log"));
        let total = self.plan.positions.len() as f32;
        if let (Some(video), Some(log)) = (
            self.pieces.find(&video_label)?,
            self.pieces.find(&log_label)?,
        ) {
            if let Ok(log) = read_log(&log) {
                self.ctx.report(
                    range.end as f32 / total,
                    &format!("segment {i} done earlier"),
                );
                return Ok((video, log));
            }
        }
        let part = self.dir.join(format!("segment-{i}.ts"));
        let renderer = match renderer {
            Some(r) => r,
            None => renderer.insert(Renderer::open(
                self.source,
                self.plan,
                self.opts,
                self.settings,
                self.ctx,
            )?),
        };
        let log = renderer.render(range, &part)?;
        let log_path = self.dir.join(format!("segment-{i}.json"));
        let json = serde_json::to_vec(&log).map_err(|e| StageError::internal(e.to_string()))?;
        std::fs::write(&log_path, json).map_err(|source| StageError::Io {
            context: format!("writing {}", log_path.display()),
            source,
        })?;
        let video = self.pieces.keep(&video_label, &part)?;
        self.pieces.keep(&log_label, &log_path)?;
        Ok((video, log))
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

#[cfg(test)]
mod tests {
    use super::plan_segments;
    use vantage_core::{FramePlan, Rational};

    fn plan(positions: Vec<f64>) -> FramePlan {
        FramePlan {
            fps: Rational { num: 24, den: 1 },
            width: 16,
            height: 16,
            source_frames: 1000,
            positions,
        }
    }

    #[test]
    fn segments_cover_the_plan_and_start_on_real_frames() {
        // Slowed to 0.7x: real frames come every few output frames.
        let p = plan((0..1000).map(|k| k as f64 * 0.7).collect());
        let ranges = plan_segments(&p, 5.0, 0.05);
        assert!(ranges.len() >= 7, "{ranges:?}");
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(1000));
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "contiguous");
            let x = p.positions[pair[1].start];
            assert!((x - x.round()).abs() <= 0.05, "starts on a real frame: {x}");
            let len = pair[0].len();
            assert!((120..=144).contains(&len), "about 5 s: {len}");
        }
    }

    #[test]
    fn short_plans_and_zero_are_one_segment() {
        let p = plan((0..100).map(|k| k as f64).collect());
        assert_eq!(plan_segments(&p, 0.0, 0.05), vec![0..100]);
        assert_eq!(plan_segments(&p, 10.0, 0.05), vec![0..100]);
        assert_eq!(plan_segments(&p, 2.0, 0.05), vec![0..48, 48..100]);
    }
}
