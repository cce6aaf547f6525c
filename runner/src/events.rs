//! Progress events, for progress bars, `--json` output and server logs.

use serde::Serialize;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// Inputs are ready; waiting for a CPU/GPU slot.
    Queued {
        stage: String,
        key: String,
    },
    Started {
        stage: String,
    },
    Progress {
        stage: String,
        percent: f32,
        message: String,
    },
    /// Outputs reused from the cache.
    Cached {
        stage: String,
    },
    Done {
        stage: String,
        seconds: f64,
        message: String,
    },
    Failed {
        stage: String,
        error: String,
    },
    /// What the remote cache tier did for a stage (a hit, a damaged entry
    /// skipped, an upload that failed).
    Remote {
        stage: String,
        message: String,
    },
    /// Dry run: the stage is not in the cache (or depends on one that is not).
    WouldRun {
        stage: String,
    },
    Finished {
        seconds: f64,
        ran: usize,
        cached: usize,
    },
}

impl Event {
    /// One line for a person, or `None` for the events too frequent to
    /// print (queued, progress).
    pub fn describe(&self) -> Option<String> {
        Some(match self {
            Event::Queued { .. } | Event::Progress { .. } => return None,
            Event::Started { stage } => format!("{stage}: started"),
            Event::Cached { stage } => format!("{stage}: cached"),
            Event::WouldRun { stage } => format!("{stage}: would run"),
            Event::Remote { stage, message } => format!("{stage}: {message}"),
            Event::Done {
                stage,
                seconds,
                message,
            } if message.is_empty() => format!("{stage}: done in {seconds:.2}s"),
            Event::Done {
                stage,
                seconds,
                message,
            } => format!("{stage}: done in {seconds:.2}s ({message})"),
            Event::Failed { stage, error } => format!("{stage}: FAILED: {error}"),
            Event::Finished {
                seconds,
                ran,
                cached,
            } => format!("finished in {seconds:.2}s: {ran} ran, {cached} cached"),
        })
    }
}

pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;
