//! The CTranslate2 `model.bin` reader of `weights import`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vantage_weights::ct2::Model;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::parse(data) {
        for v in model.variables.values() {
            let _ = v.to_f32();
            let _ = v.scalar_int();
        }
        for alias in model.aliases.keys() {
            let _ = model.get(alias);
        }
    }
});
