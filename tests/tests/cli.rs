//! CLI surfaces that need no long media: dag, stages, and the mux length rule.

use std::path::Path;
use vantage_e2e::tools::{duration, ffmpeg, s};
use vantage_e2e::vantage::{run, stderr};

#[test]
fn dag_renders_the_built_in_pipelines() {
    let dir = tempfile::tempdir().unwrap();
    let text = run(dir.path(), &["dag", "sync"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout);
    for stage in [
        "source-audio",
        "target-audio",
        "analyze",
        "predict-freeze",
        "retime",
        "interpolate",
        "mux",
    ] {
        assert!(
            text.contains(&format!("stage  {stage} [")),
            "{stage} missing:\n{text}"
        );
    }
    // Dependencies come before their users.
    assert!(text.find("stage  analyze").unwrap() < text.find("stage  retime").unwrap());
    let mermaid =
        String::from_utf8_lossy(&run(dir.path(), &["dag", "sync", "--format", "mermaid"]).stdout)
            .into_owned();
    assert!(
        mermaid.starts_with("flowchart LR") && mermaid.contains("analyze -->|alignment| retime"),
        "{mermaid}"
    );
    let dot =
        String::from_utf8_lossy(&run(dir.path(), &["dag", "sync-vfr", "--format", "dot"]).stdout)
            .into_owned();
    assert!(
        dot.starts_with("digraph \"sync-vfr\"") && dot.contains("analyze -> restamp"),
        "{dot}"
    );
    let stages = String::from_utf8_lossy(&run(dir.path(), &["stages"]).stdout).into_owned();
    assert!(
        stages.contains("interpolate (v6)")
            && stages.contains("out  log: render-log")
            && stages.contains("param mode"),
        "{stages}"
    );
}

fn mux(cache: &Path, pipeline: &Path, video: &Path, audio: &Path, out: &Path) {
    let (v, a) = (format!("video={}", s(video)), format!("audio={}", s(audio)));
    let o = run(
        cache,
        &["run", s(pipeline), "-i", &v, "-i", &a, "-o", s(out)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn mux_output_lasts_as_long_as_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let pipeline = dir.path().join("mux.yaml");
    std::fs::write(
        &pipeline,
        "inputs:\n  video: video\n  audio: audio\nstages:\n  mux:\n    uses: mux\n    inputs: { video: inputs.video, audio: inputs.audio }\noutputs:\n  video: mux.video\n",
    )
    .unwrap();
    let video = dir.path().join("video.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=25",
        "-t",
        "6",
        "-pix_fmt",
        "yuv420p",
        s(&video),
    ]);
    let tone = |name: &str, seconds: &str| {
        let path = dir.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=16000",
            "-t",
            seconds,
            s(&path),
        ]);
        path
    };
    // A longer picture is cut at the audio's end (to within a few frames: the
    // picture is copied, so the cut falls on a packet boundary).
    let cut = dir.path().join("cut.mp4");
    mux(&cache, &pipeline, &video, &tone("short.wav", "2.5"), &cut);
    assert!((duration(&cut) - 2.5).abs() <= 0.15, "{}", duration(&cut));
    // A shorter picture ends early; the file lasts as long as the audio.
    let held = dir.path().join("held.mp4");
    mux(&cache, &pipeline, &video, &tone("long.wav", "9"), &held);
    assert!((duration(&held) - 9.0).abs() < 0.1, "{}", duration(&held));
}
