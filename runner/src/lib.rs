//! The pipeline runner.
//!
//! ```text
//! YAML --parse--> PipelineFile --validate(Registry)--> Pipeline (petgraph DAG)
//!      --execute(Cache)--> stage runs on tokio, within CPU/GPU slots, emitting Events
//! ```
//!
//! A stage whose cache key (type, version, params, input digests, weight
//! digests) is already in the cache is not run: its stored outputs are reused.

mod events;
mod exec_stage;
mod execute;
mod locate;
mod pipeline;
mod registry;

pub use events::{Event, EventSink};
pub use exec_stage::Exec;
pub use execute::{
    deliver, execute, Force, RunError, RunOptions, RunOutcome, StageOutcome, StageStatus,
};
pub use pipeline::{
    Override, Pipeline, PipelineError, PipelineErrors, PipelineInput, Source, StageNode,
};
pub use registry::{InputCheck, Registry};
