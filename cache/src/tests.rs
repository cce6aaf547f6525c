use super::*;
use serde_json::json;

fn key_of(
    kind: &str,
    version: u32,
    params: serde_json::Value,
    inputs: &[(&str, &[u8])],
    weights: &[&str],
) -> StageKey {
    let params: BTreeMap<String, serde_json::Value> = serde_json::from_value(params).unwrap();
    let inputs = inputs
        .iter()
        .map(|(n, b)| (n.to_string(), Digest::of(b)))
        .collect();
    let weights: Vec<String> = weights.iter().map(|s| s.to_string()).collect();
    StageKey::new(kind, version, &params, &inputs, &weights)
}

#[test]
fn key_is_stable_and_every_component_changes_it() {
    let base = key_of(
        "analyze",
        1,
        json!({"a": 1, "b": "x"}),
        &[("src", b"1")],
        &["w1"],
    );
    // Stable: same inputs give the same key, whatever the param insertion order.
    assert_eq!(
        base,
        key_of(
            "analyze",
            1,
            json!({"b": "x", "a": 1}),
            &[("src", b"1")],
            &["w1"]
        )
    );
    let variants = [
        key_of(
            "retime",
            1,
            json!({"a": 1, "b": "x"}),
            &[("src", b"1")],
            &["w1"],
        ),
        key_of(
            "analyze",
            2,
            json!({"a": 1, "b": "x"}),
            &[("src", b"1")],
            &["w1"],
        ),
        key_of(
            "analyze",
            1,
            json!({"a": 2, "b": "x"}),
            &[("src", b"1")],
            &["w1"],
        ),
        key_of(
            "analyze",
            1,
            json!({"a": 1, "b": "x"}),
            &[("src", b"2")],
            &["w1"],
        ),
        key_of(
            "analyze",
            1,
            json!({"a": 1, "b": "x"}),
            &[("other", b"1")],
            &["w1"],
        ),
        key_of(
            "analyze",
            1,
            json!({"a": 1, "b": "x"}),
            &[("src", b"1")],
            &["w2"],
        ),
        key_of(
            "analyze",
            1,
            json!({"a": 1, "b": "x"}),
            &[("src", b"1")],
            &[],
        ),
    ];
    for (i, v) in variants.iter().enumerate() {
        assert_ne!(base, *v, "variant {i} did not change the key");
    }
}

#[test]
fn key_derivation_is_pinned() {
    // Known values pin the derivation: changing it silently invalidates every
    // user's cache, so it must be a deliberate change of these literals. The
    // first was also computed outside Rust (Python's blake3 package, over the
    // length-prefixed fields of key.rs).
    let empty = key_of("x", 1, json!({}), &[], &[]);
    assert_eq!(
        empty.to_string(),
        "a0a443ee373ca5702353ed7e6608068d9593b0ec8a22948a5fdea4206add5d66"
    );
    let full = key_of(
        "analyze",
        3,
        json!({"smoothing_ms": 50, "nested": {"b": [1, 2.5], "a": "x"}}),
        &[("source", b"src"), ("target", b"tgt")],
        &["w2", "w1"],
    );
    assert_eq!(
        full.to_string(),
        "d847b1285a893677523c2dd476c982ecaca5728c4d165a313d312dbea3368626"
    );
}

#[test]
fn blobs_round_trip_and_entries_need_their_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let blob = cache.put_bytes(b"hello").unwrap();
    assert_eq!(blob.digest, Digest::of(b"hello"));
    assert_eq!(
        std::fs::read(cache.blob_path(&blob.digest)).unwrap(),
        b"hello"
    );

    let key = key_of("k", 1, json!({}), &[], &[]);
    assert!(cache.lookup(&key, &mut cache.lease()).unwrap().is_none());
    let manifest = Manifest {
        stage: "s".into(),
        kind: "k".into(),
        created_unix: 0,
        seconds: 0.0,
        outputs: [("out".to_string(), blob.clone())].into(),
    };
    cache.record(&key, &manifest).unwrap();
    assert_eq!(
        cache.lookup(&key, &mut cache.lease()).unwrap(),
        Some(manifest.clone())
    );

    // Recording a manifest whose blob is absent is refused.
    let missing = BlobRef {
        digest: Digest::of(b"nope"),
        size: 4,
    };
    let bad = Manifest {
        outputs: [("out".to_string(), missing)].into(),
        ..manifest
    };
    assert!(cache
        .record(&key_of("k2", 1, json!({}), &[], &[]), &bad)
        .is_err());

    // A blob deleted by hand turns the entry into a miss instead of an error.
    let path = cache.blob_path(&blob.digest);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(cache.lookup(&key, &mut cache.lease()).unwrap().is_none());
}

#[test]
fn second_open_reports_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Cache::open(dir.path()).unwrap();
    match Cache::open(dir.path()) {
        Err(CacheError::Locked { .. }) => {}
        Err(e) => panic!("expected a lock error, got {e}"),
        Ok(_) => panic!("second open succeeded"),
    }
}

#[test]
fn a_second_process_waits_for_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let first = Cache::open(dir.path()).unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(first);
    });
    let mut waited = false;
    let second = Cache::open_waiting(dir.path(), Duration::from_secs(20), &mut || waited = true);
    holder.join().unwrap();
    assert!(second.is_ok(), "{:?}", second.err().map(|e| e.to_string()));
    assert!(waited, "on_wait was not called");
    // A bound that runs out reports the lock and how long it waited.
    let _held = second.unwrap();
    match Cache::open_waiting(dir.path(), Duration::from_millis(200), &mut || {}) {
        Err(CacheError::Locked { waited, .. }) => assert!(waited >= Duration::from_millis(200)),
        other => panic!(
            "expected Locked, got {:?}",
            other.err().map(|e| e.to_string())
        ),
    }
}

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Rewrite `path` in place (same inode) with `bytes`, keeping mtime `t`.
fn rewrite_keeping_mtime(path: &Path, bytes: &[u8], t: SystemTime) {
    fs::write(path, bytes).unwrap();
    set_mtime(path, t);
}

#[test]
fn a_file_rewritten_within_its_mtime_tick_is_hashed_again() {
    // git's "racily clean" case: same size, same inode, same mtime, new bytes.
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path().join("c")).unwrap();
    let f = dir.path().join("input.bin");
    fs::write(&f, b"aaaa").unwrap();
    let mtime = fs::metadata(&f).unwrap().modified().unwrap();
    assert_eq!(cache.file_digest(&f).unwrap(), Digest::of(b"aaaa"));
    rewrite_keeping_mtime(&f, b"bbbb", mtime);
    assert_eq!(cache.file_digest(&f).unwrap(), Digest::of(b"bbbb"));
}

#[test]
fn a_settled_file_is_not_hashed_again() {
    // Modified long before it was hashed: the memo is trusted (that is its
    // purpose: multi-GB inputs are not re-read on every run).
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path().join("c")).unwrap();
    let f = dir.path().join("input.bin");
    fs::write(&f, b"aaaa").unwrap();
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    set_mtime(&f, hour_ago);
    assert_eq!(cache.file_digest(&f).unwrap(), Digest::of(b"aaaa"));
    rewrite_keeping_mtime(&f, b"bbbb", hour_ago);
    assert_eq!(cache.file_digest(&f).unwrap(), Digest::of(b"aaaa"));
}

#[test]
fn gc_and_verify_leave_leased_blobs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    // Published by a running stage, not yet recorded.
    let src = dir.path().join("out.bin");
    fs::write(&src, b"published").unwrap();
    let mut lease = cache.lease();
    let published = cache.put_file(&src, &mut lease).unwrap();
    // Recorded, then its entry evicted (size budget 0) while a queued stage
    // of the same run still holds it.
    let read = cache.put_bytes(b"to be read").unwrap();
    let key = key_of("k", 1, json!({}), &[], &[]);
    let manifest = Manifest {
        stage: "s".into(),
        kind: "k".into(),
        created_unix: 0,
        seconds: 0.0,
        outputs: [("out".to_string(), read.clone())].into(),
    };
    cache.record(&key, &manifest).unwrap();
    assert!(cache.lookup(&key, &mut lease).unwrap().is_some());
    let report = cache.gc(None, Some(0)).unwrap();
    assert_eq!((report.entries_removed, report.blobs_removed), (1, 0));
    assert!(cache.blob_path(&published.digest).is_file());
    assert!(cache.blob_path(&read.digest).is_file());
    assert!(cache.verify().unwrap().broken_entries.is_empty());
    // Released: the next gc collects both.
    drop(lease);
    assert_eq!(cache.gc(None, None).unwrap().blobs_removed, 2);
}

#[test]
fn scratch_dirs_are_unique_within_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let names: HashSet<PathBuf> = (0..100)
        .map(|_| cache.scratch_dir("stage").unwrap())
        .collect();
    assert_eq!(names.len(), 100);
}

#[test]
fn file_digests_are_memoised_and_refreshed_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path().join("c")).unwrap();
    let f = dir.path().join("input.bin");
    std::fs::write(&f, b"one").unwrap();
    assert_eq!(cache.file_digest(&f).unwrap(), Digest::of(b"one"));
    assert_eq!(cache.file_digest(&f).unwrap(), Digest::of(b"one"));
    std::fs::write(&f, b"two!").unwrap();
    assert_eq!(cache.file_digest(&f).unwrap(), Digest::of(b"two!"));
}

#[test]
fn gc_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let kept = cache.put_bytes(b"kept").unwrap();
    let orphan = cache.put_bytes(b"orphan").unwrap();
    let key = key_of("k", 1, json!({}), &[], &[]);
    let manifest = Manifest {
        stage: "s".into(),
        kind: "k".into(),
        created_unix: 0,
        seconds: 0.0,
        outputs: [("out".to_string(), kept.clone())].into(),
    };
    cache.record(&key, &manifest).unwrap();
    let stats = cache.stats();
    assert_eq!(
        (stats.entries, stats.blobs, stats.unreferenced_blobs),
        (1, 2, 1)
    );

    let report = cache.gc(None, None).unwrap();
    assert_eq!(report.blobs_removed, 1);
    assert_eq!(report.bytes_freed, orphan.size);
    assert!(cache.lookup(&key, &mut cache.lease()).unwrap().is_some());

    assert!(cache.verify().unwrap().broken_entries.is_empty());
    // Tamper with the blob: verify drops the entry.
    let path = cache.blob_path(&kept.digest);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, b"tampered").unwrap();
    assert_eq!(cache.verify().unwrap().broken_entries.len(), 1);
    assert!(cache.lookup(&key, &mut cache.lease()).unwrap().is_none());

    // A byte budget of zero evicts everything.
    cache
        .record(
            &key,
            &Manifest {
                outputs: [("out".to_string(), cache.put_bytes(b"x").unwrap())].into(),
                ..manifest
            },
        )
        .unwrap();
    assert_eq!(cache.gc(None, Some(0)).unwrap().entries_removed, 1);
    assert_eq!(cache.stats().blobs, 0);
}
