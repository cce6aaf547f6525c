//! Bad input: a clear message, a non-zero exit, before heavy work, and the cache left intact.

use std::path::{Path, PathBuf};
use vantage_e2e::speech::{script, speak, Voice};
use vantage_e2e::tools::{ffmpeg, s, talking_clip};
use vantage_e2e::vantage::{run, stderr, sync_args};

struct Fixture {
    dir: tempfile::TempDir,
    cache: PathBuf,
    video: PathBuf,
    speech: PathBuf,
}

/// A short valid source video with speech, and a valid target speech file.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let voice = Voice {
        name: "en-us",
        speed: 160,
        pitch: 50,
    };
    let (video, speech) = talking_clip(
        dir.path(),
        "video",
        8,
        &voice,
        0.1,
        "testsrc=size=160x120:rate=24",
    );
    let cache = dir.path().join("cache");
    Fixture {
        dir,
        cache,
        video,
        speech,
    }
}

impl Fixture {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Speech of about the fixture's length that says other words.
    fn different_words(&self) -> PathBuf {
        let words = [
            "music", "filled", "the", "hall", "as", "dancers", "took", "places",
        ];
        let voice = Voice {
            name: "en-us",
            speed: 160,
            pitch: 50,
        };
        let path = self.path("other.wav");
        speak(&words, &voice, &[0.1; 8], 0.2)
            .write_wav(&path)
            .unwrap();
        path
    }

    /// Run sync, expect failure mentioning `needle`, no output, and an intact cache.
    fn rejects(&self, video: &Path, audio: &Path, needle: &str) {
        self.rejects_saying(video, audio, &[needle]);
    }

    /// One rejected run whose error contains every one of `needles`; its stderr.
    fn rejects_saying(&self, video: &Path, audio: &Path, needles: &[&str]) -> String {
        let out = self.path("out.mp4");
        let o = run(&self.cache, &sync_args(video, audio, &out, &[]));
        let err = stderr(&o);
        assert!(!o.status.success(), "accepted {video:?} + {audio:?}");
        assert_eq!(
            o.status.code(),
            Some(2),
            "inputs that cannot work exit 2: {err}"
        );
        for needle in needles {
            assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
        }
        assert!(!out.exists(), "an output was written despite the error");
        assert!(
            !err.contains("interpolate: started"),
            "heavy work started before the error:\n{err}"
        );
        let v = run(&self.cache, &["cache", "verify"]);
        assert!(
            v.status.success(),
            "cache damaged: {}",
            String::from_utf8_lossy(&v.stdout)
        );
        err
    }
}

#[test]
fn each_bad_input_gets_a_clear_error() {
    let f = fixture();
    // A good run first, so there is a cache to keep intact.
    let good = f.path("good.mp4");
    let o = run(&f.cache, &sync_args(&f.video, &f.speech, &good, &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    let good_bytes = std::fs::read(&good).unwrap();

    f.rejects(
        &f.path("missing.mp4"),
        &f.speech,
        "missing.mp4: no such file",
    );
    f.rejects(
        &f.video,
        &f.path("missing.wav"),
        "missing.wav: no such file",
    );

    let text = f.path("notes.mp4");
    std::fs::write(&text, "this is not a video\n").unwrap();
    f.rejects(&text, &f.speech, "not a media file");
    let nothing = f.path("nothing.mp4");
    std::fs::write(&nothing, b"").unwrap();
    f.rejects(&nothing, &f.speech, "nothing.mp4: not a media file");

    // A download cut short whose index came first: ffmpeg would read the
    // start and stop quietly (the words then "differ").
    let whole = f.path("faststart.mp4");
    ffmpeg(&[
        "-i",
        s(&f.video),
        "-c",
        "copy",
        "-movflags",
        "faststart",
        s(&whole),
    ]);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = f.path("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    f.rejects_saying(
        &cut,
        &f.speech,
        &["cut.mp4: the file is cut short", "video frames"],
    );

    // A source with no picture, a target with no sound.
    f.rejects(&f.speech, &f.speech, "has no video stream");
    let mute = f.path("mute.mp4");
    ffmpeg(&["-i", s(&f.video), "-an", "-c:v", "copy", s(&mute)]);
    f.rejects(&f.video, &mute, "has no audio stream");

    // Zero-length and silent targets.
    let empty = f.path("empty.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-t",
        "0",
        s(&empty),
    ]);
    f.rejects(&f.video, &empty, "empty.wav");
    let silence = f.path("silence.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-t",
        "4",
        s(&silence),
    ]);
    // Found before Whisper runs (it would hallucinate words in silence).
    f.rejects_saying(
        &f.video,
        &silence,
        &["stage 'target-words'", "no speech found"],
    );

    // A target far longer than the source cannot be the same words.
    let (words, _) = script(150);
    let long = speak(
        &words,
        &Voice {
            name: "en-us",
            speed: 150,
            pitch: 50,
        },
        &vec![0.1; words.len()],
        0.0,
    );
    let long_path = f.path("long.wav");
    long.write_wav(&long_path).unwrap();
    // The length speaks before the words (which differ too, by count),
    // and before Whisper: a transcribe stage refuses before it loads.
    let err = f.rejects_saying(
        &f.video,
        &long_path,
        &[
            "-words' (transcribe) failed",
            "the source speaks for",
            "limit 3.0",
        ],
    );
    assert!(!err.contains("words: done"), "Whisper ran first:\n{err}");

    // Different words of about the same length: the transcripts disagree.
    let other_path = f.different_words();
    f.rejects_saying(
        &f.video,
        &other_path,
        &["do not say the same thing", "--on-mismatch linear"],
    );

    // Output onto an input.
    let o = run(
        &f.cache,
        &["sync", s(&f.video), s(&f.speech), "-o", s(&f.speech)],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("is also an input"),
        "{}",
        stderr(&o)
    );
    // Missing Whisper weights: named, with the command that installs them.
    let empty_store = f.path("no-weights");
    let o = vantage_e2e::vantage::command()
        .args([
            "--cache-dir",
            s(&f.cache),
            "sync",
            s(&f.video),
            s(&f.speech),
            "-o",
            s(&f.path("x.mp4")),
        ])
        .args(["--model", "base"])
        .env("VANTAGE_WEIGHTS", &empty_store)
        .output()
        .unwrap();
    assert!(
        o.status.code() == Some(2) && stderr(&o).contains("vantage weights fetch base"),
        "{}",
        stderr(&o)
    );
    // A GPU asked of the CPU build the tests drive: refused before anything
    // runs, saying how to get one (scripts/cuda-check.sh checks the CUDA
    // build's own refusal on a machine without a GPU).
    let gpu_out = f.path("gpu.mp4");
    let o = run(
        &f.cache,
        &sync_args(&f.video, &f.speech, &gpu_out, &["--device", "cuda"]),
    );
    let err = stderr(&o);
    assert!(
        o.status.code() == Some(2)
            && err.contains("no CUDA support")
            && err.contains("--features cuda"),
        "{err}"
    );
    assert!(!err.contains("words: done"), "Whisper ran first:\n{err}");
    assert!(!gpu_out.exists());
    let o = run(&f.cache, &["transcribe", s(&f.speech), "--device", "cuda"]);
    assert!(
        o.status.code() == Some(2) && stderr(&o).contains("no CUDA support"),
        "{}",
        stderr(&o)
    );
    // The earlier good output is untouched by all of this, to the byte.
    assert!(std::fs::read(&good).unwrap() == good_bytes);
}

#[test]
fn exit_codes_are_the_documented_ones() {
    let f = fixture();
    let text = f.path("notes.mp4");
    std::fs::write(&text, "this is not a video\n").unwrap();
    let code = |args: &[&str]| {
        let o = run(&f.cache, args);
        assert_ne!(o.status.code(), Some(101), "panicked: {}", stderr(&o));
        o.status.code()
    };
    // 2: the command or its inputs cannot work as given.
    assert_eq!(code(&["sync", "--no-such-flag"]), Some(2));
    assert_eq!(code(&["transcribe", s(&text)]), Some(2));
    assert_eq!(code(&["transcribe", s(&f.path("missing.wav"))]), Some(2));
    // A budget that would evict everything, or no disk holds, is a mistake.
    assert_eq!(code(&["cache", "gc", "--max-age-days", "-1"]), Some(2));
    assert_eq!(code(&["cache", "gc", "--max-age-days", "inf"]), Some(2));
    assert_eq!(
        code(&["cache", "gc", "--max-size-mb", "99999999999999"]),
        Some(2)
    );
    // 1: a pipeline file's mistakes, and everything else.
    let bad = f.path("bad.yaml");
    std::fs::write(&bad, "stages: [\n").unwrap();
    assert_eq!(code(&["run", s(&bad)]), Some(1));
}

#[test]
fn malformed_pipelines_are_rejected_with_file_and_line() {
    let f = fixture();
    let bad_yaml = f.path("bad.yaml");
    std::fs::write(
        &bad_yaml,
        "inputs:\n  video: video\nstages:\n  a: [unclosed\n",
    )
    .unwrap();
    let o = run(
        &f.cache,
        &["run", s(&bad_yaml), "-i", &format!("video={}", s(&f.video))],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("bad.yaml:") && stderr(&o).contains("not valid YAML"),
        "{}",
        stderr(&o)
    );

    let unknown = f.path("unknown.yaml");
    std::fs::write(
        &unknown,
        "inputs:\n  video: video\nstages:\n  a:\n    uses: extract-audio\n    inputs: { media: inputs.video }\n  b:\n    uses: no-such-stage\noutputs:\n  audio: a.audio\n",
    )
    .unwrap();
    let o = run(
        &f.cache,
        &["run", s(&unknown), "-i", &format!("video={}", s(&f.video))],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown.yaml:8: stage 'b' uses unknown stage type 'no-such-stage'"),
        "{}",
        stderr(&o)
    );

    // A valid custom pipeline with an exec stage runs, with a missing input reported first.
    let custom = f.path("custom.yaml");
    std::fs::write(
        &custom,
        "inputs:\n  video: video\nstages:\n  audio:\n    uses: extract-audio\n    inputs: { media: inputs.video }\n  louder:\n    uses: exec\n    inputs: { wav: audio.audio }\n    params:\n      command: [ffmpeg, -v, error, -i, \"{in.wav}\", -af, \"volume=2\", -f, wav, \"{out.wav}\"]\n      outputs: { wav: wav }\noutputs:\n  audio: louder.wav\n",
    )
    .unwrap();
    let o = run(&f.cache, &["run", s(&custom)]);
    assert!(
        !o.status.success() && stderr(&o).contains("missing input 'video'"),
        "{}",
        stderr(&o)
    );
    let out = f.path("louder.wav");
    let o = run(
        &f.cache,
        &[
            "run",
            s(&custom),
            "-i",
            &format!("video={}", s(&f.video)),
            "-o",
            s(&out),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::metadata(&out).unwrap().len() > 1000);
}

#[test]
fn different_content_has_documented_fallbacks() {
    let f = fixture();
    let other_path = f.different_words();
    for fallback in ["linear", "acoustic"] {
        let (out, alignment) = (
            f.path(&format!("{fallback}.mp4")),
            f.path(&format!("{fallback}.json")),
        );
        let o = run(
            &f.cache,
            &sync_args(
                &f.video,
                &other_path,
                &out,
                &["--on-mismatch", fallback, "--alignment", s(&alignment)],
            ),
        );
        assert!(o.status.success(), "{fallback}: {}", stderr(&o));
        let a: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&alignment).unwrap()).unwrap();
        let c = &a["confidence"];
        assert!(
            c["score"].as_f64().unwrap() < 0.5,
            "{fallback}: confidence {c}"
        );
        assert!(c["words"]["match_ratio"].as_f64().unwrap() < 0.5, "{c}");
        let warning = c["warnings"][0].as_str().unwrap();
        assert!(
            warning.contains("do not say the same thing") && warning.contains(fallback),
            "{warning}"
        );
        if fallback == "linear" {
            let knots = a["warp"].as_array().unwrap();
            assert_eq!(knots.len(), 2, "an even stretch has two knots: {knots:?}");
        }
    }
}
