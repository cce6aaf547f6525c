//! Running the `vantage` binary built by this workspace.

use crate::tools::s;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of the `vantage` binary: `$VANTAGE_BIN`, or next to the running
/// test/bench, rebuilt first (once per test process) when any source file
/// of the workspace is newer than it: a test never runs a stale binary.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("VANTAGE_BIN") {
        return PathBuf::from(p);
    }
    static CHECKED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHECKED.get_or_init(built_binary).clone()
}

fn built_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> -> target/<profile>/vantage
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = profile_dir.join("vantage");
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let newest = newest_source(&workspace);
    if built.is_none_or(|b| newest.is_some_and(|n| n > b)) {
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo.args(["build", "-p", "vantage-cli", "--bin", "vantage"]);
        if release {
            cargo.arg("--release");
        }
        let status = cargo
            .current_dir(&workspace)
            .status()
            .expect("running cargo");
        assert!(status.success(), "building {} failed", bin.display());
    }
    assert!(
        bin.is_file(),
        "{} not found: build it first (cargo build -p vantage-cli, with --release for benchmarks) or set VANTAGE_BIN",
        bin.display()
    );
    bin
}

/// The tests' own weights (fetched there by `scripts/test.sh`), so that no
/// test reads or changes the user's: `$VANTAGE_TEST_WEIGHTS`, or
/// `target/test-weights` in the workspace.
pub fn weights_dir() -> PathBuf {
    std::env::var_os("VANTAGE_TEST_WEIGHTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-weights"))
}

/// A `vantage` command that finds its weights in [`weights_dir`].
pub fn command() -> Command {
    let mut c = Command::new(binary());
    c.env("VANTAGE_WEIGHTS", weights_dir());
    c
}

/// The latest modification time of the Rust sources and manifests the
/// binary is built from.
fn newest_source(workspace: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut dirs = vec![workspace.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !matches!(name.as_ref(), "target" | "tests" | ".git" | "node_modules") {
                    dirs.push(path);
                }
            } else if name.ends_with(".rs")
                || name == "Cargo.toml"
                || name == "Cargo.lock"
                || (name.ends_with(".yaml") && dir.ends_with("pipelines"))
            {
                let modified = entry.metadata().and_then(|m| m.modified()).ok();
                newest = newest.max(modified);
            }
        }
    }
    newest
}

/// Start `vantage --json ARGS` with its cache in `cache_dir`: the child
/// (to kill) and its stdout, one JSON event per line.
pub fn spawn_json(
    cache_dir: &Path,
    args: &[&str],
) -> (std::process::Child, std::process::ChildStdout) {
    let mut child = command()
        .arg("--cache-dir")
        .arg(cache_dir)
        .args(args)
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("running vantage");
    let stdout = child.stdout.take().expect("stdout");
    (child, stdout)
}

/// Run `vantage ARGS` with its cache in `cache_dir`.
pub fn run(cache_dir: &Path, args: &[&str]) -> Output {
    command()
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
    let (mut child, stdout) = spawn_json(cache_dir, args);
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.contains("\"progress\"") && line.contains("\"interpolate\"") {
            return Some(child);
        }
    }
    let _ = child.wait();
    None
}
