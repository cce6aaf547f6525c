//! Loading Whisper models, once per process, kept within a memory budget.

use crate::TranscribeError;
use std::path::Path;
use std::sync::{Arc, Once};
use vantage_core::loaded::Loaded;
use vantage_weights::whisper::{read_hparams, HParams};
use whisper_rs::{
    DtwMode, DtwModelPreset, DtwParameters, WhisperContext, WhisperContextParameters,
};

/// A loaded model, shared by every transcription in the process.
pub struct Model {
    pub ctx: WhisperContext,
    pub hparams: HParams,
    /// Whether word times come from DTW over the alignment heads.
    pub dtw: bool,
}

impl Model {
    pub fn english_only(&self) -> bool {
        !self.hparams.is_multilingual()
    }
}

/// Models loaded in this process, within a memory budget (see [`set_model_budget`]).
static LOADED: Loaded<Model> = Loaded::new(vantage_core::loaded::DEFAULT_BUDGET);

/// Bytes of loaded Whisper models the process keeps (least recently used go first).
pub fn set_model_budget(bytes: u64) {
    LOADED.set_budget(bytes);
}

/// Load the GGML model at `path` (whose blake3 is `digest`), or return the
/// copy already loaded. `dtw` selects DTW word timestamps, which are fixed
/// when the model is loaded. Two runs asking at once load it once.
pub fn load(path: &Path, digest: &str, dtw: bool) -> Result<Arc<Model>, TranscribeError> {
    static LOGGING: Once = Once::new();
    LOGGING.call_once(whisper_rs::install_logging_hooks);
    let key = format!("{}|{digest}|{dtw}", path.display());
    // The GGML file's size stands for the model's memory.
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    LOADED.get_or_load(&key, bytes, || read_model(path, dtw))
}

fn read_model(path: &Path, dtw: bool) -> Result<Model, TranscribeError> {
    let mut head = [0u8; 48];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map_err(|e| {
            TranscribeError::Model(format!("cannot read the model {}: {e}", path.display()))
        })?;
    let hparams = read_hparams(&head)
        .map_err(|e| TranscribeError::Model(format!("{}: {e}", path.display())))?;
    let mut params = WhisperContextParameters::default();
    params.use_gpu(cfg!(feature = "cuda"));
    // Flash attention would silently disable DTW timestamps.
    params.flash_attn(false);
    if dtw {
        params.dtw_parameters(DtwParameters {
            mode: alignment_heads(&hparams),
            ..DtwParameters::default()
        });
    }
    let utf8 = path.to_str().ok_or_else(|| {
        TranscribeError::Model(format!("model path {} is not UTF-8", path.display()))
    })?;
    let ctx = WhisperContext::new_with_params(utf8, params).map_err(|e| {
        TranscribeError::Model(format!(
            "whisper.cpp could not load {}: {e}",
            path.display()
        ))
    })?;
    Ok(Model { ctx, hparams, dtw })
}

/// The alignment-head preset for the model's size, recognised from its shape.
fn alignment_heads(hp: &HParams) -> DtwMode<'static> {
    use DtwModelPreset::*;
    let en = !hp.is_multilingual();
    let preset = match (
        hp.n_audio_state,
        hp.n_audio_layer,
        hp.n_text_layer,
        hp.n_mels,
    ) {
        (384, 4, _, _) => Some(if en { TinyEn } else { Tiny }),
        (512, 6, _, _) => Some(if en { BaseEn } else { Base }),
        (768, 12, _, _) => Some(if en { SmallEn } else { Small }),
        (1024, 24, _, _) => Some(if en { MediumEn } else { Medium }),
        (1280, 32, 4, _) => Some(LargeV3Turbo),
        (1280, 32, _, 128) => Some(LargeV3),
        (1280, 32, _, _) => Some(LargeV2),
        _ => None,
    };
    match preset {
        Some(model_preset) => DtwMode::ModelPreset { model_preset },
        // An unknown shape: the top half of the decoder's layers.
        None => DtwMode::TopMost {
            n_top: (hp.n_text_layer / 2).max(1),
        },
    }
}
