//! Types shared by every Vantage crate.
//!
//! * [`warp`]: the monotone source↔target time map and its "timecode v2" form.
//! * [`artifacts`]: the small JSON artifacts that cross stage boundaries.
//! * [`stage`]: the interface a pipeline stage implements for the runner.

pub mod artifacts;
pub mod stage;
pub mod warp;

pub use artifacts::{
    Alignment, Confidence, FramePlan, FreezePlan, FreezeSegment, Rational, VideoInfo,
};
pub use stage::{
    CancelToken, ParamKind, ParamSpec, Params, Port, PortType, Ports, Progress, Resources, Stage,
    StageContext, StageError,
};
pub use warp::{Knot, Warp, WarpError};
