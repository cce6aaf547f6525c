//! The `interpolate` stage.

use crate::{render_piece, render_segmented, Mode, RenderOptions};
use candle_core::{DType, Device};
use serde_json::json;
use vantage_core::{
    FramePlan, ParamKind, ParamSpec, Params, Port, PortType, Ports, Resources, Stage, StageContext,
    StageError,
};
use vantage_media::EncodeSettings;
use vantage_rife as rife;
use vantage_weights::{Installed, Kind, Store};

/// The `interpolate` stage, finding RIFE's weights in `weights`.
pub struct Interpolate {
    weights: Store,
}

impl Interpolate {
    pub fn new(weights: Store) -> Self {
        Self { weights }
    }

    fn resolve(&self, params: &Params) -> Result<Installed, StageError> {
        let name = params
            .get("model")
            .and_then(|v| v.as_str())
            .unwrap_or("rife");
        Ok(self.weights.resolve(name, Kind::Rife)?)
    }

    /// Load the RIFE weights `name` on `device` (as the stage would) and
    /// synthesise one small frame, so that a server's first request pays
    /// for neither.
    pub fn warm_up(&self, name: &str, device: &str) -> Result<(), StageError> {
        let w = self.weights.resolve(name, Kind::Rife)?;
        let device = rife::device(device).map_err(StageError::InvalidInput)?;
        let model = rife::shared(&w.path, &w.blake3, &device, DType::F32).map_err(|e| {
            StageError::MissingWeights {
                message: format!("{}: {e}", w.path.display()),
                fetch: None,
            }
        })?;
        let frame = candle_core::Tensor::zeros((1, 3, 64, 64), candle_core::DType::F32, &device)
            .and_then(|a| model.interpolate(&a, &a, 0.5))
            .map_err(|e| StageError::internal(format!("RIFE warm-up: {e}")))?;
        drop(frame);
        Ok(())
    }
}

const MODES: &[&str] = &["off", "blend", "adaptive", "precision", "maximum"];

/// Where RIFE runs and in what precision, checked against this build and machine.
fn device_and_precision(params: &Params) -> Result<(Device, DType), StageError> {
    let text = |name: &str, default| params.get(name).and_then(|v| v.as_str()).unwrap_or(default);
    let device = rife::device(text("device", "cpu")).map_err(StageError::InvalidInput)?;
    let dtype =
        rife::precision(text("precision", "f32"), &device).map_err(StageError::InvalidInput)?;
    Ok((device, dtype))
}

fn mode(params: &Params) -> Mode {
    params
        .get("mode")
        .and_then(|v| v.as_str())
        .and_then(Mode::parse)
        .unwrap_or(Mode::Adaptive)
}

impl Stage for Interpolate {
    fn kind(&self) -> &'static str {
        "interpolate"
    }
    fn version(&self) -> u32 {
        6
    }
    fn describe(&self) -> &'static str {
        "render a frame plan: copy exact frames, synthesise fractional ones (RIFE or blend, never across a cut), encode once (H.264); log how each frame was made"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                "mode",
                ParamKind::Choice(MODES),
                json!("adaptive"),
                "off: nearest frame; blend: cross-fade; adaptive: RIFE where the nearest frame would repeat; precision: RIFE at every position off a real frame; maximum: precision, computed both ways and averaged",
            ),
            ParamSpec::new(
                "tolerance",
                ParamKind::Float { min: 0.0, max: 0.5 },
                json!(0.05),
                "positions this close (in frames) to a real frame show it",
            ),
            ParamSpec::new(
                "cut_threshold",
                ParamKind::Float { min: 1.0, max: 255.0 },
                json!(30.0),
                "mean luma difference (0-255) between consecutive frames above which they are a scene cut, never synthesised across",
            ),
            ParamSpec::new(
                "model",
                ParamKind::Text,
                json!("rife"),
                "installed RIFE weights (see `vantage weights list`) or the path of a flownet.pkl",
            ),
            ParamSpec::new(
                "segment_seconds",
                ParamKind::Float { min: 0.0, max: 3600.0 },
                json!(30.0),
                "render in segments of about this many seconds, each cached on its own (a killed run resumes from them) and joined without re-encoding; 0: one piece",
            ),
            ParamSpec::new(
                "device",
                ParamKind::Choice(&["cpu", "cuda"]),
                json!("cpu"),
                "where RIFE runs (cuda needs a build with --features cuda)",
            ),
            ParamSpec::new(
                "precision",
                ParamKind::Choice(&["f32", "f16"]),
                json!("f32"),
                "what RIFE computes in: f16 halves the GPU's memory traffic and uses its tensor cores (device cuda only)",
            ),
        ]
        .into_iter()
        .chain(EncodeSettings::params(18))
        .collect()
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![
                Port::required("video", PortType::Video),
                Port::required("plan", PortType::FramePlan),
            ],
            outputs: vec![
                Port::required("video", PortType::Video),
                Port::required("log", PortType::RenderLog),
            ],
        }
    }
    fn resources(&self, params: &Params) -> Resources {
        let rife = mode(params).uses_rife();
        let gpu = rife && params.get("device").and_then(|v| v.as_str()) == Some("cuda");
        // RIFE on the CPU keeps every core it is given busy; otherwise the
        // decoder, this loop and the encoder run in parallel.
        let cpu = if rife && !gpu { usize::MAX } else { 2 };
        Resources { cpu, gpu }
    }
    fn weight_digests(&self, params: &Params) -> Result<Vec<String>, StageError> {
        if !mode(params).uses_rife() {
            return Ok(Vec::new());
        }
        device_and_precision(params)?;
        Ok(vec![self.resolve(params)?.blake3])
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let render = self.prepare(ctx)?;
        let output = ctx.output("video")?;
        let info = vantage_media::probe(render.source)?;
        for note in info.require_video(render.source)?.render_notes() {
            tracing::warn!(stage = %ctx.stage_name, "{note}");
        }
        let seconds = ctx.param_f64("segment_seconds")?;
        let log = render.pool.install(|| {
            render_segmented(
                render.source,
                &render.plan,
                &render.opts,
                &render.settings,
                output,
                ctx,
                seconds,
            )
        })?;
        ctx.write_json("log", &log)?;
        let cuts = if log.cuts.is_empty() {
            "no cuts".to_string()
        } else {
            let list: Vec<String> = log.cuts.iter().map(|c| format!("{c}|{}", c + 1)).collect();
            format!(
                "cuts between source frames {} ({} frames kept whole)",
                list.join(", "),
                log.guarded()
            )
        };
        ctx.report(
            1.0,
            &format!(
                "{} frames, {} synthesised, {cuts}",
                log.frames.len(),
                log.synthesised()
            ),
        );
        Ok(())
    }
    fn run_piece(&self, ctx: &StageContext, piece: &serde_json::Value) -> Result<(), StageError> {
        let render = self.prepare(ctx)?;
        let seconds = ctx.param_f64("segment_seconds")?;
        render.pool.install(|| {
            render_piece(
                render.source,
                &render.plan,
                &render.opts,
                &render.settings,
                ctx,
                seconds,
                piece,
            )
        })
    }
}

/// What a render (whole or one piece) needs, read from the stage's context.
struct Prepared<'c> {
    source: &'c std::path::Path,
    plan: FramePlan,
    opts: RenderOptions,
    settings: EncodeSettings,
    /// RIFE's kernels run on a pool of exactly the threads this run was
    /// granted, not rayon's global pool of every core.
    pool: rayon::ThreadPool,
}

impl Interpolate {
    fn prepare<'c>(&self, ctx: &'c StageContext) -> Result<Prepared<'c>, StageError> {
        let plan: FramePlan = ctx.read_json("plan")?;
        let mode = mode(&ctx.params);
        let model = if mode.uses_rife() {
            let w = self.resolve(&ctx.params)?;
            let (device, dtype) = device_and_precision(&ctx.params)?;
            ctx.report(0.0, "loading RIFE");
            Some(
                rife::shared(&w.path, &w.blake3, &device, dtype).map_err(|e| {
                    StageError::MissingWeights {
                        message: format!("{}: {e}", w.path.display()),
                        fetch: None,
                    }
                })?,
            )
        } else {
            None
        };
        let opts = RenderOptions {
            mode,
            tolerance: ctx.param_f64("tolerance")?,
            cut_threshold: ctx.param_f64("cut_threshold")?,
            model,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(ctx.threads.max(1))
            .thread_name(|i| format!("rife-{i}"))
            .build()
            .map_err(|e| StageError::internal(format!("starting RIFE's threads: {e}")))?;
        Ok(Prepared {
            source: ctx.input("video")?,
            plan,
            opts,
            settings: EncodeSettings::from_stage(ctx)?,
            pool,
        })
    }
}
