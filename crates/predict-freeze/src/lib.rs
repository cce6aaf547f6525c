//! `predict-freeze`: which output frames would repeat under nearest-frame
//! resampling, grouped into runs with a severity. Pure arithmetic on the
//! frame plan: no pixels are read.

use vantage_core::{
    FramePlan, FreezePlan, FreezeSegment, ParamSpec, Params, Port, PortType, Ports, Severity,
    Stage, StageContext, StageError,
};

/// Find the freezes of a frame plan.
pub fn predict(plan: &FramePlan) -> FreezePlan {
    let fps = plan.fps.as_f64();
    let nearest: Vec<usize> = plan.nearest_frames().collect();
    let mut segments = Vec::new();
    let mut k = 0;
    while k < nearest.len() {
        let start = k;
        while k + 1 < nearest.len() && nearest[k + 1] == nearest[start] {
            k += 1;
        }
        let frames = k - start + 1;
        if frames >= 2 {
            segments.push(FreezeSegment {
                start_frame: start,
                frames,
                source_frame: nearest[start],
                start_s: start as f64 / fps,
                duration_s: frames as f64 / fps,
                severity: Severity::of_run(frames),
            });
        }
        k += 1;
    }
    let mut shown = vec![false; plan.source_frames];
    for &n in &nearest {
        if let Some(s) = shown.get_mut(n) {
            *s = true;
        }
    }
    // Frames before the first and after the last shown one are trimmed, not dropped.
    let first = nearest.first().copied().unwrap_or(0);
    let last = nearest.last().copied().unwrap_or(0);
    let dropped = (first..=last)
        .filter(|&i| shown.get(i).is_some_and(|s| !s))
        .count();
    FreezePlan {
        fps: plan.fps,
        output_frames: nearest.len(),
        repeated_frames: segments.iter().map(|s| s.frames - 1).sum(),
        dropped_frames: dropped,
        segments,
    }
}

pub struct PredictFreeze;

impl Stage for PredictFreeze {
    fn kind(&self) -> &'static str {
        "predict-freeze"
    }
    fn version(&self) -> u32 {
        2
    }
    fn describe(&self) -> &'static str {
        "list the output frames a nearest-frame render of the plan would repeat, with severity"
    }
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![Port::required("plan", PortType::FramePlan)],
            outputs: vec![Port::required("freezes", PortType::FreezePlan)],
        }
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let plan: FramePlan = ctx.read_json("plan")?;
        let freezes = predict(&plan);
        ctx.write_json("freezes", &freezes)?;
        ctx.report(
            1.0,
            &format!(
                "{} repeated frames in {} runs",
                freezes.repeated_frames,
                freezes.segments.len()
            ),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vantage_core::Rational;

    fn plan(positions: Vec<f64>, source_frames: usize) -> FramePlan {
        FramePlan {
            fps: Rational { num: 10, den: 1 },
            width: 2,
            height: 2,
            source_frames,
            positions,
        }
    }

    #[test]
    fn finds_runs_and_drops() {
        // 0, 0.4 -> frame 0 twice; 1.0..1.4 -> frame 1 five times; 3, 4: frame 2 dropped.
        let p = plan(vec![0.0, 0.4, 1.0, 1.1, 1.2, 1.3, 1.4, 3.0, 4.0], 5);
        let f = predict(&p);
        assert_eq!(f.output_frames, 9);
        assert_eq!(f.segments.len(), 2);
        assert_eq!(
            (
                f.segments[0].start_frame,
                f.segments[0].frames,
                f.segments[0].severity
            ),
            (0, 2, Severity::Minor)
        );
        assert_eq!(
            (
                f.segments[1].start_frame,
                f.segments[1].frames,
                f.segments[1].severity
            ),
            (2, 5, Severity::Severe)
        );
        assert!((f.segments[1].start_s - 0.2).abs() < 1e-12);
        assert_eq!(f.repeated_frames, 5);
        assert_eq!(f.dropped_frames, 1);
    }

    #[test]
    fn identity_has_no_freezes() {
        let f = predict(&plan((0..50).map(|i| i as f64).collect(), 50));
        assert!(f.segments.is_empty());
        assert_eq!((f.repeated_frames, f.dropped_frames), (0, 0));
    }
}
