//! Running the `vantage` binary built by this workspace.

use crate::tools::s;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of the `vantage` binary: `$VANTAGE_BIN`, or next to the running test/bench.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("VANTAGE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> -> target/<profile>/vantage
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = profile_dir.join("vantage");
    assert!(
        bin.is_file(),
        "{} not found: build it first (cargo build -p vantage-cli, with --release for benchmarks) or set VANTAGE_BIN",
        bin.display()
    );
    bin
}

/// Run `vantage ARGS` with its cache in `cache_dir`.
pub fn run(cache_dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .arg("--cache-dir")
        .arg(cache_dir)
        .args(args)
        .env("VANTAGE_LOG", "warn")
        .output()
        .expect("running vantage")
}

/// The arguments of `vantage sync VIDEO AUDIO -o OUT EXTRA...`, with
/// `--mode off` unless EXTRA picks a mode: RIFE has its own tests, and the
/// tests about everything else stay quick in a debug build.
pub fn sync_args<'a>(
    video: &'a Path,
    audio: &'a Path,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["sync", s(video), s(audio), "-o", s(out)];
    args.extend_from_slice(extra);
    if !extra.contains(&"--mode") {
        args.extend_from_slice(&["--mode", "off"]);
    }
    args
}

/// Stderr as text, for assertions and failure messages.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Start `vantage --json ARGS` and return once it reports rendering progress
/// (so an interruption lands mid-render), or `None` if it finished first.
pub fn spawn_until_rendering(cache_dir: &Path, args: &[&str]) -> Option<std::process::Child> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(binary())
        .arg("--cache-dir")
        .arg(cache_dir)
        .args(args)
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("running vantage");
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    };
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.contains("\"progress\"") && line.contains("\"interpolate\"") {
            return Some(child);
        }
    }
    let _ = child.wait();
    None
}
