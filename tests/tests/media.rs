//! Media as real encoders write it: B-frames (x264 `medium`, HEVC), whose
//! composition offsets and edit lists the VFR restamper must carry.

use std::path::{Path, PathBuf};
use std::process::Command;
use vantage_core::warp::parse_timecodes_v2;
use vantage_e2e::tools::{self, s, slowed_clip};
use vantage_e2e::vantage::{run, stderr, sync_args};

/// `source` re-encoded with `codec` args (audio copied).
fn reencode(source: &Path, name: &str, codec: &[&str]) -> PathBuf {
    let out = source.with_file_name(name);
    let mut args = vec!["-i", s(source)];
    args.extend_from_slice(codec);
    args.extend(["-pix_fmt", "yuv420p", "-c:a", "copy", s(&out)]);
    tools::ffmpeg(&args);
    out
}

/// The video stream's packets in decode order: (pts, md5 of the bytes).
fn packets(video: &Path) -> Vec<String> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i", s(video), "-map", "0:v:0", "-c", "copy"])
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
        .collect()
}

/// Presentation times (ms) of the frames a player shows, edit lists applied.
fn shown_ms(video: &Path) -> Vec<f64> {
    let j = tools::probe_json(
        video,
        &["-select_streams", "v:0", "-show_entries", "frame=pts_time"],
    );
    j["frames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["pts_time"].as_str()?.parse::<f64>().ok())
        .map(|t| t * 1000.0)
        .collect()
}

fn has_b_frames(video: &Path) -> bool {
    let j = tools::probe_json(
        video,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=has_b_frames",
        ],
    );
    j["streams"][0]["has_b_frames"].as_u64().unwrap_or(0) > 0
}

#[test]
fn vfr_keeps_b_frame_pictures_byte_for_byte_at_the_new_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (plain, target) = slowed_clip(dir.path());
    let medium = reencode(
        &plain,
        "x264-medium.mp4",
        &["-c:v", "libx264", "-preset", "medium", "-bf", "3"],
    );
    // Cut without re-encoding: the copy starts at an earlier keyframe and
    // its edit list trims the frames before the cut (decoders drop them).
    let trimmed = plain.with_file_name("trimmed.mp4");
    tools::ffmpeg(&["-ss", "0.5", "-i", s(&medium), "-c", "copy", s(&trimmed)]);
    let sources = [
        medium,
        trimmed,
        reencode(
            &plain,
            "hevc.mp4",
            &[
                "-c:v",
                "libx265",
                "-preset",
                "fast",
                "-x265-params",
                "log-level=error",
            ],
        ),
    ];
    // Rendered (not restamped), the trimmed copy's frames are the ones its
    // decoder gives: the plan counts no trimmed packet.
    let out = dir.path().join("trimmed-render.mp4");
    let args = sync_args(&sources[1], &target, &out, &[]);
    let o = run(&dir.path().join("cache"), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    for source in &sources {
        assert!(has_b_frames(source), "{} has B-frames", source.display());
        let out = source.with_extension("vfr.mp4");
        let tc = source.with_extension("txt");
        let args = sync_args(
            source,
            &target,
            &out,
            &["--mode", "vfr", "--timecodes", s(&tc)],
        );
        let o = run(&dir.path().join("cache"), &args);
        assert!(o.status.success(), "{}: {}", source.display(), stderr(&o));

        // Not re-encoded: every picture packet, in decode order, as it was.
        assert_eq!(packets(source), packets(&out), "{}", source.display());

        // Each frame shows at its timecode (frames the warp puts before the
        // target's start, or past its end, are kept but not shown).
        let timecodes =
            parse_timecodes_v2(&std::fs::read_to_string(&tc).expect("tc")).expect("timecodes");
        let shown = shown_ms(&out);
        let expected: Vec<f64> = timecodes.iter().copied().filter(|&t| t >= 0.0).collect();
        assert!(
            !shown.is_empty() && shown.len() <= expected.len() && shown.len() + 2 >= expected.len(),
            "{}: {} frames shown, {} timecodes",
            source.display(),
            shown.len(),
            expected.len()
        );
        for (k, (got, want)) in shown.iter().zip(&expected).enumerate() {
            assert!(
                (got - want).abs() <= 1.0,
                "{} frame {k}: shown at {got:.1} ms, timecode {want:.1} ms",
                source.display()
            );
        }
    }
}

#[test]
fn a_render_that_runs_out_of_decoded_frames_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let video = dir.path().join("one-second.mp4");
    tools::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=24",
        "-t",
        "1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        s(&video),
    ]);
    // A plan made for twice the frames the file decodes to.
    let plan = dir.path().join("plan.json");
    let positions: Vec<f64> = (0..48).map(f64::from).collect();
    let body = serde_json::json!({
        "fps": {"num": 24, "den": 1}, "width": 160, "height": 120,
        "source_frames": 48, "positions": positions,
    });
    std::fs::write(&plan, body.to_string()).expect("plan");
    let pipeline = dir.path().join("render.yaml");
    std::fs::write(
        &pipeline,
        "inputs:\n  video: video\n  plan: frame-plan\nstages:\n  render:\n    uses: interpolate\n    inputs: { video: inputs.video, plan: inputs.plan }\n    params: { mode: off }\noutputs:\n  video: render.video\n",
    )
    .expect("pipeline");
    let out = dir.path().join("out.mp4");
    let o = run(
        &dir.path().join("cache"),
        &[
            "run",
            s(&pipeline),
            "-i",
            &format!("video={}", video.display()),
            "-i",
            &format!("plan={}", plan.display()),
            "-o",
            &format!("video={}", out.display()),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("one-second.mp4 decodes to 24 frames but its packets count 48"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

#[test]
fn a_long_silent_tail_is_not_heard_as_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (video, target) = slowed_clip(dir.path());
    // Two minutes of silence after the narration: Whisper, given them,
    // hears hundreds of words that are not there.
    let tail = dir.path().join("tail.wav");
    tools::ffmpeg(&["-i", s(&target), "-af", "apad=pad_dur=120", s(&tail)]);
    let out = dir.path().join("out.mp4");
    let o = run(
        &dir.path().join("cache"),
        &sync_args(&video, &tail, &out, &[]),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (want, got) = (tools::duration(&tail), tools::duration(&out));
    assert!(
        (want - got).abs() < 0.1,
        "output {got:.2} s for a {want:.2} s target"
    );
}
