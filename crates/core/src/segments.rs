//! Long renders in segments: a frame plan cut into ranges of output frames
//! of about N seconds, each made and kept as a piece of its own run (see
//! [`Pieces`]): a killed run resumes from the finished ones, a replica
//! sharing the remote tier reuses them, and [`Peers`] make some of them.
//!
//! A stage says how to find and make one segment ([`Segmented`]);
//! [`make_segments`] decides who makes which. Segments wait in order; a
//! worker here takes the next, and when none waits, one a peer is still
//! making (a backup: whichever finishes first is used, so a slow or hung
//! peer delays nothing and a replica on the same queue cannot deadlock
//! us). A peer takes only waiting segments; one that fails puts its segment
//! back, first in line, and gets no more.

use crate::stage::{Peers, StageContext, StageError};
use crate::FramePlan;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Mutex;

/// Output frame ranges of about `seconds` each (one range when `seconds` is
/// 0 or the plan is short). A boundary moves up to a second later, onto a
/// frame that shows a real source frame (within `tolerance`), where the
/// plan has one; the last segment takes the remainder up to one and a half
/// lengths.
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

/// A stage's side of a render in segments.
pub trait Segmented: Sync {
    /// A worker's state from one segment to its next (decoders mid-pass).
    type Pass;
    /// A finished segment (its file, its log).
    type Output: Send;
    /// Segment `range`, if a run with the same key finished it (here, or a
    /// replica sharing the remote tier).
    fn find(&self, range: &Range<usize>) -> Result<Option<Self::Output>, StageError>;
    /// Render segment `i` (output frames `range`) and keep it as the run's
    /// pieces. `pass` is this worker's state, `None` at its first segment;
    /// the segments a worker gets come in order, except backups.
    fn make(
        &self,
        i: usize,
        range: &Range<usize>,
        pass: &mut Option<Self::Pass>,
    ) -> Result<Self::Output, StageError>;
    /// End a worker's pass.
    fn close(&self, pass: Self::Pass);
}

/// A file in `dir` for one attempt at segment `i` (`segment-I.N.EXT`): a
/// backup of the segment may be writing at the same time, and must not
/// write into the same file.
pub fn attempt_file(dir: &std::path::Path, i: usize, ext: &str) -> std::path::PathBuf {
    static ATTEMPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("segment-{i}.{n}.{ext}"))
}

/// Every segment of `ranges`, in order: made by `workers` here (the first
/// on this thread, so a thread pool the stage installed carries over) and
/// by `ctx.peers`, or found in the pieces.
pub fn make_segments<S: Segmented>(
    work: &S,
    ranges: Vec<Range<usize>>,
    workers: usize,
    ctx: &StageContext,
) -> Result<Vec<S::Output>, StageError> {
    let board = Board::new(ranges);
    let workers = workers.clamp(1, board.ranges.len().max(1));
    let peers = ctx.peers.as_deref();
    std::thread::scope(|s| {
        for peer in 0..peers.map_or(0, |p| p.count()) {
            let (board, peers) = (&board, peers);
            s.spawn(move || hand_out(work, board, peers, peer, ctx));
        }
        for _ in 1..workers {
            let board = &board;
            s.spawn(move || work_here(work, board, ctx));
        }
        work_here(work, &board, ctx);
    });
    board.into_outputs()
}

/// Make the segment a peer asked for, `{"segment": i, "frames": [start,
/// end]}`, if it is segment `i` of `ranges`.
pub fn make_piece<S: Segmented>(
    work: &S,
    ranges: &[Range<usize>],
    piece: &Value,
) -> Result<(), StageError> {
    let index = piece["segment"].as_u64().map(|i| i as usize);
    let frames = serde_json::from_value::<[usize; 2]>(piece["frames"].clone()).ok();
    let (i, range) = index
        .zip(frames)
        .and_then(|(i, [a, b])| ranges.get(i).filter(|r| **r == (a..b)).map(|r| (i, r)))
        .ok_or_else(|| {
            StageError::InvalidInput(format!(
                "{piece} is not a segment of this render (it has {} segments)",
                ranges.len()
            ))
        })?;
    if work.find(range)?.is_some() {
        return Ok(());
    }
    let mut pass = None;
    let made = work.make(i, range, &mut pass);
    if let Some(p) = pass {
        work.close(p);
    }
    made.map(drop)
}

fn piece_of(i: usize, range: &Range<usize>) -> Value {
    json!({"segment": i, "frames": [range.start, range.end]})
}

/// Take segments until none is left for this replica's workers.
fn work_here<S: Segmented>(work: &S, board: &Board<S::Output>, ctx: &StageContext) {
    let mut pass = None;
    while let Some(i) = board.take_here() {
        let range = &board.ranges[i];
        let (made, how) = match work.find(range) {
            Ok(Some(found)) => (Ok(found), "done earlier"),
            Ok(None) => (work.make(i, range, &mut pass), "rendered"),
            Err(e) => (Err(e), "failed"),
        };
        let count = board.finish(i, made);
        board.report(ctx, count, &format!("segment {i} {how}"));
    }
    if let Some(p) = pass {
        work.close(p);
    }
}

/// Hand waiting segments to peer `peer` one at a time until none waits
/// or it fails once (its segment then goes elsewhere).
fn hand_out<S: Segmented>(
    work: &S,
    board: &Board<S::Output>,
    peers: Option<&dyn Peers>,
    peer: usize,
    ctx: &StageContext,
) {
    let Some(peers) = peers else {
        return;
    };
    let by = peers.name(peer);
    while let Some(i) = board.take_for_peer() {
        let range = &board.ranges[i];
        board.report(ctx, board.count(), &format!("segment {i} sent to {by}"));
        let stop = || ctx.cancel.is_cancelled() || board.settled(i);
        let made = peers.make(peer, &piece_of(i, range), &stop).and_then(|()| {
            work.find(range)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "its segment is not in the shared cache".to_string())
        });
        match made {
            Ok(made) => {
                let count = board.finish(i, Ok(made));
                board.report(ctx, count, &format!("segment {i} rendered by {by}"));
            }
            Err(why) => {
                board.give_back(i);
                if !board.settled(i) && !ctx.cancel.is_cancelled() {
                    let message = format!(
                        "{by} did not render segment {i} ({why}); it is rendered elsewhere"
                    );
                    board.report(ctx, board.count(), &message);
                }
                return;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Who makes which segment (see the module docs).
struct Board<T> {
    ranges: Vec<Range<usize>>,
    state: Mutex<BoardState<T>>,
}

struct BoardState<T> {
    waiting: VecDeque<usize>,
    made: Vec<Option<T>>,
    at_peer: Vec<bool>,
    here: Vec<bool>,
    error: Option<StageError>,
}

impl<T> Board<T> {
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

    /// Segment `i` is made (the first maker's is kept), or failed here,
    /// which fails the render; returns how many are made.
    fn finish(&self, i: usize, result: Result<T, StageError>) -> usize {
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
        st.made.iter().filter(|m| m.is_some()).count()
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

    fn count(&self) -> usize {
        lock(&self.state)
            .made
            .iter()
            .filter(|m| m.is_some())
            .count()
    }

    /// Made, or no longer needed because the render failed.
    fn settled(&self, i: usize) -> bool {
        let st = lock(&self.state);
        st.made[i].is_some() || st.error.is_some()
    }

    fn report(&self, ctx: &StageContext, count: usize, message: &str) {
        let fraction = count as f32 / self.ranges.len().max(1) as f32;
        ctx.report(fraction.min(0.98), message);
    }

    fn into_outputs(self) -> Result<Vec<T>, StageError> {
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

#[cfg(test)]
mod tests {
    use super::{plan_segments, Board};
    use crate::{FramePlan, Rational, StageError};

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
        board.finish(0, Ok("by the backup"));
        assert!(board.settled(0), "the peer is told to stop");
        board.give_back(0);
        board.finish(1, Ok("b"));
        assert_eq!(board.finish(2, Ok("c")), 3);
        assert_eq!(
            board.into_outputs().ok(),
            Some(vec!["by the backup", "b", "c"])
        );
    }

    #[test]
    fn a_dropped_segment_waits_first_in_line_and_an_error_stops_everyone() {
        let board: Board<()> = Board::new(vec![0..10, 10..20, 20..30]);
        assert_eq!(board.take_for_peer(), Some(0));
        board.give_back(0);
        assert_eq!(board.take_here(), Some(0), "first in line again");
        board.finish(0, Err(StageError::internal("broken")));
        assert_eq!(board.take_here(), None);
        assert_eq!(board.take_for_peer(), None);
        assert!(board.into_outputs().is_err());
    }
}
