//! Small helpers around ffmpeg/ffprobe for tests.

use std::path::Path;
use std::process::Command;

/// A path as `&str` (test paths are always UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Run ffmpeg quietly, overwriting outputs; panics on failure.
pub fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg must be installed")
        .success();
    assert!(ok, "ffmpeg {args:?}");
}

/// ffprobe's JSON for `path` with extra arguments.
pub fn probe_json(path: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe must be installed");
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

/// Container duration in seconds.
pub fn duration(path: &Path) -> f64 {
    probe_json(path, &["-show_entries", "format=duration"])["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration")
}

/// `dir/NAME.wav` with `words` words of the script spoken by `voice`
/// (`pause` seconds before each), and `dir/NAME.mp4`: an ffmpeg test pattern
/// (`pattern`, e.g. "testsrc=size=160x120:rate=24") with that speech, as long
/// as the speech. Returns (video, speech).
pub fn talking_clip(
    dir: &Path,
    name: &str,
    words: usize,
    voice: &crate::speech::Voice,
    pause: f64,
    pattern: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let (words, _) = crate::speech::script(words);
    let speech = crate::speech::speak(&words, voice, &vec![pause; words.len()], 0.3);
    let wav = dir.join(format!("{name}.wav"));
    speech.write_wav(&wav).expect("writing speech");
    let video = dir.join(format!("{name}.mp4"));
    let seconds = format!("{:.3}", speech.duration());
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        pattern,
        "-i",
        s(&wav),
        "-t",
        &seconds,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        s(&video),
    ]);
    (video, wav)
}

/// A 320x180 24 fps talking clip (`dir/video.mp4`) and the same 8 words
/// spoken more slowly in another voice (`dir/target.wav`): synced, the picture
/// slows down, so a nearest-frame render repeats frames. Returns (video, target).
pub fn slowed_clip(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    slowed_clip_of(dir, 8, "testsrc2=size=320x180:rate=24")
}

/// [`slowed_clip`] with `words` words over the picture `pattern`.
pub fn slowed_clip_of(
    dir: &Path,
    words: usize,
    pattern: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    use crate::speech::{script, speak, Voice};
    let voice = Voice {
        name: "en-us",
        speed: 170,
        pitch: 50,
    };
    let (video, _) = talking_clip(dir, "video", words, &voice, 0.1, pattern);
    let (words, _) = script(words);
    let slow = Voice {
        name: "en+f3",
        speed: 110,
        pitch: 60,
    };
    let target = dir.join("target.wav");
    speak(&words, &slow, &vec![0.35; words.len()], 0.3)
        .write_wav(&target)
        .expect("writing speech");
    (video, target)
}

/// The pixels of an image as RGB24, with its width and height.
pub fn rgb_pixels(path: &Path) -> (Vec<u8>, u32, u32) {
    let info = probe_json(path, &["-show_entries", "stream=width,height"]);
    let stream = &info["streams"][0];
    let (w, h) = (
        stream["width"].as_u64().expect("width") as u32,
        stream["height"].as_u64().expect("height") as u32,
    );
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            s(path),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .expect("running ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.stdout, w, h)
}

/// Frames in the first video stream, counted by decoding.
pub fn frame_count(video: &Path) -> u64 {
    let j = probe_json(
        video,
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
        ],
    );
    j["streams"][0]["nb_read_frames"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .expect("frame count")
}

/// Every frame of the first video stream decoded to 8-bit luma, one
/// buffer per frame (written beside the video as `NAME.gray` on the way).
pub fn luma_frames(video: &Path) -> Vec<Vec<u8>> {
    let raw = video.with_extension("gray");
    ffmpeg(&[
        "-i",
        s(video),
        "-map",
        "0:v:0",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        s(&raw),
    ]);
    let j = probe_json(
        video,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
        ],
    );
    let size = |k: &str| j["streams"][0][k].as_u64().expect("frame size") as usize;
    let frame = size("width") * size("height");
    let bytes = std::fs::read(&raw).expect("decoded frames");
    bytes.chunks(frame).map(<[u8]>::to_vec).collect()
}

/// `dir/NAME`: a narration that says other words than [`slowed_clip`]'s
/// ("Completely unrelated words about the weather and trains.").
pub fn unrelated_narration(dir: &Path, name: &str) -> std::path::PathBuf {
    use crate::speech::{speak_sentences, Voice};
    let voice = Voice {
        name: "en-us",
        speed: 150,
        pitch: 50,
    };
    let path = dir.join(name);
    speak_sentences(
        &["completely unrelated words about the weather and trains"],
        &voice,
        0.2,
    )
    .write_wav(&path)
    .expect("writing speech");
    path
}
