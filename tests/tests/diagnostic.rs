//! The diagnostic video, checked by its pixels: repeated frames outlined in
//! their freeze's colour in panel 2, made frames outlined in panel 3, real
//! ones not, labels drawn, as many frames as the output; and a diagnostic
//! after a sync with the same parameters renders only the diagnostic.

use std::path::Path;
use vantage_core::{FreezePlan, Made, RenderLog, Severity};
use vantage_e2e::tools::{duration, s, slowed_clip};
use vantage_e2e::vantage::{run, stderr};
use vantage_media::{Frame, FrameReader};

/// Y, U, V of the pixel at (x, y).
fn yuv(f: &Frame, x: u32, y: u32) -> (i32, i32, i32) {
    let (w, h) = (f.width as usize, f.height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (x, y) = (x as usize, y as usize);
    let c = (y / 2) * cw + x / 2;
    (
        f.data[y * w + x] as i32,
        f.data[w * h + c] as i32,
        f.data[w * h + cw * ch + c] as i32,
    )
}

fn near(a: (i32, i32, i32), b: (i32, i32, i32)) -> bool {
    (a.0 - b.0).abs() <= 6 && (a.1 - b.1).abs() <= 6 && (a.2 - b.2).abs() <= 6
}

/// BT.709 limited range, as the stage computes it.
fn colour(r: i32, g: i32, b: i32) -> (i32, i32, i32) {
    (
        16 + (47 * r + 157 * g + 16 * b + 128) / 256,
        128 + (-26 * r - 87 * g + 112 * b + 128) / 256,
        128 + (112 * r - 102 * g - 10 * b + 128) / 256,
    )
}

fn frames(path: &Path) -> Vec<Frame> {
    let info = vantage_media::probe(path).unwrap();
    let v = info.require_video(path).unwrap();
    let mut reader = FrameReader::open(path, &info).unwrap();
    let mut out = Vec::new();
    let mut f = Frame::black(v.width, v.height);
    while reader.read_into(&mut f).unwrap() {
        out.push(f.clone());
    }
    out
}

#[test]
fn the_diagnostic_marks_repeats_and_made_frames_by_their_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = slowed_clip(dir.path());
    let cache = dir.path().join("cache");
    let out = dir.path().join("out.mp4");
    let p = |name: &str| dir.path().join(name);
    let o = run(
        &cache,
        &[
            "sync",
            s(&video),
            s(&target),
            "-o",
            s(&out),
            "--mode",
            "blend",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let diag = p("diagnostic.mp4");
    let (v, a) = (
        format!("video={}", s(&video)),
        format!("audio={}", s(&target)),
    );
    let o = run(
        &cache,
        &[
            "run",
            "diagnostic",
            "-i",
            &v,
            "-i",
            &a,
            "-o",
            &format!("video={}", s(&out)),
            "-o",
            &format!("diagnostic={}", s(&diag)),
            "-o",
            &format!("freezes={}", s(&p("freezes.json"))),
            "-o",
            &format!("frames={}", s(&p("frames.json"))),
            "--set",
            "interpolate.mode=blend",
            "--set",
            "diagnostic.crf=0",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // After the sync, only the diagnostic itself was rendered.
    let ran: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "done")
        .filter_map(|e| e["stage"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ran, ["diagnostic"]);

    let read = |name: &str| std::fs::read(p(name)).unwrap();
    let freezes: FreezePlan = serde_json::from_slice(&read("freezes.json")).unwrap();
    let log: RenderLog = serde_json::from_slice(&read("frames.json")).unwrap();
    let (shown, delivered) = (frames(&diag), frames(&out));
    assert_eq!(shown.len(), delivered.len());
    assert_eq!(shown.len(), log.frames.len());
    assert!((duration(&diag) - duration(&out)).abs() < 0.1);

    // Geometry: three 160x90 panels side by side, under a 36-pixel label band.
    let (pw, ph, band) = (160u32, 90u32, 36u32);
    assert_eq!((shown[0].width, shown[0].height), (3 * pw, ph + band));
    let border = |f: &Frame, panel: u32| yuv(f, panel * pw + 1, band + ph / 2);
    // A freeze's frames after its first repeat the frame before.
    let mut repeat = vec![None; shown.len()];
    for seg in &freezes.segments {
        for slot in &mut repeat[seg.start_frame + 1..seg.start_frame + seg.frames] {
            *slot = Some(seg.severity);
        }
    }
    let severity = |s: Severity| {
        let (r, g, b) = s.rgb();
        colour(r as i32, g as i32, b as i32)
    };
    let green = colour(0, 200, 80);
    let (mut frozen, mut made) = (0, 0);
    for (k, f) in shown.iter().enumerate() {
        match repeat[k] {
            Some(sev) => {
                frozen += 1;
                assert!(
                    near(border(f, 1), severity(sev)),
                    "frame {k}: no {sev:?} outline"
                );
            }
            // No outline: panel 2 shows exactly what panel 1 does.
            None => assert!(near(border(f, 1), border(f, 0)), "frame {k}: outlined"),
        }
        match log.frames[k].made {
            Made::Blended | Made::Synthesised => {
                made += 1;
                assert!(
                    near(border(f, 2), green),
                    "frame {k}: made but not outlined"
                );
            }
            Made::Real if !log.frames[k].guarded => {
                assert!(!near(border(f, 2), green), "frame {k}: real but outlined");
            }
            Made::Real => {}
        }
    }
    assert!(
        frozen > 0 && made > 0,
        "{frozen} frozen, {made} made: the case shows nothing"
    );
    // Labels: white text in every panel's band.
    let band_has_text = |f: &Frame, panel: u32| {
        (0..band).any(|y| (panel * pw..panel * pw + pw / 2).any(|x| yuv(f, x, y).0 > 180))
    };
    for panel in 0..3 {
        assert!(
            band_has_text(&shown[0], panel),
            "panel {panel} has no label"
        );
    }
}
