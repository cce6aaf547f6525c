//! Write a sample into DIR: `source.mp4` (a clip whose picture shows its own
//! time, over speech) and `target.wav` (the same words, another voice and
//! rhythm). Usage: make-sample DIR [CASE [WORDS [WIDTHxHEIGHT]]].

use vantage_e2e::case::{build, cases};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: make-sample DIR [CASE [WORDS [WIDTHxHEIGHT]]]");
        std::process::exit(2);
    };
    let all = cases();
    let index: usize = args
        .get(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
        .min(all.len() - 1);
    let mut spec = all[index].clone();
    spec.words = args.get(2).and_then(|w| w.parse().ok()).unwrap_or(24);
    let (w, h) = args
        .get(3)
        .and_then(|s| s.split_once('x'))
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .unwrap_or((640, 360));
    (spec.width, spec.height) = (w, h);
    let dir = std::path::PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: creating {}: {e}", dir.display());
        std::process::exit(1);
    }
    let case = build(&spec, &dir);
    println!(
        "sample ({}): {} + {}",
        spec.name,
        case.source_video.display(),
        case.target_audio.display()
    );
}
