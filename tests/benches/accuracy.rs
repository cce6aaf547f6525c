//! Sync accuracy benchmark: error of the shown source time against exact
//! ground truth, over the target's speech, next to the identity baseline and
//! the nearest-frame floor. Run: `cargo build --release -p vantage-cli &&
//! cargo bench -p vantage-e2e --bench accuracy`.

use vantage_e2e::case::{build, cases, score};
use vantage_e2e::vantage;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    println!("sync accuracy, error of shown source time vs truth over target speech (ms)");
    println!(
        "{:<24} {:>6} {:>9} | {:^23} | {:^23} | {:^23}",
        "case", "fps", "mode", "vantage med/p95/max", "identity med/p95/max", "floor med/p95/max"
    );
    let modes: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let modes = if modes.is_empty() {
        vec!["off".to_string(), "blend".to_string()]
    } else {
        modes
    };
    for (i, spec) in cases().iter().enumerate() {
        let case_dir = dir.path().join(format!("case{i}"));
        std::fs::create_dir_all(&case_dir).expect("case dir");
        let case = build(spec, &case_dir);
        for mode in &modes {
            let out = case_dir.join(format!("out-{mode}.mp4"));
            let o = vantage::run(
                &cache,
                &[
                    "sync",
                    case.source_video.to_str().unwrap_or_default(),
                    case.target_audio.to_str().unwrap_or_default(),
                    "-o",
                    out.to_str().unwrap_or_default(),
                    "--mode",
                    mode,
                ],
            );
            if !o.status.success() {
                println!("{:<24} FAILED: {}", spec.name, vantage::stderr(&o));
                continue;
            }
            let s = score(&case, &out);
            println!(
                "{:<24} {:>6.2} {:>9} | {} | {} | {}",
                spec.name,
                case.fps.as_f64(),
                mode,
                s.output,
                s.identity,
                s.floor
            );
        }
    }
}
