//! Write a demo sample into DIR: `source.mp4` (a clip whose picture shows its
//! own time, over speech) and `target.wav` (the same words, another voice and rhythm).

use vantage_e2e::case::{build, cases};

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: make-sample DIR");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: creating {}: {e}", dir.display());
        std::process::exit(1);
    }
    let mut spec = cases()[1].clone();
    spec.width = 640;
    spec.height = 360;
    spec.words = 24;
    let case = build(&spec, &dir);
    println!(
        "sample: {} + {}",
        case.source_video.display(),
        case.target_audio.display()
    );
}
