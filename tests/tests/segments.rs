//! Long renders in segments: the joined output has the frames and
//! timestamps of a whole render, and a run killed mid-render resumes from
//! the segments it finished.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use vantage_e2e::tools::{self, s, slowed_clip};
use vantage_e2e::vantage::{run, spawn_json, stderr, sync_args};

/// The video stream's frame timestamps, in its own time base.
fn pts(video: &Path) -> Vec<i64> {
    let j = tools::probe_json(
        video,
        &["-select_streams", "v:0", "-show_entries", "frame=pts"],
    );
    j["frames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["pts"].as_i64())
        .collect()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("reading")).expect("json")
}

#[test]
fn a_segmented_render_has_the_frames_and_timestamps_of_a_whole_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (video, target) = slowed_clip(dir.path());
    let cache = dir.path().join("cache");
    let render = |name: &str, seconds: &str| -> (PathBuf, PathBuf) {
        let out = dir.path().join(format!("{name}.mp4"));
        let frames = dir.path().join(format!("{name}.json"));
        let set = format!("interpolate.segment_seconds={seconds}");
        let args = sync_args(
            &video,
            &target,
            &out,
            &["--mode", "blend", "--set", &set, "--frames", s(&frames)],
        );
        let o = run(&cache, &args);
        assert!(o.status.success(), "{}", stderr(&o));
        (out, frames)
    };
    let (whole, whole_log) = render("whole", "0");
    let (joined, joined_log) = render("joined", "1");

    // The same frame made the same way at every output position.
    let (a, b) = (json(&whole_log), json(&joined_log));
    assert_eq!(a["frames"], b["frames"]);
    assert_eq!(a["cuts"], b["cuts"]);
    let frames = a["frames"].as_array().map_or(0, Vec::len);
    assert!(
        frames > 48,
        "long enough for several 1 s segments: {frames}"
    );
    // The same timestamps, and pictures that differ only by encoding.
    assert_eq!(pts(&whole), pts(&joined));
    let (x, y) = (tools::luma_frames(&whole), tools::luma_frames(&joined));
    assert_eq!(x.len(), y.len());
    for (k, (fa, fb)) in x.iter().zip(&y).enumerate() {
        let per_frame = fa.len();
        let diff: u64 = fa
            .iter()
            .zip(fb)
            .map(|(p, q)| u64::from(p.abs_diff(*q)))
            .sum();
        let mean = diff as f64 / per_frame as f64;
        assert!(
            mean < 2.0,
            "frame {k} differs by {mean:.2} levels on average"
        );
    }
}

/// `vantage --json ARGS`, killed (SIGKILL) once the render reports output
/// frame `frame` or later; false if it finished first.
fn kill_at_frame(cache: &Path, args: &[&str], frame: usize) -> bool {
    let (mut child, stdout) = spawn_json(cache, args);
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let at = event["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("frame "))
            .and_then(|m| m.split('/').next())
            .and_then(|k| k.parse::<usize>().ok());
        if event["stage"] == "interpolate" && at.is_some_and(|k| k >= frame) {
            let _ = child.kill();
            let _ = child.wait();
            return true;
        }
    }
    let _ = child.wait();
    false
}

#[test]
fn a_killed_render_resumes_from_its_finished_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (video, target) = slowed_clip(dir.path());
    let cache = dir.path().join("cache");
    let out = dir.path().join("out.mp4");
    let frames = dir.path().join("frames.json");
    // 1 s segments (24 frames), slow enough to be caught in the middle.
    let extra = [
        "--mode",
        "blend",
        "--set",
        "interpolate.segment_seconds=1",
        "--set",
        "interpolate.preset=veryslow",
        "--frames",
        s(&frames),
    ];
    let args = sync_args(&video, &target, &out, &extra);
    assert!(
        kill_at_frame(&cache, &args, 110),
        "the render finished before it could be killed"
    );
    assert!(!out.exists());

    let o = run(&cache, &[args.as_slice(), &["--json"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let events: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let reused: Vec<&str> = events
        .iter()
        .filter(|e| e["stage"] == "interpolate")
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.ends_with("done earlier"))
        .collect();
    assert!(
        reused.len() >= 2,
        "segments finished before the kill were reused: {reused:?}"
    );
    assert!(reused.contains(&"segment 0 done earlier"), "{reused:?}");

    // The resumed render is the render an uninterrupted run makes.
    let fresh_out = dir.path().join("fresh.mp4");
    let fresh_frames = dir.path().join("fresh.json");
    let fresh_extra: Vec<&str> = extra[..6]
        .iter()
        .copied()
        .chain(["--frames", s(&fresh_frames)])
        .collect();
    let o = run(
        &dir.path().join("fresh-cache"),
        &sync_args(&video, &target, &fresh_out, &fresh_extra),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&frames), json(&fresh_frames));
    assert_eq!(pts(&out), pts(&fresh_out));
    assert_eq!(
        std::fs::read(&out).expect("resumed"),
        std::fs::read(&fresh_out).expect("fresh"),
        "segments are deterministic: the same bytes either way"
    );
}

#[test]
fn a_segmented_diagnostic_shows_what_a_whole_one_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (video, target) = slowed_clip(dir.path());
    let cache = dir.path().join("cache");
    let diagnostic = |seconds: &str| -> PathBuf {
        let folder = dir.path().join(format!("diagnostic-{seconds}"));
        let out = dir.path().join(format!("out-{seconds}.mp4"));
        let set = format!("diagnostic.segment_seconds={seconds}");
        let args = sync_args(
            &video,
            &target,
            &out,
            &["--mode", "blend", "--diagnostic", s(&folder), "--set", &set],
        );
        let o = run(&cache, &args);
        assert!(o.status.success(), "{}", stderr(&o));
        folder.join("diagnostic.mp4")
    };
    let (whole, joined) = (diagnostic("0"), diagnostic("1"));
    assert_eq!(pts(&whole), pts(&joined));
    let frames = pts(&whole).len();
    assert!(frames > 48, "several 1 s segments: {frames}");
    let (x, y) = (tools::luma_frames(&whole), tools::luma_frames(&joined));
    assert_eq!(x.len(), y.len());
    for (k, (fa, fb)) in x.iter().zip(&y).enumerate() {
        let per_frame = fa.len();
        // Encoding moves pixels a little; a label of another frame's time
        // (or none) moves the pixels of its glyphs far.
        let far = fa
            .iter()
            .zip(fb)
            .filter(|(p, q)| p.abs_diff(**q) > 48)
            .count();
        assert!(
            far * 1000 < per_frame,
            "frame {k}: {far} of {per_frame} pixels differ by more than 48 levels"
        );
    }
}
