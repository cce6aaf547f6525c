//! `render-diagnostic`: a video that shows, frame by frame, what the
//! re-timing did, for a person who must decide quickly whether the output
//! can be trusted.
//!
//! Three panels, each labelled: (1) the nearest-frame render (what the
//! picture would be with no repair: repeats visible), (2) the same with
//! repeated frames outlined in their freeze's severity colour, dropped
//! source frames and scene cuts flagged, (3) the delivered render with
//! synthesised frames outlined. Every frame carries its output time, the
//! fractional source position and the source frame(s) it shows.
//!
//! Each input is decoded once, already downscaled by ffmpeg; encoded in
//! segments of about `segment_seconds` (cached one by one, made by peers
//! too) and joined without re-encoding; memory is a few frames whatever the
//! length. The labels are burned in by
//! ffmpeg's `ass` filter (libass) with the system's DejaVu Sans.
//!
//! * `marks`: what each output frame is (repeat, drop, cut, how it was made), from the JSON artifacts alone.
//! * `canvas`: panels into one YUV frame, outlines and bars in colour.
//! * `labels`: the ASS subtitle file with every frame's text.
//! * `render`: the panels' geometry and the frame loop, whole or in segments.
//! * `stage`: the stage: checks, labels, segments joined, audio muxed.

mod canvas;
mod labels;
mod marks;
mod render;
mod stage;

pub use stage::RenderDiagnostic;
