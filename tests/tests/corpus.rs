//! Media as phones, editors and generators write it, made at test time:
//! each case is handled as ffmpeg would read the file (colour, rotation,
//! real timestamps, offsets, any audio layout) and says what it changed.

use std::path::{Path, PathBuf};
use vantage_e2e::case::{build, cases, score, Case, CaseSpec};
use vantage_e2e::speech::Phone;
use vantage_e2e::tools::{self, probe_json, s};
use vantage_e2e::truth::{Stats, Truth};
use vantage_e2e::vantage::{run, stderr, sync_args};

/// One stream's ffprobe `fields` (comma-separated) as JSON.
fn stream(path: &Path, select: &str, fields: &str) -> serde_json::Value {
    let j = probe_json(
        path,
        &[
            "-select_streams",
            select,
            "-show_entries",
            &format!("stream={fields}:stream_side_data=rotation"),
        ],
    );
    j["streams"][0].clone()
}

fn field<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

/// A clip as long as `audio`'s: a flat colour with a small moving pattern, over `audio`,
/// its picture converted by `vf` and encoded with `codec`.
fn colour_clip(dir: &Path, name: &str, audio: &Path, vf: &str, codec: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let pattern = "color=c=0xC04020:s=320x180:r=24[bg];testsrc2=s=40x40:r=24[fg];\
                   [bg][fg]overlay=x='mod(t*160,280)':y=60:shortest=0";
    let mut args = vec!["-f", "lavfi", "-i", pattern, "-i", s(audio), "-shortest"];
    args.extend(["-vf", vf, "-c:v", "libx264", "-preset", "ultrafast"]);
    args.extend_from_slice(codec);
    args.extend(["-c:a", "aac", s(&out)]);
    tools::ffmpeg(&args);
    out
}

/// Mean RGB of the flat top-left block of every frame, as ffmpeg shows it
/// (reading the stream's colour tags).
fn corner_colours(video: &Path) -> Vec<[f64; 3]> {
    let (rgb, w, h) = tools::rgb_pixels(video);
    let frame = (w * h * 3) as usize;
    rgb.chunks(frame)
        .map(|f| {
            let mut sum = [0.0; 3];
            for y in 4..24 {
                for x in 4..24 {
                    let i = (y * w as usize + x) * 3;
                    for (c, v) in sum.iter_mut().enumerate() {
                        *v += f[i + c] as f64 / 400.0;
                    }
                }
            }
            sum
        })
        .collect()
}

#[test]
fn colour_is_carried_and_made_frames_match_the_real_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (_, target) = tools::slowed_clip_of(dir.path(), 8, "testsrc2=size=64x64:rate=24");
    let speech = dir.path().join("video.mp4");
    let sources = [
        // An SD phone's full-range BT.601.
        colour_clip(
            dir.path(),
            "full-601.mp4",
            &speech,
            "scale=out_color_matrix=bt601:out_range=full,format=yuvj420p",
            &["-colorspace", "smpte170m", "-color_range", "pc"]
                .into_iter()
                .chain(["-color_primaries", "smpte170m", "-color_trc", "smpte170m"])
                .collect::<Vec<_>>(),
        ),
        // A grading export: 10-bit 4:4:4 BT.709.
        colour_clip(
            dir.path(),
            "444-10bit-709.mp4",
            &speech,
            "scale=out_color_matrix=bt709,format=yuv444p10le",
            &["-colorspace", "bt709", "-color_range", "tv"]
                .into_iter()
                .chain(["-color_primaries", "bt709", "-color_trc", "bt709"])
                .collect::<Vec<_>>(),
        ),
    ];
    for source in &sources {
        let out = source.with_extension("out.mp4");
        let o = run(
            &dir.path().join("cache"),
            &sync_args(source, &target, &out, &["--mode", "precision"]),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let (a, b) = (
            stream(
                source,
                "v:0",
                "pix_fmt,color_space,color_primaries,color_transfer",
            ),
            stream(
                &out,
                "v:0",
                "pix_fmt,color_space,color_primaries,color_transfer,color_range",
            ),
        );
        for k in ["color_space", "color_primaries", "color_transfer"] {
            assert_eq!(field(&a, k), field(&b, k), "{k} of {}", out.display());
        }
        // Limited range (full range is brought to it), 8-bit 4:2:0, and said so.
        assert_eq!(field(&b, "color_range"), "tv");
        assert_eq!(field(&b, "pix_fmt"), "yuv420p");
        let notes = stderr(&o);
        if field(&a, "pix_fmt") == "yuv444p10le" {
            assert!(
                notes.contains("yuv444p10le: the output is 8-bit 4:2:0"),
                "{notes}"
            );
        }
        // Every frame, made or real, shows the source's colour.
        let want = corner_colours(source)[0];
        let colours = corner_colours(&out);
        assert!(colours.len() > 48, "{} frames", colours.len());
        for (k, got) in colours.iter().enumerate() {
            for c in 0..3 {
                assert!(
                    (got[c] - want[c]).abs() <= 3.0,
                    "{}: frame {k} is {got:?}, the source {want:?}",
                    out.display()
                );
            }
        }
    }
}

#[test]
fn rotated_phone_video_comes_out_upright_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, target) = tools::slowed_clip_of(dir.path(), 8, "testsrc2=size=320x180:rate=24");
    let rotated = dir.path().join("rotated.mp4");
    tools::ffmpeg(&[
        "-i",
        s(&plain),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        s(&rotated),
    ]);
    let cache = dir.path().join("cache");
    // Rendered: the picture as a player shows it, with no tag left to turn it again.
    let out = dir.path().join("upright.mp4");
    let o = run(&cache, &sync_args(&rotated, &target, &out, &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("turned by 90°"), "{}", stderr(&o));
    let v = stream(&out, "v:0", "width,height");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(180), Some(320))
    );
    assert!(v["side_data_list"].is_null(), "{v}");
    let (first_out, first_src) = (
        &tools::luma_frames(&out)[0],
        &tools::luma_frames(&rotated)[0],
    );
    let diff = first_out
        .iter()
        .zip(first_src)
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .sum::<f64>()
        / first_src.len() as f64;
    assert!(
        diff < 4.0,
        "first frame differs from the upright source by {diff}"
    );
    // Stream-copied (vfr): the coded picture and its rotation stay.
    let vfr = dir.path().join("vfr.mp4");
    let o = run(
        &cache,
        &sync_args(&rotated, &target, &vfr, &["--mode", "vfr"]),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = stream(&vfr, "v:0", "width,height");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(180))
    );
    assert_eq!(
        v["side_data_list"][0]["rotation"].as_i64().map(i64::abs),
        Some(90)
    );
}

fn phone_case(dir: &Path) -> (Case, CaseSpec) {
    let mut spec = cases()[2].clone();
    spec.words = 14;
    (build(&spec, dir), spec)
}

#[test]
fn variable_frame_rate_is_timed_by_the_real_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (mut case, _) = phone_case(dir.path());
    // A phone dropping to half rate in the dark halfway through: frames
    // keep their own times (and each shows its time in its bars).
    let half = case.source_duration / 2.0;
    let phone = dir.path().join("phone.mp4");
    let select = format!("select='lt(t\\,{half})+not(mod(n\\,2))'");
    tools::ffmpeg(&[
        "-i",
        s(&case.source_video),
        "-vf",
        &select,
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-qp",
        "0",
        "-preset",
        "ultrafast",
        "-c:a",
        "copy",
        s(&phone),
    ]);
    let before = tools::frame_count(&case.source_video);
    let after = tools::frame_count(&phone);
    assert!(after < before * 4 / 5, "{after} of {before} frames kept");
    case.source_video = phone;
    // Nearest frame of a source that is 15 fps in its second half
    // (measured 15.1 / 57.8 ms on 2026-12-02; counting its frames at a
    // constant rate puts them seconds off). At 15 fps a frame is 67 ms and
    // the p95 here is the tenth-worst of 191 frames: small changes in the
    // knots move it between 52 and 61 ms (the same case whole, through the
    // video at 30 fps, is 52.0 and 52.1 ms before and after the states).
    sync_within(dir.path(), &case, "phone", (22.0, 65.0));
}

/// Sync `case` (as `dir/out-NAME.mp4`) and check its error against the
/// truth: median and p95 within `limits` (ms); the error, for comparisons.
fn sync_within(dir: &Path, case: &Case, name: &str, limits: (f64, f64)) -> Stats {
    let out = dir.join(format!("out-{name}.mp4"));
    let o = run(
        &dir.join("cache"),
        &sync_args(&case.source_video, &case.target_audio, &out, &[]),
    );
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    let scores = score(case, &out);
    eprintln!("{name}: output {}", scores.output);
    assert!(
        scores.output.median <= limits.0 && scores.output.p95 <= limits.1,
        "{name}: {:?}",
        scores.output
    );
    scores.output
}

#[test]
fn audio_that_starts_after_or_before_the_picture_is_put_where_it_plays() {
    let dir = tempfile::tempdir().unwrap();
    let (case, spec) = phone_case(dir.path());
    let (speech, target) = vantage_e2e::case::speech(&spec);
    // The same clip with its audio where it belongs: what the shifted ones must match.
    let aligned = sync_within(dir.path(), &case, "aligned", (20.0, 90.0));
    let (picture, sound) = (
        dir.path().join("picture.mp4"),
        dir.path().join("source.wav"),
    );
    for (name, audio_start) in [("late", 0.3), ("early", -0.3)] {
        let source = dir.path().join(format!("{name}.mp4"));
        let (shift_video, shift_audio) = if audio_start > 0.0 {
            ("0", "0.3")
        } else {
            ("0.3", "0")
        };
        tools::ffmpeg(&[
            "-itsoffset",
            shift_video,
            "-i",
            s(&picture),
            "-itsoffset",
            shift_audio,
            "-i",
            s(&sound),
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            s(&source),
        ]);
        // The bars show picture time and the words are timed on the
        // sound's clock: a word played at audio_start + w is on the frame
        // that shows w + audio_start.
        let shifted: Vec<(f64, f64)> = speech
            .words
            .iter()
            .map(|&(a, b)| (a + audio_start, b + audio_start))
            .collect();
        let shifted_phones: Vec<Phone> = speech
            .phones
            .iter()
            .map(|p| Phone {
                start: p.start + audio_start,
                end: p.end + audio_start,
                ..p.clone()
            })
            .collect();
        let moved = Case {
            source_video: source,
            target_audio: case.target_audio.clone(),
            truth: Truth::with_phones(&shifted, &target.words, &shifted_phones, &target.phones),
            fps: case.fps,
            source_duration: case.source_duration,
        };
        // Measured against the truth phone by phone: 12.2 / 71.5 ms (late);
        // a shift put wrong by a frame would move the median by 33 ms.
        let shifted = sync_within(dir.path(), &moved, name, (20.0, 90.0));
        assert!(
            (shifted.median - aligned.median).abs() <= 4.0,
            "{name}: {shifted:?} against {aligned:?} unshifted"
        );
    }
}

#[test]
fn targets_of_any_rate_layout_and_wrapper_are_kept_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = tools::slowed_clip_of(dir.path(), 8, "testsrc2=size=160x90:rate=24");
    let cover = "testsrc2=s=300x300:d=0.04";
    let make = |name: &str, args: &[&str]| -> PathBuf {
        let out = dir.path().join(name);
        let mut all = vec!["-i", s(&target)];
        all.extend_from_slice(args);
        all.push(s(&out));
        tools::ffmpeg(&all);
        out
    };
    let pictured = ["-f", "lavfi", "-i", cover, "-map", "0:a", "-map", "1:v"];
    let mp3 = [&pictured[..], &["-c:a", "libmp3lame", "-c:v", "mjpeg"]].concat();
    let m4a = [&pictured[..], &["-c:a", "aac", "-c:v", "mjpeg"]].concat();
    let cover_art = ["-disposition:v", "attached_pic"];
    let targets = [
        (make("8k.wav", &["-ar", "8000"]), 8000, 1),
        (make("96k.flac", &["-ar", "96000", "-ac", "2"]), 96000, 2),
        (make("5.1.ac3", &["-ar", "48000", "-ac", "6"]), 48000, 6),
        (
            make("cover.mp3", &[&mp3[..], &cover_art].concat()),
            22050,
            1,
        ),
        (
            make("cover.m4a", &[&m4a[..], &cover_art].concat()),
            22050,
            1,
        ),
    ];
    // A WAV named .mp4: ffmpeg reads what is in the file, not its name.
    let misnamed = dir.path().join("narration.mp4");
    std::fs::copy(&target, &misnamed).unwrap();
    let targets = targets.into_iter().chain([(misnamed, 22050, 1)]);
    for (audio, rate, channels) in targets {
        let out = audio.with_extension("out.mp4");
        let o = run(
            &dir.path().join("cache"),
            &sync_args(&video, &audio, &out, &[]),
        );
        assert!(o.status.success(), "{}: {}", audio.display(), stderr(&o));
        let a = stream(&out, "a", "sample_rate,channels");
        assert_eq!(
            field(&a, "sample_rate"),
            rate.to_string(),
            "{}",
            audio.display()
        );
        assert_eq!(
            a["channels"].as_u64(),
            Some(channels),
            "{}",
            audio.display()
        );
        let streams = probe_json(&out, &["-show_entries", "stream=codec_type"]);
        let kinds: Vec<&str> = streams["streams"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["codec_type"].as_str())
            .collect();
        assert_eq!(
            kinds,
            ["video", "audio"],
            "{}: cover art is not a picture",
            audio.display()
        );
        let (got, want) = (tools::duration(&out), tools::duration(&audio));
        assert!(
            (got - want).abs() < 0.1,
            "{}: {got} s vs {want} s",
            audio.display()
        );
    }
}

#[test]
fn one_frame_and_odd_sized_sources_render_and_say_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let (_, target) = tools::slowed_clip_of(dir.path(), 8, "testsrc2=size=64x64:rate=24");
    let speech = dir.path().join("video.mp4");
    let cache = dir.path().join("cache");
    // One frame over a second of speech: held, with a warning.
    let still = dir.path().join("still.mp4");
    tools::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x90:r=24:d=0.04",
        "-i",
        s(&speech),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "copy",
        s(&still),
    ]);
    assert_eq!(tools::frame_count(&still), 1);
    let out = dir.path().join("still-out.mp4");
    let o = run(&cache, &sync_args(&still, &target, &out, &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds the last frame"),
        "{}",
        stderr(&o)
    );
    let frames = tools::luma_frames(&out);
    assert!(frames.len() > 24 && frames.iter().all(|f| f == &frames[0]));
    // 161x91: 4:2:0 needs even sizes, so a black edge is added, and said.
    let odd = dir.path().join("odd.mp4");
    tools::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=162x92:r=24,format=yuv444p,crop=161:91:0:0",
        "-i",
        s(&speech),
        "-shortest",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv444p",
        "-c:a",
        "copy",
        s(&odd),
    ]);
    let out = dir.path().join("odd-out.mp4");
    let o = run(
        &cache,
        &sync_args(&odd, &target, &out, &["--mode", "precision"]),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("162x92"), "{}", stderr(&o));
    let v = stream(&out, "v:0", "width,height");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(162), Some(92))
    );
}
