//! The MP4 box reader and the `moov` rewriter of `retime-vfr`: the first
//! two bytes give the number of frames to stamp, the rest is the box.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let frames = u16::from_le_bytes([data[0], data[1]]) as usize % 1024;
    let times: Vec<f64> = (0..frames).map(|k| k as f64 * 41.7).collect();
    let _ = vantage_media::restamp_moov(&data[2..], &times, None);
    let _ = vantage_media::restamp_moov(&data[2..], &times, Some(frames as f64 * 20.0));
});
