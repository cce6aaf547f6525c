use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0}: no such file")]
    NotFound(PathBuf),
    #[error("{path}: not a media file ffmpeg can read ({detail})")]
    NotMedia { path: PathBuf, detail: String },
    #[error("{0}: has no video stream; pass a video file as the source")]
    NoVideo(PathBuf),
    #[error("{0}: has no audio stream; the source must carry the speech its picture shows, the target the new narration")]
    NoAudio(PathBuf),
    #[error("{0}: the {1} stream is empty (zero length)")]
    Empty(PathBuf, &'static str),
    #[error("{path}: the file is cut short ({detail}): an interrupted download or copy? Pass the whole file")]
    Truncated { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Unsupported { path: PathBuf, detail: String },
    #[error(
        "ffmpeg is not installed or not on PATH ({0}); install it (Debian: apt-get install ffmpeg)"
    )]
    MissingTool(String),
    #[error("{what} failed: {detail}")]
    Tool { what: String, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("cancelled")]
    Cancelled,
}

impl MediaError {
    /// About the file itself (missing, unreadable, cut short, lacking a
    /// stream), not about ffmpeg or the machine.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            MediaError::NotFound(_)
                | MediaError::NotMedia { .. }
                | MediaError::NoVideo(_)
                | MediaError::NoAudio(_)
                | MediaError::Empty(..)
                | MediaError::Truncated { .. }
                | MediaError::Unsupported { .. }
        )
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> MediaError {
        let context = context.into();
        move |source| MediaError::Io { context, source }
    }
}

impl From<MediaError> for vantage_core::StageError {
    fn from(e: MediaError) -> Self {
        use vantage_core::StageError;
        match e {
            MediaError::Cancelled => StageError::Cancelled,
            MediaError::MissingTool(_) | MediaError::Tool { .. } => StageError::Tool(e.to_string()),
            MediaError::Io { context, source } => StageError::Io { context, source },
            // Everything else is about the file (`is_input`).
            _ => StageError::InvalidInput(e.to_string()),
        }
    }
}
