//! `retime`: decide what every output frame shows.
//!
//! * `retime` writes a [`FramePlan`]: for every output frame at a constant
//!   output rate, the fractional source frame it should show. The
//!   `interpolate` stage renders it (nearest frame, blend, ...).
//! * `retime-vfr` keeps every source frame and only gives it a new timestamp
//!   (from the timecodes), rewriting the MP4 without re-encoding.

use serde_json::json;
use vantage_core::warp::parse_timecodes_v2;
use vantage_core::{
    Alignment, FramePlan, ParamKind, ParamSpec, Params, Port, PortType, Ports, Stage, StageContext,
    StageError,
};
use vantage_media::{frame_times, probe, restamp_video};

pub struct Retime;

impl Stage for Retime {
    fn kind(&self) -> &'static str {
        "retime"
    }
    fn version(&self) -> u32 {
        1
    }
    fn describe(&self) -> &'static str {
        "frame plan: the fractional source frame each constant-rate output frame shows"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::new(
            "fps",
            ParamKind::Rate,
            json!("source"),
            "output frame rate",
        )]
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![Port::required("alignment", PortType::Alignment)],
            outputs: vec![Port::required("plan", PortType::FramePlan)],
        }
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let alignment: Alignment = ctx.read_json("alignment")?;
        let fps = ctx.param_rate("fps", alignment.video.fps)?;
        let plan = FramePlan::from_alignment(&alignment, fps);
        ctx.write_json("plan", &plan)?;
        ctx.report(
            1.0,
            &format!("{} output frames at {fps} fps", plan.positions.len()),
        );
        Ok(())
    }
}

pub struct RetimeVfr;

impl Stage for RetimeVfr {
    fn kind(&self) -> &'static str {
        "retime-vfr"
    }
    fn version(&self) -> u32 {
        2
    }
    fn describe(&self) -> &'static str {
        "stamp the timecodes onto the source frames (variable frame rate, no picture re-encode), with the audio alongside"
    }
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![
                Port::required("video", PortType::Video),
                Port::required("timecodes", PortType::Timecodes),
                Port::optional("audio", PortType::Audio),
            ],
            outputs: vec![Port::required("video", PortType::Video)],
        }
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let video = ctx.input("video")?;
        let info = probe(video)?;
        let stream = info.require_video(video)?;
        let frames = frame_times(video, stream, &ctx.cancel)?.frame_count();
        let tc_path = ctx.input("timecodes")?;
        let text = std::fs::read_to_string(tc_path)
            .map_err(StageError::io(format!("reading {}", tc_path.display())))?;
        let timecodes = parse_timecodes_v2(&text)
            .map_err(|e| StageError::InvalidInput(format!("{}: {e}", tc_path.display())))?;
        if timecodes.len() != frames {
            return Err(StageError::InvalidInput(format!(
                "{} lists {} frames but {} has {frames}",
                tc_path.display(),
                timecodes.len(),
                video.display()
            )));
        }
        let audio = ctx.optional_input("audio");
        if let Some(a) = audio {
            probe(a)?.require_audio(a)?;
        }
        restamp_video(
            video,
            stream.index,
            &timecodes,
            audio,
            ctx.output("video")?,
            &ctx.cancel,
        )?;
        Ok(())
    }
}
