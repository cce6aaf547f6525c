//! CLI surfaces that need no long media: dag, stages, mux length rules, Ctrl-C.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use vantage_e2e::vantage::{binary, run, stderr};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().expect("ffmpeg").success();
    assert!(ok, "ffmpeg {args:?}");
}

fn duration(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("duration")
}

#[test]
fn dag_renders_the_built_in_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let text = run(dir.path(), &["dag", "sync"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout);
    for stage in ["source-audio", "target-audio", "analyze", "predict-freeze", "retime", "interpolate", "mux"] {
        assert!(text.contains(&format!("stage  {stage} [")), "{stage} missing:\n{text}");
    }
    // Dependencies come before their users.
    assert!(text.find("stage  analyze").unwrap() < text.find("stage  retime").unwrap());
    let mermaid = String::from_utf8_lossy(&run(dir.path(), &["dag", "sync", "--format", "mermaid"]).stdout).into_owned();
    assert!(mermaid.starts_with("flowchart LR") && mermaid.contains("analyze -->|alignment| retime"), "{mermaid}");
    let dot = String::from_utf8_lossy(&run(dir.path(), &["dag", "sync-vfr", "--format", "dot"]).stdout).into_owned();
    assert!(dot.starts_with("digraph \"sync-vfr\"") && dot.contains("analyze -> restamp"), "{dot}");
    let stages = String::from_utf8_lossy(&run(dir.path(), &["stages"]).stdout).into_owned();
    assert!(stages.contains("interpolate (v1)") && stages.contains("param method"), "{stages}");
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
    ffmpeg(&["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "6", "-c:v", "libx264", "-pix_fmt", "yuv420p", s(&video)]);
    let short_audio = dir.path().join("short.wav");
    ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", "2.5", s(&short_audio)]);
    let long_audio = dir.path().join("long.wav");
    ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", "9", s(&long_audio)]);

    // A longer picture is cut at the audio's end (to within a few frames: the
    // picture is copied, so the cut falls on a packet boundary).
    let out = dir.path().join("cut.mp4");
    let o = run(&cache, &["run", s(&pipeline), "-i", &format!("video={}", s(&video)), "-i", &format!("audio={}", s(&short_audio)), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!((duration(&out) - 2.5).abs() <= 0.15, "{}", duration(&out));
    // A shorter picture ends early; the file lasts as long as the audio.
    let out = dir.path().join("held.mp4");
    let o = run(&cache, &["run", s(&pipeline), "-i", &format!("video={}", s(&video)), "-i", &format!("audio={}", s(&long_audio)), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!((duration(&out) - 9.0).abs() < 0.1, "{}", duration(&out));
}

#[test]
fn ctrl_c_stops_cleanly_and_keeps_finished_stages() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let video = dir.path().join("video.mp4");
    let speech = dir.path().join("speech.wav");
    Command::new("espeak-ng")
        .args(["-w", s(&speech), "the quick brown fox jumps over the lazy dog and then it rests in the shade of the old tree"])
        .status()
        .expect("espeak-ng");
    let d = format!("{:.2}", duration(&speech));
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24", "-i", s(&speech), "-t", &d, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", s(&video)]);
    let out = dir.path().join("out.mp4");
    let mut child = Command::new(binary())
        .args(["--cache-dir", s(&cache), "sync", s(&video), s(&speech), "-o", s(&out), "--json", "--set", "interpolate.preset=veryslow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.contains("\"progress\"") && line.contains("\"interpolate\"") {
            let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success();
            assert!(ok);
            break;
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "expected the cancelled exit code");
    assert!(!out.exists());
    let stats = run(&cache, &["cache", "stats"]);
    let stats = String::from_utf8_lossy(&stats.stdout).into_owned();
    assert!(stats.contains("entries:            5"), "finished stages should be cached:\n{stats}");
}
