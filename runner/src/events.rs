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

pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;
