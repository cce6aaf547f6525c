//! RIFE frame synthesis through the real binary: the image command, the
//! precision mode on a clip with exact ground truth, and the scene-cut guard.
//! Needs the rife weights (`vantage weights fetch rife`; scripts/test.sh does it).

use std::path::{Path, PathBuf};
use vantage_e2e::bars::read_video_times;
use vantage_e2e::case::{build, cases, score};
use vantage_e2e::tools::{ffmpeg, s};
use vantage_e2e::vantage::{run, stderr};
use vantage_media::{read_image, Frame, FrameReader};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/rife/tests/fixtures")
        .join(name)
}

#[test]
fn the_image_command_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mid.png");
    let (a, b) = (fixture("frame0.png"), fixture("frame1.png"));
    let o = run(
        &dir.path().join("cache"),
        &[
            "interpolate",
            s(&a),
            s(&b),
            "--t",
            "0.5",
            "-o",
            s(&out),
            "--deep",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (ours, reference) = (
        read_image(&out).unwrap(),
        read_image(&fixture("reference-t50.png")).unwrap(),
    );
    let mse: f64 = ours
        .data
        .iter()
        .zip(&reference.data)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        / ours.data.len() as f64;
    let psnr = 10.0 * (1.0 / mse.max(1e-12)).log10();
    assert!(psnr >= 50.0, "PSNR {psnr:.1} dB against the reference");

    // Bad requests fail with a reason and write nothing.
    let refuses = |args: &[&str], needle: &str| {
        let o = run(&dir.path().join("cache"), args);
        assert!(
            !o.status.success() && stderr(&o).contains(needle),
            "{}",
            stderr(&o)
        );
    };
    let (x, y) = (dir.path().join("x.png"), dir.path().join("y.png"));
    refuses(
        &["interpolate", s(&a), s(&b), "--t", "1", "-o", s(&x)],
        "strictly between 0 and 1",
    );
    let small = dir.path().join("small.png");
    ffmpeg(&["-i", s(&a), "-vf", "scale=64:32", s(&small)]);
    refuses(
        &["interpolate", s(&a), s(&small), "-o", s(&y)],
        "must be the same size",
    );
    assert!(!dir.path().join("x.png").exists() && !dir.path().join("y.png").exists());
}

#[test]
fn precision_mode_puts_the_picture_where_the_truth_is() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut spec = cases()[3].clone();
    spec.words = 12;
    (spec.width, spec.height) = (160, 96);
    let case = build(&spec, dir.path());
    let run_mode = |mode: &str| {
        let out = dir.path().join(format!("{mode}.mp4"));
        let o = run(
            &cache,
            &[
                "sync",
                s(&case.source_video),
                s(&case.target_audio),
                "-o",
                s(&out),
                "--mode",
                mode,
                "--json",
            ],
        );
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        (out, String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (off, _) = run_mode("off");
    let (precise, events) = run_mode("precision");
    assert!(events.contains("synthesised"), "{events}");
    let (off_score, precise_score) = (score(&case, &off), score(&case, &precise));
    eprintln!(
        "off {} | precision {}",
        off_score.output, precise_score.output
    );
    assert!(
        precise_score.output.median < 10.0,
        "{:?}",
        precise_score.output
    );
    assert!(precise_score.output.median < off_score.output.median);

    // Same frame count as the nearest-frame render, and no picture frozen
    // during speech while the truth moves (off repeats frames there).
    let (a, b) = (
        read_video_times(&off).unwrap(),
        read_video_times(&precise).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    assert!(
        off_score.frozen.0 > 0,
        "the case should freeze without RIFE"
    );
    assert_eq!(
        precise_score.frozen.0, 0,
        "precision froze {:?}, off {:?}",
        precise_score.frozen, off_score.frozen
    );
}

fn luma_frames(path: &Path) -> Vec<Vec<u8>> {
    let info = vantage_media::probe(path).unwrap();
    let v = info.require_video(path).unwrap();
    let mut reader = FrameReader::open(path, &info).unwrap();
    let mut f = Frame::black(v.width, v.height);
    let mut out = Vec::new();
    while reader.read_into(&mut f).unwrap() {
        out.push(f.luma().to_vec());
    }
    out
}

fn mean_difference(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y) as f64)
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn no_frame_is_synthesised_across_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    // Two shots of 1 s at 25 fps: a cut between source frames 24 and 25.
    let video = dir.path().join("cut.mp4");
    // The second shot is the same pattern negated: moving content, and a hard cut.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x96:r=25:d=2",
        "-filter_complex",
        "[0]split[a][b];[a]trim=0:1[a1];[b]trim=1:2,setpts=PTS-STARTPTS,negate[b1];[a1][b1]concat=n=2:v=1",
        "-c:v",
        "libx264",
        "-qp",
        "0",
        "-pix_fmt",
        "yuv420p",
        s(&video),
    ]);
    // Half speed around the cut: positions 20, 20.5, ..., 29.5.
    let positions: Vec<f64> = (0..20).map(|k| 20.0 + k as f64 * 0.5).collect();
    let plan = serde_json::json!({
        "fps": {"num": 25, "den": 1}, "width": 160, "height": 96,
        "source_frames": 50, "positions": positions,
    });
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let pipeline = dir.path().join("render.yaml");
    std::fs::write(
        &pipeline,
        "inputs:\n  video: video\n  plan: frame-plan\nstages:\n  render:\n    uses: interpolate\n    inputs: { video: inputs.video, plan: inputs.plan }\n    params: { mode: precision, crf: 0, preset: ultrafast }\noutputs:\n  video: render.video\n  log: render.log\n",
    )
    .unwrap();
    let out = dir.path().join("out.mp4");
    let log_path = dir.path().join("log.json");
    let o = run(
        &dir.path().join("cache"),
        &[
            "run",
            s(&pipeline),
            "-i",
            &format!("video={}", s(&video)),
            "-i",
            &format!("plan={}", s(&plan_path)),
            "-o",
            s(&out),
            "-o",
            &format!("log={}", s(&log_path)),
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(
        events.contains("cuts between source frames 24|25"),
        "{events}"
    );

    // The render's log says what the pixels below show, frame by frame.
    let log: vantage_core::RenderLog =
        serde_json::from_slice(&std::fs::read(&log_path).unwrap()).unwrap();
    assert_eq!(
        (log.mode.as_str(), log.cuts.as_slice()),
        ("precision", &[24][..])
    );
    assert_eq!(log.frames.len(), positions.len());
    for (f, &p) in log.frames.iter().zip(&positions) {
        use vantage_core::Made;
        let (lo, across) = (p.floor() as usize, p.floor() == 24.0);
        let expected = match (p.fract() == 0.0, across) {
            (true, _) => (Made::Real, lo, None, false),
            // Nearest of 24.5 rounds up to the other shot's first frame.
            (false, true) => (Made::Real, 25, None, true),
            (false, false) => (Made::Synthesised, lo, Some(0.5), false),
        };
        assert_eq!((f.made, f.source, f.t, f.guarded), expected, "position {p}");
    }
    assert_eq!(log.synthesised(), 9);

    let source = luma_frames(&video);
    let output = luma_frames(&out);
    assert_eq!(output.len(), positions.len());
    for (k, &p) in positions.iter().enumerate() {
        let (lo, hi) = (p.floor() as usize, p.ceil() as usize);
        let nearest = if p - (lo as f64) < 0.5 { lo } else { hi };
        let d = mean_difference(&output[k], &source[nearest]);
        if lo == 24 && hi == 25 {
            // Across the cut: exactly the nearest real frame, on its own side.
            assert!(
                d < 0.5,
                "position {p}: differs from frame {nearest} by {d:.2}"
            );
        } else if lo != hi {
            // Inside a shot: a new frame, between its neighbours (nearer
            // to each than they are to each other).
            assert!(
                d > 0.05,
                "position {p} copied a real frame instead of synthesising"
            );
            let apart = mean_difference(&source[lo], &source[hi]);
            let (to_lo, to_hi) = (
                mean_difference(&output[k], &source[lo]),
                mean_difference(&output[k], &source[hi]),
            );
            assert!(
                to_lo < apart && to_hi < apart,
                "position {p}: {to_lo:.2} and {to_hi:.2} from its neighbours, which are {apart:.2} apart"
            );
        }
    }
}
