//! What each output frame is, from the frame plan, the freeze plan and the
//! render log: no pixels needed, so the labels can be written before the
//! render starts.

use vantage_core::{FramePlan, FreezePlan, Made, RenderLog, Severity};

/// Everything the diagnostic shows about one output frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// Output time in seconds.
    pub time: f64,
    /// Fractional source frame position the plan asks for.
    pub position: f64,
    /// The source frame a nearest-frame render shows.
    pub nearest: usize,
    /// A repeat of the frame before in a nearest-frame render: the severity
    /// of its freeze (the freeze's first frame is not a repeat).
    pub freeze: Option<Severity>,
    /// Source frames skipped since the previous output frame.
    pub dropped: usize,
    /// The first frame after a scene cut.
    pub cut: bool,
    /// How the delivered render made this frame.
    pub made: Made,
    /// The delivered frame is real and shows the same source frame as the one before.
    pub repeated: bool,
    /// The cut guard kept it whole.
    pub guarded: bool,
    /// The source frame(s) the delivered frame comes from.
    pub sources: (usize, Option<usize>),
}

/// One mark per output frame.
pub fn marks(plan: &FramePlan, freezes: &FreezePlan, log: &RenderLog) -> Vec<Mark> {
    let nearest: Vec<usize> = plan.nearest_frames().collect();
    let mut severity = vec![None; nearest.len()];
    for s in &freezes.segments {
        let end = s.start_frame.saturating_add(s.frames).min(severity.len());
        let first_repeat = s.start_frame.saturating_add(1).min(end);
        for slot in &mut severity[first_repeat..end] {
            *slot = Some(s.severity);
        }
    }
    let mut cut = vec![false; nearest.len()];
    for k in log.cut_frames() {
        if let Some(c) = cut.get_mut(k) {
            *c = true;
        }
    }
    let fps = plan.fps.as_f64();
    let mut out = Vec::with_capacity(nearest.len());
    for (k, &n) in nearest.iter().enumerate() {
        let prev = k.checked_sub(1).map(|j| nearest[j]);
        let made = log.frames.get(k);
        let delivered = made.map_or((n, None), |f| match f.made {
            Made::Real => (f.source, None),
            _ => (f.source, Some(f.source + 1)),
        });
        let prev_delivered = k
            .checked_sub(1)
            .and_then(|j| log.frames.get(j))
            .filter(|f| f.made == Made::Real)
            .map(|f| f.source);
        out.push(Mark {
            time: k as f64 / fps,
            position: plan.positions[k],
            nearest: n,
            freeze: severity[k],
            dropped: prev.map_or(0, |p| n.saturating_sub(p + 1)),
            cut: cut[k],
            made: made.map_or(Made::Real, |f| f.made),
            repeated: made.is_some_and(|f| f.made == Made::Real)
                && prev_delivered == Some(delivered.0),
            guarded: made.is_some_and(|f| f.guarded),
            sources: delivered,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vantage_core::{FreezeSegment, Rational, RenderedFrame};

    #[test]
    fn repeats_drops_cuts_and_synthesis_are_marked() {
        let positions = vec![0.0, 0.4, 0.8, 3.0, 3.5, 4.0];
        let plan = FramePlan {
            fps: Rational { num: 25, den: 1 },
            width: 16,
            height: 16,
            source_frames: 5,
            positions,
        };
        let freezes = FreezePlan {
            fps: plan.fps,
            output_frames: 6,
            repeated_frames: 1,
            dropped_frames: 2,
            segments: vec![FreezeSegment {
                start_frame: 0,
                frames: 2,
                source_frame: 0,
                start_s: 0.0,
                duration_s: 0.08,
                severity: Severity::Minor,
            }],
        };
        let real = |source| RenderedFrame {
            made: Made::Real,
            source,
            t: None,
            guarded: false,
        };
        let log = RenderLog {
            mode: "adaptive".into(),
            frames: vec![
                real(0),
                RenderedFrame {
                    made: Made::Synthesised,
                    source: 0,
                    t: Some(0.4),
                    guarded: false,
                },
                real(1),
                real(3),
                RenderedFrame {
                    guarded: true,
                    ..real(4)
                },
                real(4),
            ],
            cuts: vec![3],
        };
        let m = marks(&plan, &freezes, &log);
        assert_eq!(m.len(), 6);
        assert_eq!(
            m[0].freeze, None,
            "the first frame of a freeze is not a repeat"
        );
        assert_eq!(m[1].freeze, Some(Severity::Minor));
        assert_eq!((m[1].made, m[1].sources), (Made::Synthesised, (0, Some(1))));
        assert_eq!(m[2].freeze, None);
        assert_eq!(m[3].dropped, 1, "frame 2 is never shown");
        assert!(m[4].cut && m[4].guarded && !m[3].cut);
        assert!(m[5].repeated && !m[3].repeated);
        assert!((m[3].time - 0.12).abs() < 1e-9);
    }
}
