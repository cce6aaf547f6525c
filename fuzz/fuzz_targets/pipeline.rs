//! The pipeline YAML loader and validator: any text gives a pipeline or
//! errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vantage_runner::{Pipeline, Registry};

/// The stages a pipeline can name, minus those that load models (their
/// checks are the same, and their crates would slow every fuzz build).
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r = Registry::new();
        r.register(vantage_media::stages::ExtractAudio)
            .register(vantage_media::stages::Mux)
            .register(vantage_analyze::Analyze)
            .register(vantage_predict_freeze::PredictFreeze)
            .register(vantage_retime::Retime)
            .register(vantage_retime::RetimeVfr)
            .register(vantage_runner::Exec);
        r
    })
}

fuzz_target!(|text: &str| {
    let _ = Pipeline::parse(text, std::path::Path::new("fuzz.yaml"), registry(), &[]);
});
