//! Sync accuracy benchmark: error of the shown source time against exact
//! ground truth, over the target's speech, next to the identity baseline and
//! the nearest-frame floor. Each case runs with word anchors (the default)
//! and on sound alone (`analyze.words=check`), so the table shows what the
//! transcripts add. Needs the tiny.en weights. Run: `cargo build --release
//! -p vantage-cli && cargo bench -p vantage-e2e --bench accuracy [MODE...]`
//! (modes: off, blend, adaptive, precision, maximum; default off and blend).
//! The cases are `case::all_cases()`: espeak-ng word by word (truth at word
//! ends) and flite connected speech (truth at phone ends), in a tuning and
//! a held-out half.

use vantage_e2e::case::{all_cases, build, score, Split};
use vantage_e2e::vantage;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    println!("sync accuracy, error of shown source time vs truth over target speech (ms)");
    println!(
        "{:<34} {:>6} {:>6} {:>8} | {:^23} | {:>9} | {:^23} | {:^23}",
        "case",
        "fps",
        "mode",
        "words",
        "vantage med/p95/max",
        "frozen",
        "identity med/p95/max",
        "floor med/p95/max"
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
    // ACCURACY_CASES=N runs the first N cases; ACCURACY_WORDS=anchor skips the sound-only runs
    // (for the slow RIFE modes).
    let limit: usize = std::env::var("ACCURACY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let settings: Vec<&str> = match std::env::var("ACCURACY_WORDS").as_deref() {
        Ok("anchor") => vec!["anchor"],
        _ => vec!["anchor", "check"],
    };
    // ACCURACY_SPLIT=tuning or held-out runs that half only.
    let split = std::env::var("ACCURACY_SPLIT").ok();
    let chosen = all_cases().into_iter().filter(|c| match split.as_deref() {
        Some("tuning") => c.split == Split::Tuning,
        Some("held-out") => c.split == Split::HeldOut,
        _ => true,
    });
    for (i, spec) in chosen.take(limit).enumerate() {
        let case_dir = dir.path().join(format!("case{i}"));
        std::fs::create_dir_all(&case_dir).expect("case dir");
        let case = build(&spec, &case_dir);
        for mode in &modes {
            for &words in &settings {
                let out = case_dir.join(format!("out-{mode}-{words}.mp4"));
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
                        "--set",
                        &format!("analyze.words={words}"),
                    ],
                );
                let label = if words == "anchor" {
                    "anchored"
                } else {
                    "sound"
                };
                if !o.status.success() {
                    println!(
                        "{:<34} {mode} {label} FAILED: {}",
                        spec.name,
                        vantage::stderr(&o)
                    );
                    continue;
                }
                let s = score(&case, &out);
                println!(
                    "{:<34} {:>6.2} {:>6} {:>8} | {} | {:>9} | {} | {}",
                    spec.name,
                    case.fps.as_f64(),
                    mode,
                    label,
                    s.output,
                    format!("{}/{}", s.frozen.0, s.frozen.1),
                    s.identity,
                    s.floor
                );
            }
        }
    }
}
