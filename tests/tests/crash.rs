//! Crash consistency: `vantage sync` killed with SIGKILL at random moments
//! of its run (in a stage, while the cache stores outputs, while the result
//! is delivered). After each kill the cache verifies clean; the rerun
//! reuses every stage the killed run finished, leaves no debris beside the
//! output, and delivers the uninterrupted run's bytes.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};
use vantage_e2e::tools::slowed_clip_of;
use vantage_e2e::vantage::{run, spawn_json, stderr, sync_args};

const TRIALS: usize = 20;

/// Stages named by `event` events in `--json` output.
fn stages(lines: &[String], event: &str) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == event)
        .filter_map(|e| e["stage"].as_str().map(str::to_string))
        .collect()
}

/// Run `vantage --json ARGS` and SIGKILL it after `after` (if it is still
/// running); the events it printed.
fn killed_after(cache: &Path, args: &[&str], after: Duration) -> Vec<String> {
    let (mut child, stdout) = spawn_json(cache, args);
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap_or_default()
}

#[test]
fn runs_killed_at_random_moments_leave_a_consistent_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (video, target) = slowed_clip_of(dir.path(), 6, "testsrc2=size=160x120:rate=24");
    let extra = ["--mode", "blend", "--set", "interpolate.segment_seconds=1"];

    let reference = dir.path().join("reference.mp4");
    let clock = Instant::now();
    let o = run(
        &dir.path().join("reference-cache"),
        &sync_args(&video, &target, &reference, &extra),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let whole = clock.elapsed().as_secs_f64();
    let expected = std::fs::read(&reference).expect("reference");

    // A fixed seed: the same moments on every run of the test.
    let mut x: u64 = 0x5eed_cafe;
    let mut killed_in_a_stage = 0;
    for trial in 0..TRIALS {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let at = (x >> 11) as f64 / (1u64 << 53) as f64 * whole * 1.1;
        let cache = dir.path().join(format!("cache-{trial}"));
        let out_dir = dir.path().join(format!("out-{trial}"));
        let out = out_dir.join("synced.mp4");
        let args = sync_args(&video, &target, &out, &extra);
        let events = killed_after(&cache, &args, Duration::from_secs_f64(at));
        let finished = stages(&events, "done");
        if !finished.is_empty() && stages(&events, "finished").is_empty() {
            killed_in_a_stage += 1;
        }

        let v = run(&cache, &["cache", "verify"]);
        let report = String::from_utf8_lossy(&v.stdout);
        assert!(
            v.status.success() && report.contains("all intact"),
            "trial {trial}, killed at {at:.2} s: {report}{}",
            stderr(&v)
        );

        let rerun = run(&cache, &[args.as_slice(), &["--json"]].concat());
        assert!(rerun.status.success(), "trial {trial}: {}", stderr(&rerun));
        let lines: Vec<String> = String::from_utf8_lossy(&rerun.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        let cached = stages(&lines, "cached");
        for stage in &finished {
            assert!(
                cached.contains(stage),
                "trial {trial} (killed at {at:.2} s): {stage} finished before the kill but ran again"
            );
        }
        assert!(
            std::fs::read(&out).expect("output") == expected,
            "trial {trial} (killed at {at:.2} s): the output differs from an uninterrupted run's"
        );
        let debris: Vec<_> = std::fs::read_dir(&out_dir)
            .expect("output dir")
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "synced.mp4")
            .collect();
        assert!(
            debris.is_empty(),
            "trial {trial}: left beside the output: {debris:?}"
        );
    }
    assert!(
        killed_in_a_stage >= TRIALS / 3,
        "most kills should land mid-run: {killed_in_a_stage} of {TRIALS} (the whole run took {whole:.2} s)"
    );
}
