//! `vantage sync --diagnostic DIR`: the video, the plot (SVG and PNG) and the
//! report, which opens in a real browser (headless Chromium) with the plot
//! visible and tables that hold what the run's artifacts say.

use vantage_core::{Alignment, FreezePlan};
use vantage_e2e::browser::{dom, screenshot, table_rows};
use vantage_e2e::tools::{rgb_pixels, s, slowed_clip};
use vantage_e2e::vantage::{run, stderr};

#[test]
fn the_report_opens_in_chromium_with_its_plot_and_the_runs_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = slowed_clip(dir.path());
    let p = |name: &str| dir.path().join(name);
    let (out, diag) = (p("out.mp4"), p("diag"));
    let o = run(
        &p("cache"),
        &[
            "sync",
            s(&video),
            s(&target),
            "-o",
            s(&out),
            "--mode",
            "blend",
            "--diagnostic",
            s(&diag),
            "--freezes",
            s(&p("freezes.json")),
            "--alignment",
            s(&p("alignment.json")),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for file in ["diagnostic.mp4", "report.html", "warp.svg", "warp.png"] {
        assert!(diag.join(file).is_file(), "{file} missing");
    }
    let read = |path: std::path::PathBuf| std::fs::read(path).unwrap();
    let freezes: FreezePlan = serde_json::from_slice(&read(p("freezes.json"))).unwrap();
    let alignment: Alignment = serde_json::from_slice(&read(p("alignment.json"))).unwrap();
    let pairs = alignment.confidence.words.as_ref().unwrap().pairs.len();
    assert!(!freezes.segments.is_empty() && pairs > 0);

    // Self-contained: nothing is fetched from the network.
    let html = String::from_utf8(read(diag.join("report.html"))).unwrap();
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));

    // What the browser built: one row per freeze, per word pair, per stage,
    // and links to the two videos relative to the report.
    let page = dom(&diag.join("report.html"));
    assert_eq!(table_rows(&page, "freezes"), freezes.segments.len());
    assert_eq!(table_rows(&page, "pairs"), pairs);
    assert_eq!(table_rows(&page, "stages"), 10);
    let link = |id: &str| {
        let start = format!("id=\"{id}\" href=\"");
        let at = page.find(&start).expect("link") + start.len();
        let href = &page[at..at + page[at..].find('"').unwrap()];
        std::fs::canonicalize(diag.join(href)).unwrap()
    };
    assert_eq!(
        link("diagnostic-link"),
        std::fs::canonicalize(diag.join("diagnostic.mp4")).unwrap()
    );
    assert_eq!(link("output-link"), std::fs::canonicalize(&out).unwrap());

    // The plot is drawn, not blank: the warp's blue and the anchors' red
    // cover real area near the top of the page.
    let shot = p("shot.png");
    screenshot(&diag.join("report.html"), &shot, 1100, 1000);
    let (rgb, w, h) = rgb_pixels(&shot);
    let count = |(r, g, b): (i32, i32, i32)| {
        rgb.chunks_exact(3)
            .take((w * h * 3 / 4) as usize)
            .filter(|px| {
                (px[0] as i32 - r).abs() < 30
                    && (px[1] as i32 - g).abs() < 30
                    && (px[2] as i32 - b).abs() < 30
            })
            .count()
    };
    let (blue, red) = (count((31, 119, 180)), count((214, 39, 40)));
    assert!(
        blue > 500 && red > 50,
        "plot not visible: {blue} blue, {red} red pixels"
    );
}

#[test]
fn a_diagnostic_of_a_vfr_sync_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        &dir.path().join("cache"),
        &[
            "sync",
            "missing.mp4",
            "missing.wav",
            "-o",
            "out.mp4",
            "--mode",
            "vfr",
            "--diagnostic",
            s(&dir.path().join("diag")),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not apply to mode vfr"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("diag").exists() && !dir.path().join("cache").exists());
}
