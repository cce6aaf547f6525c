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
