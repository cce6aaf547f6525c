//! Speed and memory of `vantage sync` on a generated 1280x720 24 fps clip with
//! speech, against the floor: a plain ffmpeg decode + encode of the same clip
//! with the same encoder settings, measured in the same run. Then a no-op
//! rerun, and a rerun after changing a late stage's parameter.
//!
//! `SPEED_DURATIONS=60,600 cargo bench -p vantage-e2e --bench speed`
//! (default 60); SPEED_MODE sets the interpolation mode (default off, the
//! floor's like-for-like; e.g. precision to time RIFE in the pipeline).
//! With SPEED_DIAGNOSTIC=1, a diagnostic of the same sync follows (only the
//! diagnostic render and the report run): its time against the sync's
//! render (the interpolate stage) in the same run, and its peak memory.
//! Build the release binary first.

use std::path::Path;
use std::process::Command;
use vantage_core::{CancelToken, Rational};
use vantage_e2e::bars;
use vantage_e2e::measure::measure;
use vantage_e2e::speech::{script, speak, Voice};
use vantage_e2e::vantage::command;
use vantage_media::{Colour, EncodeSettings, Frame, FrameWriter};

const FPS: Rational = Rational { num: 24, den: 1 };

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A clip of about `seconds` with speech, and the same words in another voice.
fn make_clip(dir: &Path, seconds: f64) -> (std::path::PathBuf, std::path::PathBuf) {
    let words_needed = (seconds * 2.2) as usize;
    let (words, starts) = script(words_needed);
    let pause = |long: f64, short: f64| {
        starts
            .iter()
            .map(|&s| if s { long } else { short })
            .collect::<Vec<_>>()
    };
    let src = speak(
        &words,
        &Voice {
            name: "en-us",
            speed: 160,
            pitch: 50,
        },
        &pause(0.4, 0.08),
        0.5,
    );
    // Another voice and rhythm, but about as long: the floor encodes the source's
    // frame count and the sync output has the target's.
    let tgt = speak(
        &words,
        &Voice {
            name: "en+f3",
            speed: 175,
            pitch: 60,
        },
        &pause(0.55, 0.1),
        0.5,
    );
    let (src_wav, tgt_wav) = (dir.join("source.wav"), dir.join("target.wav"));
    src.write_wav(&src_wav).expect("source speech");
    tgt.write_wav(&tgt_wav).expect("target speech");
    let picture = dir.join("picture.mp4");
    let frames = (src.duration() * FPS.as_f64()).round() as usize;
    let mut w = FrameWriter::create(
        &picture,
        (1280, 720),
        FPS,
        &Colour::default(),
        &EncodeSettings::default(),
    )
    .expect("encoder");
    let mut f = Frame::black(1280, 720);
    for k in 0..frames {
        bars::draw(&mut f, k as f64 / FPS.as_f64());
        w.write(&f).expect("frame");
    }
    w.finish(&CancelToken::default()).expect("encode");
    let source = dir.join("source.mp4");
    vantage_media::mux(&picture, &src_wav, &source, &CancelToken::default()).expect("mux");
    (source, tgt_wav)
}

fn ran_stages(json_lines: &str) -> Vec<String> {
    json_lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "done")
        .filter_map(|e| e["stage"].as_str().map(str::to_string))
        .collect()
}

/// Seconds of `stage`'s done event.
fn stage_seconds(json_lines: &str, stage: &str) -> f64 {
    json_lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "done" && e["stage"] == stage)
        .and_then(|e| e["seconds"].as_f64())
        .unwrap_or(f64::NAN)
}

fn main() {
    let durations: Vec<f64> = std::env::var("SPEED_DURATIONS")
        .unwrap_or_else(|_| "60".into())
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let mode = std::env::var("SPEED_MODE").unwrap_or_else(|_| "off".into());
    println!(
        "vantage sync --mode {mode} vs ffmpeg decode+encode (libx264 veryfast crf 18), 1280x720 24 fps"
    );
    println!(
        "{:>8} {:>8} {:>10} {:>10} {:>7} {:>12} {:>12} {:>10} {:>10}",
        "clip s",
        "target s",
        "floor s",
        "vantage s",
        "ratio",
        "floor MiB",
        "vantage MiB",
        "noop s",
        "set s"
    );
    for seconds in durations {
        let dir = tempfile::tempdir().expect("temp dir");
        let (source, target) = make_clip(dir.path(), seconds);
        let floor_out = dir.path().join("floor.mp4");
        let floor = measure(
            Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-i", s(&source), "-map", "0:v:0"])
                .args(EncodeSettings::default().args())
                .args(["-pix_fmt", "yuv420p", "-f", "mp4", s(&floor_out)]),
        );
        assert!(
            floor.status.success(),
            "floor encode failed: {}",
            floor.stderr
        );

        let cache = dir.path().join("cache");
        let out = dir.path().join("out.mp4");
        let sync = |extra: &[&str]| {
            measure(
                command()
                    .args([
                        "--cache-dir",
                        s(&cache),
                        "sync",
                        s(&source),
                        s(&target),
                        "-o",
                        s(&out),
                        "--mode",
                        &mode,
                        "--json",
                    ])
                    .args(extra),
            )
        };
        let first = sync(&[]);
        assert!(first.status.success(), "sync failed: {}", first.stderr);
        let noop = sync(&[]);
        assert!(
            noop.status.success() && ran_stages(&noop.stdout).is_empty(),
            "no-op rerun ran stages: {}",
            noop.stdout
        );
        let set = sync(&["--set", "interpolate.crf=20"]);
        assert!(set.status.success(), "{}", set.stderr);
        let diagnostic = std::env::var_os("SPEED_DIAGNOSTIC").map(|_| {
            let dir = dir.path().join("diagnostic");
            let run = sync(&["--set", "interpolate.crf=20", "--diagnostic", s(&dir)]);
            assert!(run.status.success(), "{}", run.stderr);
            assert_eq!(ran_stages(&run.stdout), ["diagnostic"], "{}", run.stdout);
            run
        });
        let target_s = vantage_media::probe(&target)
            .ok()
            .and_then(|i| i.audio)
            .map_or(0.0, |a| a.duration);
        let source_s = vantage_media::probe(&source)
            .ok()
            .map_or(0.0, |i| i.duration);
        println!(
            "{:>8.1} {:>8.1} {:>10.2} {:>10.2} {:>7.2} {:>12.0} {:>12.0} {:>10.3} {:>10.2}",
            source_s,
            target_s,
            floor.seconds,
            first.seconds,
            // Per frame: the floor encodes the source's frames, sync the target's.
            (first.seconds / target_s) / (floor.seconds / source_s),
            floor.peak_tree_mib,
            first.peak_tree_mib,
            noop.seconds,
            set.seconds
        );
        println!(
            "         stages rerun after --set interpolate.crf=20: {}",
            ran_stages(&set.stdout).join(", ")
        );
        let per_stage: Vec<String> = first
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == "done")
            .map(|e| {
                format!(
                    "{} {:.2}s",
                    e["stage"].as_str().unwrap_or("?"),
                    e["seconds"].as_f64().unwrap_or(0.0)
                )
            })
            .collect();
        println!("         first run by stage: {}", per_stage.join(", "));
        if let Some(d) = diagnostic {
            let render = stage_seconds(&set.stdout, "interpolate");
            println!(
                "         diagnostic (render + report): {:.2} s, {:.2}x the sync's render ({render:.2} s), peak {:.0} MiB",
                d.seconds,
                d.seconds / render,
                d.peak_tree_mib
            );
        }
    }
}
