//! Small helpers around ffmpeg/ffprobe for tests.

use std::path::Path;
use std::process::Command;

/// A path as `&str` (test paths are always UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Run ffmpeg quietly, overwriting outputs; panics on failure.
pub fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg must be installed")
        .success();
    assert!(ok, "ffmpeg {args:?}");
}

/// ffprobe's JSON for `path` with extra arguments.
pub fn probe_json(path: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe must be installed");
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

/// Container duration in seconds.
pub fn duration(path: &Path) -> f64 {
    probe_json(path, &["-show_entries", "format=duration"])["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration")
}

/// `dir/NAME.wav` with `words` words of the script spoken by `voice`
/// (`pause` seconds before each), and `dir/NAME.mp4`: an ffmpeg test pattern
/// (`pattern`, e.g. "testsrc=size=160x120:rate=24") with that speech, as long
/// as the speech. Returns (video, speech).
pub fn talking_clip(
    dir: &Path,
    name: &str,
    words: usize,
    voice: &crate::speech::Voice,
    pause: f64,
    pattern: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let (words, _) = crate::speech::script(words);
    let speech = crate::speech::speak(&words, voice, &vec![pause; words.len()], 0.3);
    let wav = dir.join(format!("{name}.wav"));
    speech.write_wav(&wav).expect("writing speech");
    let video = dir.join(format!("{name}.mp4"));
    let seconds = format!("{:.3}", speech.duration());
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        pattern,
        "-i",
        s(&wav),
        "-t",
        &seconds,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        s(&video),
    ]);
    (video, wav)
}
