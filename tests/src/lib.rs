//! Test kit: media with exact ground truth, generated at test time.
//!
//! * [`speech`]: speech built word by word with espeak-ng (phone times from
//!   its library, [`espeak`]) or phrase by phrase with flite, so every
//!   word's or phone's start and end is known.
//! * [`bars`]: a video whose frames show their own source time as bar
//!   positions, and the inverse that reads the time back from a frame.
//! * [`states`]: a plain DTW on Whisper's encoder states.
//! * [`truth`]: the true source time for any target time, and error statistics.
//! * [`vantage`]: running the built `vantage` binary; [`measure`] its time and memory.
//! * [`tools`]: ffmpeg/ffprobe helpers.
//! * [`browser`]: headless Chromium for the HTML report.
//! * [`server`]: a `vantage serve` process, the official clients pointed at it.
//! * [`http`]: plain HTTP requests to it.
//! * [`s3`]: a real S3-compatible server (s3s-fs) on loopback.

pub mod bars;
pub mod browser;
pub mod case;
pub mod espeak;
pub mod http;
pub mod measure;
pub mod s3;
pub mod server;
pub mod speech;
pub mod states;
pub mod tools;
pub mod truth;
pub mod vantage;
