//! Vantage as a library: what every front end (the CLI, the server) calls.
//!
//! A front end parses its own arguments, builds a [`SyncRequest`] or loads a
//! pipeline, opens one [`Engine`] per process with [`open_engine`], and calls
//! [`run`]; it renders a [`Failure`] in its own terms (exit code and flags, or
//! HTTP status and JSON fields).
//!
//! * [`registry`]: every stage type this build can run, and the media pre-flight check.
//! * [`pipelines`]: the built-in pipelines and finding a pipeline by path or name.
//! * [`request`]: typed sync requests that become a pipeline plus overrides.
//! * [`run`]: output validation, execution and delivery.
//! * [`failure`]: what went wrong, whose fault it is, and the remedies.
//! * [`diagnostic`]: the warp plot and the HTML report beside a diagnostic video.
//! * [`peers`]: other replicas reached through the queue protocol, for pieces of long renders.
//! * [`summary`]: the numbers that describe a finished sync (frames made, confidence, timings).

pub mod diagnostic;
pub mod failure;
pub mod peers;
pub mod pipelines;
pub mod registry;
pub mod request;
mod run;
pub mod summary;

pub use failure::{Failure, Remedy};
pub use request::{Device, Mode, OnMismatch, SyncOutput, SyncRequest};
pub use run::{open_engine, run, validate_outputs, warm_up, AppError, EngineConfig, RunRequest};
pub use summary::Summary;
pub use vantage_runner::{Engine, Event, EventSink, Override, Pipeline, RunOptions, Slots};
