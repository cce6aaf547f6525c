//! The timecode v2 reader (`--timecodes` files users pass in).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = vantage_core::warp::parse_timecodes_v2(text);
});
