//! Loading Whisper models, once per process, kept within a memory budget.

use crate::encoder::{Encoder, STATE_BLOCKS};
use crate::TranscribeError;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once, OnceLock};
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
    path: PathBuf,
    encoder: OnceLock<Encoder>,
}

impl Model {
    pub fn english_only(&self) -> bool {
        !self.hparams.is_multilingual()
    }

    /// The first [`STATE_BLOCKS`] blocks of this model's encoder on
    /// candle, read from its file on first use and kept with it.
    pub fn encoder(&self) -> Result<&Encoder, TranscribeError> {
        if let Some(encoder) = self.encoder.get() {
            return Ok(encoder);
        }
        let encoder = Encoder::load(&self.path, STATE_BLOCKS)?;
        Ok(self.encoder.get_or_init(|| encoder))
    }
}

/// Models loaded in this process, within a memory budget (see [`set_model_budget`]).
static LOADED: Loaded<Model> = Loaded::new(vantage_core::loaded::DEFAULT_BUDGET);

/// Bytes of loaded Whisper models the process keeps (least recently used go first).
pub fn set_model_budget(bytes: u64) {
    LOADED.set_budget(bytes);
}

/// Where whisper.cpp runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    #[default]
    Cpu,
    /// The first CUDA GPU (builds with the `cuda` feature).
    Cuda,
}

impl Device {
    /// `cpu` or `cuda`; `cuda` only where this build has it and a GPU answers.
    pub fn parse(name: &str) -> Result<Device, String> {
        match name {
            "cpu" => Ok(Device::Cpu),
            "cuda" if cfg!(feature = "cuda") => gpu_present().map(|()| Device::Cuda),
            "cuda" => Err(vantage_core::NO_CUDA_BUILD.into()),
            other => Err(format!("unknown device '{other}' (cpu or cuda)")),
        }
    }
}

/// Whether ggml found a GPU: whisper.cpp itself would quietly run on the
/// CPU instead, hours slower, where the user asked for the GPU.
#[cfg(feature = "cuda")]
fn gpu_present() -> Result<(), String> {
    use whisper_rs_sys as ggml;
    // SAFETY: the registry is built once by ggml and only read here.
    let gpus = unsafe {
        (0..ggml::ggml_backend_dev_count())
            .map(|i| ggml::ggml_backend_dev_type(ggml::ggml_backend_dev_get(i)))
            .filter(|&t| t == ggml::ggml_backend_dev_type_GGML_BACKEND_DEVICE_TYPE_GPU)
            .count()
    };
    match gpus {
        0 => Err("no usable CUDA device: whisper.cpp found no GPU (is the NVIDIA driver loaded and the GPU visible here? `nvidia-smi` should list it); use device cpu".into()),
        _ => Ok(()),
    }
}

#[cfg(not(feature = "cuda"))]
fn gpu_present() -> Result<(), String> {
    Err(vantage_core::NO_CUDA_BUILD.into())
}

/// Load the GGML model at `path` (whose blake3 is `digest`) on `device`, or
/// return the copy already loaded. `dtw` selects DTW word timestamps, which
/// are fixed when the model is loaded. Two runs asking at once load it once.
pub fn load(
    path: &Path,
    digest: &str,
    dtw: bool,
    device: Device,
) -> Result<Arc<Model>, TranscribeError> {
    static LOGGING: Once = Once::new();
    LOGGING.call_once(whisper_rs::install_logging_hooks);
    let key = format!("{}|{digest}|{dtw}|{device:?}", path.display());
    // The GGML file's size stands for the model's memory.
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    LOADED.get_or_load(&key, bytes, || read_model(path, dtw, device))
}

fn read_model(path: &Path, dtw: bool, device: Device) -> Result<Model, TranscribeError> {
    let mut head = [0u8; 48];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map_err(|e| {
            TranscribeError::Model(format!("cannot read the model {}: {e}", path.display()))
        })?;
    let hparams = read_hparams(&head)
        .map_err(|e| TranscribeError::Model(format!("{}: {e}", path.display())))?;
    let mut params = WhisperContextParameters::default();
    params.use_gpu(device == Device::Cuda);
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
    Ok(Model {
        ctx,
        hparams,
        dtw,
        path: path.to_path_buf(),
        encoder: OnceLock::new(),
    })
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
