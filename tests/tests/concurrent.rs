//! Two `vantage sync` processes started together on one cache directory: the
//! second waits for the first (saying so) and both succeed with the same output.

use std::process::Stdio;
use vantage_e2e::tools::slowed_clip;
use vantage_e2e::vantage::{command, sync_args};

#[test]
fn two_sync_processes_on_one_cache_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = slowed_clip(dir.path());
    let cache = dir.path().join("cache");
    let outs = [dir.path().join("a.mp4"), dir.path().join("b.mp4")];
    let children: Vec<_> = outs
        .iter()
        .map(|out| {
            command()
                .arg("--cache-dir")
                .arg(&cache)
                .args(sync_args(&video, &target, out, &[]))
                .env("VANTAGE_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for r in &results {
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    // One of them found the cache in use and waited for it, saying so.
    assert!(
        results
            .iter()
            .any(|r| String::from_utf8_lossy(&r.stderr).contains("waiting for the cache")),
        "neither process waited: {}",
        results
            .iter()
            .map(|r| String::from_utf8_lossy(&r.stderr).into_owned())
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    let (a, b) = (
        std::fs::read(&outs[0]).unwrap(),
        std::fs::read(&outs[1]).unwrap(),
    );
    assert!(!a.is_empty());
    assert_eq!(a, b, "the two outputs differ");
}
