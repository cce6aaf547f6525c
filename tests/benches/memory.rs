//! Peak memory of the alignment as speech gets longer: `extract-audio` and
//! `analyze` (the stages that read whole audio tracks) over 10 and 60
//! minutes of speech, measured in the same run. Memory that stays near
//! flat means nothing holds the audio itself (the features are 1/50 of
//! it); what grows is the features and the alignment's search band.
//!
//! `cargo build --release -p vantage-cli && cargo bench -p vantage-e2e --bench memory`
//! (MEMORY_MINUTES=10,60 by default).

use std::path::{Path, PathBuf};
use vantage_e2e::measure::measure;
use vantage_e2e::speech::{speak_sentences, Voice};
use vantage_e2e::tools::{ffmpeg, s};
use vantage_e2e::vantage::command;

const PIPELINE: &str = "\
name: align-only
inputs:
  video: { type: video }
  audio: { type: audio }
stages:
  source-audio: { uses: extract-audio, inputs: { media: inputs.video } }
  target-audio: { uses: extract-audio, inputs: { media: inputs.audio } }
  analyze:
    uses: analyze
    inputs: { source: source-audio.audio, target: target-audio.audio, video: inputs.video }
outputs:
  alignment: analyze.alignment
";

const SENTENCES: &[&str] = &[
    "The museum opens at nine and closes at five in the afternoon.",
    "Nobody expected the temperature to fall so quickly after sunset.",
    "She was sleeping when the train finally arrived at the station.",
    "Remember to bring the documents and a pen to the meeting.",
];

/// `minutes` of one voice's reading, looped, as a 16-bit WAV.
fn looped(dir: &Path, name: &str, voice: &Voice, minutes: u32) -> PathBuf {
    let one = dir.join(format!("{name}-once.wav"));
    speak_sentences(SENTENCES, voice, 0.4)
        .write_wav(&one)
        .expect("writing speech");
    let out = dir.join(format!("{name}-{minutes}.wav"));
    let seconds = (minutes * 60).to_string();
    ffmpeg(&[
        "-stream_loop",
        "-1",
        "-i",
        s(&one),
        "-t",
        &seconds,
        "-c",
        "copy",
        s(&out),
    ]);
    out
}

fn main() {
    let minutes: Vec<u32> = std::env::var("MEMORY_MINUTES")
        .unwrap_or_else(|_| "10,60".into())
        .split(',')
        .filter_map(|m| m.trim().parse().ok())
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = dir.path().join("align-only.yaml");
    std::fs::write(&pipeline, PIPELINE).expect("writing the pipeline");
    let (calm, quick) = (
        Voice {
            name: "en-us",
            speed: 150,
            pitch: 50,
        },
        Voice {
            name: "en+f3",
            speed: 175,
            pitch: 60,
        },
    );
    println!("speech    wall s   peak MiB (vantage and its ffmpeg children)");
    let mut peaks = Vec::new();
    for &m in &minutes {
        let (speech, target) = (
            looped(dir.path(), "source", &calm, m),
            looped(dir.path(), "target", &quick, m),
        );
        // A tiny picture as long as the speech: the cost is all audio.
        let video = dir.path().join(format!("video-{m}.mp4"));
        let seconds = (m * 60).to_string();
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=32x32:r=24",
            "-i",
            s(&speech),
            "-t",
            &seconds,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            s(&video),
        ]);
        let cache = dir.path().join(format!("cache-{m}"));
        let alignment = dir.path().join(format!("alignment-{m}.json"));
        let measured = measure(
            command()
                .arg("--cache-dir")
                .arg(&cache)
                .args(["run", s(&pipeline), "-i"])
                .arg(format!("video={}", s(&video)))
                .arg("-i")
                .arg(format!("audio={}", s(&target)))
                .arg("-o")
                .arg(format!("alignment={}", s(&alignment))),
        );
        assert!(measured.status.success(), "{}", measured.stderr);
        println!(
            "{m:>4} min  {:>7.1}   {:>8.0}",
            measured.seconds, measured.peak_tree_mib
        );
        peaks.push((m, measured.peak_tree_mib));
    }
    if let [(a, pa), .., (b, pb)] = peaks[..] {
        println!(
            "peak at {b} min / at {a} min: {:.2} (the speech is {:.0}x as long)",
            pb / pa,
            b as f64 / a as f64
        );
    }
}
