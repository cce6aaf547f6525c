//! Interrupting a render: `kill -9` and Ctrl-C both leave a sound cache, and
//! the next run resumes from the stages that finished.

use std::path::{Path, PathBuf};
use vantage_e2e::speech::{script, speak, Voice};
use vantage_e2e::tools::talking_clip;
use vantage_e2e::vantage::{run, spawn_until_rendering, stderr, sync_args};

/// A 640x360 clip with speech, and the same words in another voice.
fn clip(dir: &Path) -> (PathBuf, PathBuf) {
    let source_voice = Voice {
        name: "en-us",
        speed: 150,
        pitch: 50,
    };
    let (video, _) = talking_clip(
        dir,
        "video",
        16,
        &source_voice,
        0.15,
        "testsrc2=size=640x360:rate=24",
    );
    let target_voice = Voice {
        name: "en+f3",
        speed: 130,
        pitch: 60,
    };
    let (words, _) = script(16);
    let target = speak(&words, &target_voice, &vec![0.25; words.len()], 0.3);
    let target_path = dir.join("target.wav");
    target.write_wav(&target_path).unwrap();
    (video, target_path)
}

/// A deliberately slow render, so the interruption lands in the middle of it.
fn slow_sync<'a>(video: &'a Path, target: &'a Path, out: &'a Path) -> Vec<&'a str> {
    sync_args(
        video,
        target,
        out,
        &["--set", "interpolate.preset=veryslow"],
    )
}

fn assert_resumes(cache: &Path, video: &Path, target: &Path, out: &Path) {
    let v = run(cache, &["cache", "verify"]);
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        stderr(&v)
    );
    let o = run(cache, &sync_args(video, target, out, &["--json"]));
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

#[test]
fn killed_run_resumes_from_finished_stages() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (video, target) = clip(dir.path());
    let out = dir.path().join("out.mp4");
    let mut child = spawn_until_rendering(&cache, &slow_sync(&video, &target, &out))
        .expect("finished before the kill");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(!out.exists(), "a partial output was delivered");
    // The killed process's ffmpeg children notice the closed pipes and exit on their own.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_resumes(&cache, &video, &target, &out);
}

#[test]
fn ctrl_c_stops_cleanly_and_keeps_finished_stages() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (video, target) = clip(dir.path());
    let out = dir.path().join("out.mp4");
    let mut child = spawn_until_rendering(&cache, &slow_sync(&video, &target, &out))
        .expect("finished before Ctrl-C");
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(
        child.wait().unwrap().code(),
        Some(130),
        "expected the cancelled exit code"
    );
    assert!(!out.exists());
    let stats = String::from_utf8_lossy(&run(&cache, &["cache", "stats"]).stdout).into_owned();
    assert!(
        // extract-audio ×2, transcribe ×2, analyze, retime, predict-freeze.
        stats.contains("entries:            7"),
        "finished stages should be cached:\n{stats}"
    );
    assert_resumes(&cache, &video, &target, &out);
}
