//! `kill -9` in the middle of a render leaves a sound cache, and the next run resumes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use vantage_e2e::speech::{script, speak, Voice};
use vantage_e2e::vantage::{binary, run, stderr};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn killed_run_resumes_from_finished_stages() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (words, _) = script(16);
    let sp = speak(
        &words,
        &Voice {
            name: "en-us",
            speed: 150,
            pitch: 50,
        },
        &vec![0.15; words.len()],
        0.3,
    );
    let speech = dir.path().join("speech.wav");
    sp.write_wav(&speech).unwrap();
    let target = speak(
        &words,
        &Voice {
            name: "en+f3",
            speed: 130,
            pitch: 60,
        },
        &vec![0.25; words.len()],
        0.3,
    );
    let target_path = dir.path().join("target.wav");
    target.write_wav(&target_path).unwrap();
    let video = dir.path().join("video.mp4");
    let d = format!("{:.3}", sp.duration());
    let ok = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=24",
            "-i",
            s(&speech),
            "-t",
            &d,
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            s(&video),
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok);

    // A deliberately slow encode, killed (SIGKILL) as soon as the render starts.
    let out = dir.path().join("out.mp4");
    let mut child = Command::new(binary())
        .args([
            "--cache-dir",
            s(&cache),
            "sync",
            s(&video),
            s(&target_path),
            "-o",
            s(&out),
            "--json",
        ])
        .args(["--set", "interpolate.preset=veryslow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut killed = false;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.contains("\"progress\"") && line.contains("\"interpolate\"") {
            child.kill().expect("SIGKILL");
            killed = true;
            break;
        }
    }
    let _ = child.wait();
    assert!(killed, "the run finished before it could be killed");
    assert!(!out.exists(), "a partial output was delivered");

    // The ffmpeg children of the killed process may still hold the cache files open briefly.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let v = run(&cache, &["cache", "verify"]);
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        stderr(&v)
    );

    let o = run(
        &cache,
        &["sync", s(&video), s(&target_path), "-o", s(&out), "--json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for stage in ["source-audio", "target-audio", "analyze", "retime"] {
        assert!(
            text.contains(&format!("{{\"event\":\"cached\",\"stage\":\"{stage}\"}}")),
            "{stage} was not resumed from the cache:\n{text}"
        );
    }
    assert!(
        text.contains("{\"event\":\"started\",\"stage\":\"interpolate\"}"),
        "{text}"
    );
    assert!(out.is_file());
}
