//! What sharing through object storage costs and saves, on this machine,
//! against s3s-fs on loopback.
//!
//! 1. Remote cache: the same sync computed (empty caches), served by the
//!    local cache, and served by the remote tier to an empty local cache
//!    (a second replica): medians of STORAGE_ROUNDS rounds (default 3) and
//!    the ratios remote hit / computed and remote hit / local hit.
//! 2. Segments: one interpolate render of a longer clip whole and in 2 s
//!    segments: the overhead of segmenting (a decoder per segment reading
//!    from the start, an encoder start per segment, the join).
//! 3. Replicas: a segmented RIFE render (`vantage serve`, precision, 2 s
//!    segments) on one replica, then led by one with a second as its peer
//!    (`--peer`), both on this machine: the ratio shows what fan-out costs
//!    (uploads, polling, a decoder per peer segment, the backup of the last
//!    segment), since the two share the same 2 cores.
//!
//! `cargo build --release -p vantage-cli && cargo bench -p vantage-e2e --bench storage`

use std::path::{Path, PathBuf};
use std::time::Instant;
use vantage_e2e::http;
use vantage_e2e::s3::S3;
use vantage_e2e::server::Server;
use vantage_e2e::speech::{script, speak, Voice};
use vantage_e2e::tools::{self, s};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A clip of `words` words and the same words slower in another voice.
fn clip(dir: &Path, words: usize, size: &str) -> (PathBuf, PathBuf) {
    let voice = Voice {
        name: "en-us",
        speed: 170,
        pitch: 50,
    };
    let pattern = format!("testsrc2=size={size}:rate=24");
    let (video, _) = tools::talking_clip(dir, "video", words, &voice, 0.1, &pattern);
    let (list, _) = script(words);
    let slow = Voice {
        name: "en+f3",
        speed: 120,
        pitch: 60,
    };
    let target = dir.join("target.wav");
    speak(&list, &slow, &vec![0.3; list.len()], 0.3)
        .write_wav(&target)
        .expect("writing speech");
    (video, target)
}

/// Seconds `vantage sync` takes with `cache` (and the remote, if any).
fn sync(
    s3: &S3,
    cache: &Path,
    remote: Option<&str>,
    clip: &(PathBuf, PathBuf),
    extra: &[&str],
) -> f64 {
    let out = cache.with_extension("mp4");
    let mut cmd = vantage_e2e::vantage::command();
    cmd.args(["--cache-dir", s(cache)]);
    if let Some(r) = remote {
        cmd.args(["--cache-remote", r]);
    }
    cmd.args(["sync", s(&clip.0), s(&clip.1), "-o", s(&out)])
        .args(extra)
        .envs(s3.env())
        .env("VANTAGE_LOG", "warn");
    let start = Instant::now();
    let o = cmd.output().expect("running vantage");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    start.elapsed().as_secs_f64()
}

fn main() {
    let rounds: usize = std::env::var("STORAGE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = S3::start(&dir.path().join("s3"));

    println!("## Remote cache tier (sync, 8 words, 320x180, --mode blend; {rounds} rounds)");
    let small = clip(&mkdir(dir.path().join("small")), 8, "320x180");
    let blend = ["--mode", "blend"];
    let (mut computed, mut local, mut remote) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let bucket = s3.url(&format!("round{r}"));
        let a = dir.path().join(format!("a{r}"));
        computed.push(sync(&s3, &a, Some(&bucket), &small, &blend));
        local.push(sync(&s3, &a, Some(&bucket), &small, &blend));
        remote.push(sync(
            &s3,
            &dir.path().join(format!("b{r}")),
            Some(&bucket),
            &small,
            &blend,
        ));
    }
    let (c, l, rm) = (median(computed), median(local), median(remote));
    println!("| run | seconds (median) |");
    println!("|---|---|");
    println!("| computed (empty caches) | {c:.2} |");
    println!("| local cache hit | {l:.2} |");
    println!("| remote hit, empty local cache | {rm:.2} |");
    println!(
        "remote hit / computed = {:.3}; remote hit / local hit = {:.3}",
        rm / c,
        rm / l
    );

    println!("\n## Segments (interpolate, 40 words, 640x360, --mode blend)");
    let long = clip(&mkdir(dir.path().join("long")), 40, "640x360");
    let warm = dir.path().join("seg-cache");
    // Everything before the render, cached once.
    sync(&s3, &warm, None, &long, &["--mode", "off"]);
    let whole = sync(
        &s3,
        &warm,
        None,
        &long,
        &["--mode", "blend", "--set", "interpolate.segment_seconds=0"],
    );
    let seg = ["--mode", "blend", "--set", "interpolate.segment_seconds=2"];
    let segmented = sync(&s3, &warm, None, &long, &seg);
    println!("| render | seconds |");
    println!("|---|---|");
    println!("| whole | {whole:.2} |");
    println!("| 2 s segments | {segmented:.2} |");
    println!("segmented / whole = {:.3}", segmented / whole);

    println!("\n## Replicas (serve, 20 words, 320x180, precision, 2 s segments)");
    let mid = clip(&mkdir(dir.path().join("mid")), 20, "320x180");
    let one = replicas(&s3, dir.path(), "one", &mid, false);
    let two = replicas(&s3, dir.path(), "two", &mid, true);
    println!("| replicas | render seconds |");
    println!("|---|---|");
    println!("| 1 | {one:.2} |");
    println!("| 2 (leader + peer, same 2 cores) | {two:.2} |");
    println!("2 replicas / 1 = {:.3}", two / one);
}

/// Seconds the leader takes for the interpolate render of `clip` (every
/// stage before it cached first), alone or with a peer; fresh caches.
fn replicas(s3: &S3, dir: &Path, name: &str, clip: &(PathBuf, PathBuf), peer: bool) -> f64 {
    let env = s3.env();
    let remote = s3.url(name);
    let allow = dir.to_string_lossy().to_string();
    let common = [
        "--allow-dir",
        allow.as_str(),
        "--cache-remote",
        remote.as_str(),
    ];
    let helper = peer.then(|| Server::start_env(&dir.join(format!("{name}-peer")), &common, &env));
    let mut args = common.to_vec();
    if let Some(h) = &helper {
        args.extend(["--peer", h.queue.as_str()]);
    }
    let lead = Server::start_env(&dir.join(format!("{name}-lead")), &args, &env);
    let request = |mode: &str| {
        let body = serde_json::json!({
            "inputs": {
                "video": format!("file://{}", clip.0.display()),
                "audio": format!("file://{}", clip.1.display()),
            },
            "params": {"interpolate.mode": mode, "interpolate.segment_seconds": 2},
        });
        let start = Instant::now();
        let answer = http::post(&format!("{}/pipelines/sync", lead.direct), &body);
        assert_eq!(answer.status, 200, "{}", answer.text());
        start.elapsed().as_secs_f64()
    };
    request("off");
    request("precision")
}

fn mkdir(path: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&path).expect("mkdir");
    path
}
