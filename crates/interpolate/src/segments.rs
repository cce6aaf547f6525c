//! Long renders in segments: the frame plan is cut into pieces of about N
//! seconds, each rendered and cached on its own (a killed run resumes from
//! the finished ones, a replica sharing the remote cache reuses them),
//! rendered side by side when the run has the threads for it, and joined
//! without re-encoding. Each worker renders its segments in order on one
//! pass over the source, so decoding stays linear in the length. Peers
//! (other replicas sharing the remote tier) render segments too.

use crate::{render, RenderOptions, Renderer};
use std::collections::VecDeque;
use std::ops::Range;
use std::path::{Path, PathBuf};
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
/// single segment, or a run without [`Pieces`], renders whole. With
/// [`vantage_core::Peers`], other replicas make segments too.
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
    let board = Board::new(ranges);
    let workers = parallel_segments(opts, ctx.threads).min(board.ranges.len());
    let peers = ctx.peers.as_deref().map_or(0, |p| p.count());
    std::thread::scope(|s| {
        for peer in 0..peers {
            let (job, board) = (&job, &board);
            s.spawn(move || job.hand_out(peer, board));
        }
        if workers == 1 {
            // On this thread: RIFE's kernels use the pool the stage installed.
            job.work_here(&board);
        } else {
            for _ in 0..workers {
                let (job, board) = (&job, &board);
                s.spawn(move || job.work_here(board));
            }
        }
    });
    let made = board.into_made()?;
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

/// Make segment `piece` (`{"segment": i, "frames": [start, end]}`) of the
/// render [`render_segmented`] would do with these arguments, and keep it
/// in the run's pieces: a replica's share of a render another one leads.
pub fn render_piece(
    source: &Path,
    plan: &FramePlan,
    opts: &RenderOptions,
    settings: &EncodeSettings,
    ctx: &StageContext,
    seconds: f64,
    piece: &serde_json::Value,
) -> Result<(), StageError> {
    let ranges = plan_segments(plan, seconds, opts.tolerance);
    let index = piece["segment"].as_u64().map(|i| i as usize);
    let frames = serde_json::from_value::<[usize; 2]>(piece["frames"].clone()).ok();
    let (i, range) = index
        .zip(frames)
        .and_then(|(i, [a, b])| {
            ranges
                .get(i)
                .filter(|r| **r == (a..b))
                .map(|r| (i, r.clone()))
        })
        .ok_or_else(|| {
            StageError::InvalidInput(format!(
                "{piece} is not a segment of this render (it has {} segments)",
                ranges.len()
            ))
        })?;
    let pieces = ctx
        .pieces
        .as_deref()
        .ok_or_else(|| StageError::internal("a piece needs the run's pieces"))?;
    let output = ctx.output("video")?;
    let job = Segments {
        source,
        plan,
        opts,
        settings,
        ctx,
        pieces,
        dir: output.parent().unwrap_or(Path::new(".")),
    };
    job.segment(i, range, &mut None).map(drop)
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

type Made = (PathBuf, RenderLog);

/// Who makes which segment. Segments wait in order; a worker here takes
/// the next, or when none waits, one a peer is still making (a backup:
/// whichever finishes first is used, so a slow or hung peer delays nothing
/// and a replica on the same queue cannot deadlock us). A peer takes only
/// waiting segments; one that fails puts its segment back and stops.
struct Board {
    ranges: Vec<Range<usize>>,
    state: Mutex<BoardState>,
}

struct BoardState {
    waiting: VecDeque<usize>,
    made: Vec<Option<Made>>,
    at_peer: Vec<bool>,
    here: Vec<bool>,
    error: Option<StageError>,
}

impl Board {
    fn new(ranges: Vec<Range<usize>>) -> Self {
        let n = ranges.len();
        Board {
            ranges,
            state: Mutex::new(BoardState {
                waiting: (0..n).collect(),
                made: (0..n).map(|_| None).collect(),
                at_peer: vec![false; n],
                here: vec![false; n],
                error: None,
            }),
        }
    }

    /// The next segment for a worker here, or `None` when every segment
    /// left is being made here already (or the render failed).
    fn take_here(&self) -> Option<usize> {
        let mut st = lock(&self.state);
        if st.error.is_some() {
            return None;
        }
        let next = st.waiting.pop_front().or_else(|| {
            (0..st.made.len()).find(|&i| st.made[i].is_none() && st.at_peer[i] && !st.here[i])
        })?;
        st.here[next] = true;
        Some(next)
    }

    /// The next waiting segment for a peer.
    fn take_for_peer(&self) -> Option<usize> {
        let mut st = lock(&self.state);
        if st.error.is_some() {
            return None;
        }
        let next = st.waiting.pop_front()?;
        st.at_peer[next] = true;
        Some(next)
    }

    /// Segment `i` is made (the first maker's result is kept), or failed
    /// here, which fails the render.
    fn finish(&self, i: usize, result: Result<Made, StageError>) -> usize {
        let mut st = lock(&self.state);
        match result {
            Ok(made) => {
                st.made[i].get_or_insert(made);
            }
            Err(e) if st.made[i].is_none() => {
                st.error.get_or_insert(e);
            }
            Err(_) => {}
        }
        drop(st);
        self.count()
    }

    /// A peer could not make segment `i`: it waits again, first in line,
    /// unless it is made or being made here.
    fn give_back(&self, i: usize) {
        let mut st = lock(&self.state);
        st.at_peer[i] = false;
        if st.made[i].is_none() && !st.here[i] {
            st.waiting.push_front(i);
        }
    }

    /// Segments made so far.
    fn count(&self) -> usize {
        lock(&self.state)
            .made
            .iter()
            .filter(|m| m.is_some())
            .count()
    }

    fn settled(&self, i: usize) -> bool {
        let st = lock(&self.state);
        st.made[i].is_some() || st.error.is_some()
    }

    fn into_made(self) -> Result<Vec<Made>, StageError> {
        let st = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = st.error {
            return Err(e);
        }
        st.made
            .into_iter()
            .map(|m| m.ok_or_else(|| StageError::internal("a segment was not rendered")))
            .collect()
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

/// A worker's pass over the source, and the first output frame it has not
/// rendered yet.
type Pass<'r> = Option<(Renderer<'r>, usize)>;

fn labels(range: &Range<usize>) -> (String, String) {
    let label = format!("segment {}..{}", range.start, range.end);
    (format!("{label}.ts"), format!("{label}.log"))
}

impl Segments<'_> {
    /// Take segments until none is left for this replica's workers.
    fn work_here(&self, board: &Board) {
        let mut pass = None;
        while let Some(i) = board.take_here() {
            let made = self.segment(i, board.ranges[i].clone(), &mut pass);
            let count = board.finish(i, made);
            self.report(count, board, &format!("segment {i} rendered"));
        }
        if let Some((renderer, _)) = pass {
            renderer.close();
        }
    }

    /// Hand waiting segments to peer `peer` one at a time until none waits
    /// or it fails once (its segment then goes elsewhere).
    fn hand_out(&self, peer: usize, board: &Board) {
        let Some(peers) = self.ctx.peers.as_deref() else {
            return;
        };
        while let Some(i) = board.take_for_peer() {
            let range = board.ranges[i].clone();
            let by = peers.name(peer);
            self.report(board.count(), board, &format!("segment {i} sent to {by}"));
            let piece = serde_json::json!({"segment": i, "frames": [range.start, range.end]});
            let stop = || self.ctx.cancel.is_cancelled() || board.settled(i);
            let made = peers.make(peer, &piece, &stop).and_then(|()| {
                self.find(&range)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| "its segment is not in the shared cache".to_string())
            });
            match made {
                Ok(made) => {
                    let count = board.finish(i, Ok(made));
                    self.report(count, board, &format!("segment {i} rendered by {by}"));
                }
                Err(why) => {
                    board.give_back(i);
                    if !board.settled(i) && !self.ctx.cancel.is_cancelled() {
                        let by = peers.name(peer);
                        self.ctx.report(
                            0.0,
                            &format!(
                                "{by} did not render segment {i} ({why}); it is rendered elsewhere"
                            ),
                        );
                    }
                    return;
                }
            }
        }
    }

    fn report(&self, count: usize, board: &Board, message: &str) {
        let fraction = count as f32 / board.ranges.len() as f32;
        self.ctx.report(fraction.min(0.98), message);
    }

    /// Segment `range`'s video and log, if a run with the same key (here,
    /// or a replica sharing the remote tier) finished it.
    fn find(&self, range: &Range<usize>) -> Result<Option<Made>, StageError> {
        let (video_label, log_label) = labels(range);
        let (Some(video), Some(log)) = (
            self.pieces.find(&video_label)?,
            self.pieces.find(&log_label)?,
        ) else {
            return Ok(None);
        };
        Ok(read_log(&log).ok().map(|log| (video, log)))
    }

    /// Segment `i` (output frames `range`): from the pieces if a run with
    /// the same key finished it, else rendered (on `pass`, reopened when
    /// the segment lies behind it) and kept.
    fn segment<'r>(
        &'r self,
        i: usize,
        range: Range<usize>,
        pass: &mut Pass<'r>,
    ) -> Result<Made, StageError> {
        if let Some(made) = self.find(&range)? {
            return Ok(made);
        }
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
        let part = self.dir.join(format!("segment-{i}.ts"));
        let log = renderer.render(range.clone(), &part)?;
        *next = range.end;
        let log_path = self.dir.join(format!("segment-{i}.json"));
        let json = serde_json::to_vec(&log).map_err(|e| StageError::internal(e.to_string()))?;
        std::fs::write(&log_path, json).map_err(|source| StageError::Io {
            context: format!("writing {}", log_path.display()),
            source,
        })?;
        let (video_label, log_label) = labels(&range);
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
    use super::{plan_segments, Board};
    use std::path::PathBuf;
    use vantage_core::{FramePlan, Rational, RenderLog, StageError};

    fn made() -> Result<(PathBuf, RenderLog), StageError> {
        Ok((PathBuf::from("x.ts"), RenderLog::default()))
    }

    #[test]
    fn the_board_backs_up_peers_and_takes_back_what_they_drop() {
        let board = Board::new(vec![0..10, 10..20, 20..30]);
        assert_eq!(board.take_for_peer(), Some(0));
        assert_eq!(board.take_here(), Some(1));
        assert_eq!(board.take_here(), Some(2));
        // Nothing waits: the next worker here backs up the peer's segment,
        // and a second one finds nothing left to do.
        assert_eq!(board.take_here(), Some(0));
        assert_eq!(board.take_here(), None);
        assert_eq!(board.take_for_peer(), None);
        board.finish(0, made());
        assert!(board.settled(0), "the peer is told to stop");
        board.give_back(0);
        board.finish(1, made());
        board.finish(2, made());
        assert_eq!(board.count(), 3);
        assert_eq!(board.into_made().map(|m| m.len()).ok(), Some(3));
    }

    #[test]
    fn a_dropped_segment_waits_first_in_line_and_an_error_stops_everyone() {
        let board = Board::new(vec![0..10, 10..20, 20..30]);
        assert_eq!(board.take_for_peer(), Some(0));
        board.give_back(0);
        assert_eq!(board.take_here(), Some(0), "first in line again");
        board.finish(0, Err(StageError::internal("broken")));
        assert_eq!(board.take_here(), None);
        assert_eq!(board.take_for_peer(), None);
        assert!(board.into_made().is_err());
    }

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
