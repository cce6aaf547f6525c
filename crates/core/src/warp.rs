//! The time warp: a strictly increasing, piecewise-linear map between source
//! time and target time.
//!
//! A `Warp` can only be built from finite knots that strictly increase in both
//! coordinates, so it is invertible everywhere and never runs backwards.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WarpError {
    #[error("a warp needs at least two knots, got {0}")]
    TooFewKnots(usize),
    #[error("knot {index} is not finite")]
    NotFinite { index: usize },
    #[error("knot {index} does not increase: ({source_s:.4}s, {target_s:.4}s) follows ({prev_source_s:.4}s, {prev_target_s:.4}s)")]
    NotIncreasing {
        index: usize,
        source_s: f64,
        target_s: f64,
        prev_source_s: f64,
        prev_target_s: f64,
    },
}

/// One correspondence: the picture at `source` seconds is shown at `target` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Knot {
    pub source: f64,
    pub target: f64,
}

/// Strictly increasing piecewise-linear map between source and target time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Knot>", into = "Vec<Knot>")]
pub struct Warp {
    knots: Vec<Knot>,
}

impl Warp {
    pub fn new(knots: Vec<Knot>) -> Result<Self, WarpError> {
        if knots.len() < 2 {
            return Err(WarpError::TooFewKnots(knots.len()));
        }
        for (index, k) in knots.iter().enumerate() {
            if !k.source.is_finite() || !k.target.is_finite() {
                return Err(WarpError::NotFinite { index });
            }
        }
        for (index, pair) in knots.windows(2).enumerate() {
            let (a, b) = (pair[0], pair[1]);
            if b.source <= a.source || b.target <= a.target {
                return Err(WarpError::NotIncreasing {
                    index: index + 1,
                    source_s: b.source,
                    target_s: b.target,
                    prev_source_s: a.source,
                    prev_target_s: a.target,
                });
            }
        }
        Ok(Self { knots })
    }

    pub fn knots(&self) -> &[Knot] {
        &self.knots
    }

    /// Source time shown at target time `t` (linear extrapolation outside the knots).
    pub fn source_at(&self, t: f64) -> f64 {
        let seg = self.segment_by(t, |k| k.target);
        let (a, b) = (self.knots[seg], self.knots[seg + 1]);
        a.source + (t - a.target) * (b.source - a.source) / (b.target - a.target)
    }

    /// Target time at which source time `s` is shown (linear extrapolation outside the knots).
    pub fn target_at(&self, s: f64) -> f64 {
        let seg = self.segment_by(s, |k| k.source);
        let (a, b) = (self.knots[seg], self.knots[seg + 1]);
        a.target + (s - a.source) * (b.target - a.target) / (b.source - a.source)
    }

    /// Index of the segment whose span (by `coord`) holds `x`, clamped to the ends.
    fn segment_by(&self, x: f64, coord: impl Fn(&Knot) -> f64) -> usize {
        let i = self.knots.partition_point(|k| coord(k) <= x);
        i.saturating_sub(1).min(self.knots.len() - 2)
    }

    /// New timestamp in whole milliseconds for each source frame time.
    ///
    /// The warp is strictly increasing, but whole milliseconds cannot separate
    /// frames that a steep speed-up (a long source pause against a short target
    /// one) packs closer than 1 ms; those frames get consecutive milliseconds
    /// and the timeline rejoins the warp as soon as the frames spread out again.
    pub fn timecodes_ms(&self, frame_times: &[f64]) -> Vec<i64> {
        let mut out: Vec<i64> = Vec::with_capacity(frame_times.len());
        for &s in frame_times {
            let ms = (self.target_at(s) * 1000.0).round() as i64;
            out.push(match out.last() {
                Some(&prev) if ms <= prev => prev + 1,
                _ => ms,
            });
        }
        out
    }
}

impl TryFrom<Vec<Knot>> for Warp {
    type Error = WarpError;
    fn try_from(knots: Vec<Knot>) -> Result<Self, WarpError> {
        Warp::new(knots)
    }
}

impl From<Warp> for Vec<Knot> {
    fn from(w: Warp) -> Self {
        w.knots
    }
}

/// Render "timecode format v2": a header, then one integer millisecond timestamp per frame.
pub fn format_timecodes_v2(timecodes_ms: &[i64]) -> String {
    let mut s = String::with_capacity(timecodes_ms.len() * 8 + 24);
    s.push_str("# timecode format v2\n");
    for ms in timecodes_ms {
        let _ = writeln!(s, "{ms}");
    }
    s
}

/// Parse "timecode format v2" text back into milliseconds (fractional values allowed).
pub fn parse_timecodes_v2(text: &str) -> Result<Vec<f64>, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.trim() == "# timecode format v2" => {}
        _ => return Err("missing '# timecode format v2' header on line 1".into()),
    }
    let mut out: Vec<f64> = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let v: f64 = line
            .parse()
            .map_err(|_| format!("line {}: '{line}' is not a number", i + 2))?;
        if out.last().is_some_and(|&p| v <= p) {
            return Err(format!("line {}: timestamps must strictly increase", i + 2));
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(source: f64, target: f64) -> Knot {
        Knot { source, target }
    }

    #[test]
    fn rejects_non_monotone_knots() {
        let err = Warp::new(vec![k(0.0, 0.0), k(1.0, 1.0), k(0.9, 2.0)]).unwrap_err();
        assert!(matches!(err, WarpError::NotIncreasing { index: 2, .. }));
        let err = Warp::new(vec![k(0.0, 0.0), k(1.0, 1.0), k(2.0, 1.0)]).unwrap_err();
        assert!(matches!(err, WarpError::NotIncreasing { index: 2, .. }));
    }

    #[test]
    fn rejects_nan_and_single_knots() {
        assert!(matches!(
            Warp::new(vec![k(0.0, 0.0), k(f64::NAN, 1.0)]),
            Err(WarpError::NotFinite { index: 1 })
        ));
        assert_eq!(Warp::new(vec![k(0.0, 0.0)]), Err(WarpError::TooFewKnots(1)));
    }

    #[test]
    fn deserialising_validates_too() {
        let bad = r#"[{"source":0,"target":0},{"source":1,"target":1},{"source":0.5,"target":2}]"#;
        assert!(serde_json::from_str::<Warp>(bad).is_err());
        let good = r#"[{"source":0,"target":0},{"source":1,"target":2}]"#;
        let w: Warp = serde_json::from_str(good).unwrap();
        assert_eq!(w.target_at(0.5), 1.0);
    }

    #[test]
    fn forward_and_inverse_agree() {
        let w = Warp::new(vec![k(0.0, 0.0), k(1.0, 2.0), k(3.0, 3.0), k(4.0, 5.0)]).unwrap();
        for i in 0..=400 {
            let s = i as f64 / 100.0;
            let t = w.target_at(s);
            assert!((w.source_at(t) - s).abs() < 1e-9, "s={s}");
        }
        assert_eq!(w.target_at(0.5), 1.0);
        assert_eq!(w.source_at(2.5), 2.0);
        // Extrapolates with the end segments.
        assert_eq!(w.target_at(5.0), 7.0);
        assert_eq!(w.source_at(-1.0), -0.5);
    }

    #[test]
    fn timecodes_are_strictly_increasing_integers() {
        let w = Warp::new(vec![k(0.0, 0.0), k(1.0, 0.125), k(2.0, 8.125)]).unwrap();
        let frames: Vec<f64> = (0..240).map(|i| i as f64 / 120.0).collect();
        let tc = w.timecodes_ms(&frames);
        assert_eq!(tc.len(), 240);
        assert!(tc.windows(2).all(|p| p[1] > p[0]));
        assert_eq!(tc[0], 0);
        assert_eq!(tc[120], 125);
        let text = format_timecodes_v2(&tc);
        assert!(text.starts_with("# timecode format v2\n0\n"));
        let back = parse_timecodes_v2(&text).unwrap();
        assert_eq!(back.len(), 240);
        assert_eq!(back[239], *tc.last().unwrap() as f64);
        // A 100x speed-up packs 24 fps frames 0.4 ms apart: they get consecutive
        // milliseconds, then rejoin the warp.
        let fast = Warp::new(vec![k(0.0, 0.0), k(1.0, 0.01), k(2.0, 1.01)]).unwrap();
        let frames: Vec<f64> = (0..48).map(|i| i as f64 / 24.0).collect();
        let tc = fast.timecodes_ms(&frames);
        assert!(tc.windows(2).all(|p| p[1] > p[0]));
        assert_eq!(&tc[..4], &[0, 1, 2, 3]);
        assert_eq!(
            tc[47],
            (fast.target_at(47.0 / 24.0) * 1000.0).round() as i64
        );
    }

    #[test]
    fn timecode_parser_rejects_bad_text() {
        assert!(parse_timecodes_v2("0\n1\n").is_err());
        assert!(parse_timecodes_v2("# timecode format v2\n0\n0\n").is_err());
        assert!(parse_timecodes_v2("# timecode format v2\n0\nabc\n").is_err());
    }
}
