//! The pipeline runner.
//!
//! ```text
//! YAML --parse--> PipelineFile --validate(Registry)--> Pipeline (petgraph DAG)
//!      --Engine::run--> stage runs on tokio, within the process's CPU/GPU slots, emitting Events
//! ```
//!
//! A stage whose cache key (type, version, params, input digests, weight
//! digests) is already in the cache is not run: its stored outputs are reused.
//!
//! * [`pipeline`]: YAML parsing and validation into a DAG, overrides.
//! * [`engine`]: the per-process engine (cache, slots, runs in flight) and run outcomes.
//! * `schedule`: one run's loop: admit, launch lightest first, collect.
//! * `stage_run`: one stage on a blocking thread, outputs into the cache.
//! * `prepare`: input and weights checks before anything runs.
//! * [`slots`]: the shared CPU/GPU slots.
//! * `inflight`: identical stage runs in flight at once run once.
//! * [`deliver`]: copying outputs to the user's paths.
//! * [`exec_stage`]: the `exec` stage (an external command).
//! * `pieces`: a run's pieces (a long render's segments) as cache entries.
//! * `peers`: pieces made on other replicas, and making them for others.

mod deliver;
pub mod engine;
mod events;
mod exec_stage;
mod inflight;
mod locate;
mod peers;
mod pieces;
pub mod pipeline;
mod prepare;
mod registry;
mod schedule;
pub mod slots;
mod stage_run;

pub use deliver::deliver;
pub use engine::{Engine, Force, RunError, RunOptions, RunOutcome, StageOutcome, StageStatus};
pub use events::{Event, EventSink};
pub use exec_stage::Exec;
pub use peers::{PeerLink, PieceRequest};
pub use pipeline::{
    Override, Pipeline, PipelineError, PipelineErrors, PipelineInput, Source, StageNode,
};
pub use registry::{InputCheck, Registry};
pub use slots::{Grant, Slots};
