//! The GGML Whisper header reader that checks a model before whisper.cpp
//! is given it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(hp) = vantage_weights::whisper::read_hparams(data) {
        let _ = hp.tensor_count();
    }
});
