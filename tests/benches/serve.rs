//! The API's cost and its behaviour under load, on loopback.
//!
//! 1. Overhead: the same sync through `POST /sync` and through `vantage sync`,
//!    alternating, each on a fresh cache, in one run: the ratio of medians
//!    (target ≤ 1.05; the server has its models warm, the CLI loads them).
//! 2. Load: SERVE_REQUESTS (default 200) queue submissions, a mix of short
//!    generated clips (SERVE_UNIQUE distinct, default 10, so the cache serves
//!    the repeats), 8 in flight: every request must reach COMPLETED, none lost;
//!    p50/p95 queue wait and run time; the server's RSS, peak of each quarter.
//! 3. The same load again (another mode, so the renders run) with the server
//!    SIGKILLed half way and restarted: still none lost.
//!
//! `cargo build --release -p vantage-cli && cargo bench -p vantage-e2e --bench serve`
//! (SERVE_ROUNDS sets the overhead's rounds, default 3; SERVE_LOAD=0 skips the load).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vantage_e2e::http;
use vantage_e2e::server::Server;
use vantage_e2e::speech::{script, speak, Voice};
use vantage_e2e::tools::{self, s};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Clip `i`: 6 + i words, the target in another voice and rhythm.
fn clip(dir: &Path, i: usize) -> (PathBuf, PathBuf) {
    let voice = Voice {
        name: "en-us",
        speed: 165 + 3 * i as u32,
        pitch: 50,
    };
    let (video, _) = tools::talking_clip(
        dir,
        &format!("v{i}"),
        6 + i,
        &voice,
        0.1,
        "testsrc2=size=320x180:rate=24",
    );
    let (words, _) = script(6 + i);
    let target = dir.join(format!("t{i}.wav"));
    let slow = Voice {
        name: "en+f3",
        speed: 120,
        pitch: 60,
    };
    speak(&words, &slow, &vec![0.3; words.len()], 0.3)
        .write_wav(&target)
        .expect("speech");
    (video, target)
}

fn input(video: &Path, audio: &Path, mode: &str) -> Value {
    json!({"video_url": format!("file://{}", video.display()), "audio_url": format!("file://{}", audio.display()), "rife_mode": mode, "on_mismatch": "acoustic"})
}

fn overhead(dir: &Path) {
    let (video, target) = clip(dir, 4);
    let (mut api, mut cli) = (Vec::new(), Vec::new());
    let rounds = env("SERVE_ROUNDS", 3);
    for round in 0..rounds {
        let data = dir.join(format!("api{round}"));
        let server = Server::start(&data, &["--allow-dir", s(dir)]);
        let start = Instant::now();
        let a = http::post(
            &format!("{}/sync", server.direct),
            &input(&video, &target, "adaptive"),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        api.push(start.elapsed().as_secs_f64());
        drop(server);
        let out = dir.join(format!("cli{round}.mp4"));
        let start = Instant::now();
        let o = vantage_e2e::vantage::run(
            &dir.join(format!("cli-cache{round}")),
            &[
                "sync",
                s(&video),
                s(&target),
                "-o",
                s(&out),
                "--on-mismatch",
                "acoustic",
            ],
        );
        assert!(o.status.success(), "{}", vantage_e2e::vantage::stderr(&o));
        cli.push(start.elapsed().as_secs_f64());
    }
    let (a, c) = (median(api.clone()), median(cli.clone()));
    println!("overhead: API {a:.2} s, CLI {c:.2} s (medians of {rounds}, fresh caches, mode adaptive): ratio {:.3}", a / c);
    println!("  API runs {api:.2?}, CLI runs {cli:.2?}");
}

/// The server's resident memory (MiB), sampled until `stop`.
fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<f64>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            {
                out.push(kb / 1024.0);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        out
    })
}

/// Submit `bodies` with 8 in flight; returns the request ids in order.
fn submit_all(queue: &str, bodies: &[Value]) -> Vec<String> {
    let next = Arc::new(Mutex::new(0usize));
    let ids = Arc::new(Mutex::new(vec![String::new(); bodies.len()]));
    let bodies = Arc::new(bodies.to_vec());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (next, ids, bodies, queue) =
                (next.clone(), ids.clone(), bodies.clone(), queue.to_string());
            std::thread::spawn(move || loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                if i >= bodies.len() {
                    return;
                }
                let a = http::post(&format!("{queue}/local/vantage/sync"), &bodies[i]);
                assert_eq!(a.status, 200, "{}", a.text());
                ids.lock().unwrap()[i] = a.json()["request_id"].as_str().unwrap().to_string();
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    Arc::try_unwrap(ids).unwrap().into_inner().unwrap()
}

/// Wait until every id is COMPLETED (or `until` says stop); the count done.
fn wait_all(queue: &str, ids: &[String], until: &dyn Fn(usize) -> bool) -> usize {
    loop {
        let done = ids
            .iter()
            .filter(|id| {
                http::get(&format!("{queue}/local/vantage/requests/{id}/status")).json()["status"]
                    == "COMPLETED"
            })
            .count();
        if done == ids.len() || until(done) {
            return done;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn record(data: &Path, id: &str) -> Value {
    serde_json::from_slice(
        &std::fs::read(data.join("queue").join(format!("{id}.json"))).expect("record"),
    )
    .expect("json")
}

fn report(label: &str, data: &Path, ids: &[String], seconds: f64) {
    let records: Vec<Value> = ids.iter().map(|id| record(data, id)).collect();
    let ok = records
        .iter()
        .filter(|r| r["outcome"]["status"] == 200)
        .count();
    let lost = records.iter().filter(|r| r["state"] != "completed").count();
    let wait: Vec<f64> = records
        .iter()
        .filter_map(|r| Some(r["started_at"].as_f64()? - r["submitted_at"].as_f64()?))
        .collect();
    let run: Vec<f64> = records
        .iter()
        .filter_map(|r| Some(r["finished_at"].as_f64()? - r["started_at"].as_f64()?))
        .collect();
    println!(
        "{label}: {} requests in {seconds:.1} s: {ok} ok, {} failed, {lost} lost; queue wait p50 {:.2} s p95 {:.2} s; run p50 {:.2} s p95 {:.2} s",
        ids.len(),
        ids.len() - ok - lost,
        percentile(&wait, 0.5),
        percentile(&wait, 0.95),
        percentile(&run, 0.5),
        percentile(&run, 0.95)
    );
    assert_eq!(lost, 0, "every request reaches a terminal state");
    assert_eq!(ok, ids.len(), "every request succeeds");
}

fn load(dir: &Path) {
    let n = env("SERVE_REQUESTS", 200);
    let unique = env("SERVE_UNIQUE", 10);
    let clips: Vec<_> = (0..unique).map(|i| clip(dir, i)).collect();
    let bodies = |mode: &str| -> Vec<Value> {
        (0..n)
            .map(|i| input(&clips[i % unique].0, &clips[i % unique].1, mode))
            .collect()
    };
    let data = dir.join("load");
    let opts = ["--allow-dir", s(dir), "--max-queue", "10000"];
    let server = Server::start(&data, &opts);
    let stop = Arc::new(AtomicBool::new(false));
    let rss = sample_rss(server.pid(), stop.clone());
    let start = Instant::now();
    let ids = submit_all(&server.queue, &bodies("off"));
    wait_all(&server.queue, &ids, &|_| false);
    let seconds = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let rss = rss.join().unwrap();
    report("load", &data, &ids, seconds);
    let q = rss.len() / 4;
    let peaks: Vec<String> = (0..4)
        .map(|k| {
            format!(
                "{:.0}",
                rss[k * q..(k + 1) * q].iter().cloned().fold(0.0, f64::max)
            )
        })
        .collect();
    println!(
        "  server RSS peak per quarter of the run (MiB): {}",
        peaks.join(", ")
    );

    // Again with RIFE renders to do, killed once half are no longer queued.
    let start = Instant::now();
    let ids = submit_all(&server.queue, &bodies("precision"));
    let health = format!("{}/health", server.direct);
    while http::get(&health).json()["queued"].as_u64().unwrap_or(0) as usize > ids.len() / 2 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let done = ids
        .iter()
        .filter(|id| record(&data, id)["state"] == "completed")
        .count();
    server.kill();
    println!("  SIGKILL with {done} of {} completed", ids.len());
    let server = Server::start(&data, &opts);
    wait_all(&server.queue, &ids, &|_| false);
    report(
        "load with a SIGKILL and a restart",
        &data,
        &ids,
        start.elapsed().as_secs_f64(),
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    overhead(dir.path());
    if env("SERVE_LOAD", 1) == 1 {
        load(dir.path());
    }
}
