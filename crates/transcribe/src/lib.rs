//! `transcribe`: speech to words with times, with Whisper (whisper.cpp via whisper-rs).
//!
//! Models are GGML files from the weights store (`vantage weights fetch
//! tiny.en`) or a path. A model is loaded once per process and shared by every
//! run (see [`model::load`]). Word times come from whisper.cpp's DTW over the
//! model's alignment heads, which track word boundaries far better than the
//! timestamp-token heuristic (see `shared/notes/whisper-facts.md`).
//!
//! * `encoder`: the encoder's inner states, features for alignment.
//! * `model`: loading GGML models, kept within a memory budget.
//! * `words`: running Whisper and turning its tokens into timed words.
//! * `stage`: the `transcribe` stage.

pub mod encoder;
mod model;
mod stage;
mod words;

pub use model::{load, set_model_budget, Device, Model};
pub use stage::Transcribe;
pub use words::{transcribe, transcribe_speech, Options};

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    BadOption(String),
    #[error("whisper failed: {0}")]
    Whisper(String),
    #[error("cancelled")]
    Cancelled,
}

/// Threads for whisper.cpp when the user does not say: one core is left
/// free, because ggml's workers busy-wait at barriers and a run with as many
/// threads as cores slows down many times over when anything else competes.
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).clamp(1, 8)
}
