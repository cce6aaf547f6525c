//! Give every frame of an MP4 a new presentation time without re-encoding.
//!
//! ffmpeg first copies the video stream into a fresh MP4 whose `moov` box sits
//! at the end of the file; we then rewrite that `moov`'s timing boxes (`stts`,
//! `ctts`, `elst` and the durations in `mdhd`/`tkhd`/`mvhd`). Sample data and
//! chunk offsets are untouched because everything before `moov` stays in place.

use crate::process::run_ffmpeg;
use crate::MediaError;
use std::path::Path;
use vantage_core::CancelToken;

/// Copy the first video stream of `input` to `output`, presenting frame `k`
/// (in presentation order) at `timecodes_ms[k]` milliseconds, with the first
/// audio stream of `audio` (encoded to AAC) alongside.
///
/// The audio goes in here rather than in a later remux because ffmpeg's MP4
/// muxer re-bases an edit list that starts with an empty edit, which would
/// shift every frame.
pub fn restamp_video(
    input: &Path,
    video_stream: usize,
    timecodes_ms: &[f64],
    audio: Option<&Path>,
    output: &Path,
    cancel: &CancelToken,
) -> Result<(), MediaError> {
    let scratch = output.with_extension("copy.mp4");
    let (i, s) = (input.to_string_lossy(), scratch.to_string_lossy());
    let a = audio.map(|a| a.to_string_lossy().into_owned());
    let mut args: Vec<&str> = vec!["-i", &i];
    if let Some(a) = &a {
        args.extend(["-i", a, "-map", "1:a:0", "-c:a", "aac", "-b:a", "192k"]);
    }
    let map = format!("0:{video_stream}");
    args.extend(["-map", &map, "-c:v", "copy", "-sn", "-dn"]);
    args.extend(["-video_track_timescale", "1000", "-f", "mp4", &s]);
    run_ffmpeg(&args, "copying the video stream", cancel)?;
    let tool = |detail: String| MediaError::Tool {
        what: "rewriting MP4 timestamps".into(),
        detail,
    };
    let io = |e: std::io::Error| MediaError::io(format!("rewriting {}", scratch.display()))(e);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&scratch)
        .map_err(io)?;
    let (at, size) = find_trailing_moov(&mut file).map_err(tool)?;
    let mut moov = vec![0u8; size as usize];
    {
        use std::io::{Read, Seek, SeekFrom};
        file.seek(SeekFrom::Start(at)).map_err(io)?;
        file.read_exact(&mut moov).map_err(io)?;
    }
    let end_ms = match audio {
        Some(a) => crate::probe(a)?.audio.map(|a| a.duration * 1000.0),
        None => None,
    };
    let new_moov = restamp_moov(&moov, timecodes_ms, end_ms).map_err(tool)?;
    // Replace the trailing moov in place: everything before it stays byte for byte.
    file.set_len(at).map_err(io)?;
    {
        use std::io::{Seek, SeekFrom, Write};
        file.seek(SeekFrom::Start(at)).map_err(io)?;
        file.write_all(&new_moov).map_err(io)?;
    }
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&scratch, output)
        .map_err(MediaError::io(format!("writing {}", output.display())))
}

struct Mp4Box {
    kind: [u8; 4],
    payload: Vec<u8>,
    children: Option<Vec<Mp4Box>>,
}

const CONTAINERS: [&[u8; 4]; 6] = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"];

fn parse_boxes(mut data: &[u8]) -> Result<Vec<Mp4Box>, String> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let size32 = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as u64;
        let kind = [data[4], data[5], data[6], data[7]];
        let (header, size) = match size32 {
            0 => (8, data.len() as u64),
            1 if data.len() >= 16 => (
                16,
                u64::from_be_bytes(data[8..16].try_into().map_err(|_| "bad box")?),
            ),
            s => (8, s),
        };
        if size < header as u64 || size > data.len() as u64 {
            return Err(format!(
                "box {} has an impossible size {size}",
                String::from_utf8_lossy(&kind)
            ));
        }
        let payload = &data[header..size as usize];
        let children = if CONTAINERS.contains(&&kind) {
            Some(parse_boxes(payload)?)
        } else {
            None
        };
        out.push(Mp4Box {
            kind,
            payload: payload.to_vec(),
            children,
        });
        data = &data[size as usize..];
    }
    Ok(out)
}

fn serialize(b: &Mp4Box, out: &mut Vec<u8>) {
    let body: Vec<u8> = match &b.children {
        Some(children) => {
            let mut v = Vec::new();
            for c in children {
                serialize(c, &mut v);
            }
            v
        }
        None => b.payload.clone(),
    };
    let size = body.len() as u64 + 8;
    if size > u32::MAX as u64 {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(&b.kind);
        out.extend_from_slice(&(size + 8).to_be_bytes());
    } else {
        out.extend_from_slice(&(size as u32).to_be_bytes());
        out.extend_from_slice(&b.kind);
    }
    out.extend_from_slice(&body);
}

fn child<'a>(b: &'a Mp4Box, kind: &[u8; 4]) -> Option<&'a Mp4Box> {
    b.children.as_ref()?.iter().find(|c| &c.kind == kind)
}

fn child_mut<'a>(b: &'a mut Mp4Box, kind: &[u8; 4]) -> Option<&'a mut Mp4Box> {
    b.children.as_mut()?.iter_mut().find(|c| &c.kind == kind)
}

fn be32(p: &[u8], at: usize) -> Result<u32, String> {
    p.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| "truncated box".to_string())
}

/// Read (sample_count, value) runs of an stts/ctts payload.
fn runs(payload: &[u8]) -> Result<Vec<(u32, u32)>, String> {
    let n = be32(payload, 4)? as usize;
    (0..n)
        .map(|i| Ok((be32(payload, 8 + 8 * i)?, be32(payload, 12 + 8 * i)?)))
        .collect()
}

fn runs_payload(version: u8, values: &[i64]) -> Vec<u8> {
    let mut runs: Vec<(u32, i64)> = Vec::new();
    for &v in values {
        match runs.last_mut() {
            Some((count, last)) if *last == v => *count += 1,
            _ => runs.push((1, v)),
        }
    }
    let mut p = vec![version, 0, 0, 0];
    p.extend_from_slice(&(runs.len() as u32).to_be_bytes());
    for (count, v) in runs {
        p.extend_from_slice(&count.to_be_bytes());
        p.extend_from_slice(&(v as u32).to_be_bytes());
    }
    p
}

/// Overwrite a duration field that is 32-bit in version 0 boxes and 64-bit in version 1.
fn set_duration(payload: &mut [u8], v0_offset: usize, v1_offset: usize, value: u64) {
    if payload.first() == Some(&1) {
        if let Some(s) = payload.get_mut(v1_offset..v1_offset + 8) {
            s.copy_from_slice(&value.to_be_bytes());
        }
    } else if let Some(s) = payload.get_mut(v0_offset..v0_offset + 4) {
        s.copy_from_slice(&(value.min(u32::MAX as u64) as u32).to_be_bytes());
    }
}

/// The media time (in the track's timescale) where an edit list's first
/// non-empty edit starts.
fn first_media_time(elst: &[u8]) -> Option<i64> {
    let v1 = elst.first() == Some(&1);
    let entry = if v1 { 20 } else { 12 };
    // No more entries than the box holds, whatever its count says.
    let count = (be32(elst, 4).ok()? as usize).min(elst.len().saturating_sub(8) / entry);
    (0..count).find_map(|e| {
        let at = 8 + e * entry;
        let time = if v1 {
            i64::from_be_bytes(elst.get(at + 8..at + 16)?.try_into().ok()?)
        } else {
            i64::from(be32(elst, at + 4).ok()? as i32)
        };
        (time != -1).then_some(time)
    })
}

fn timescale(payload: &[u8]) -> Result<u32, String> {
    // mdhd/mvhd: version 1 has 64-bit creation and modification times.
    be32(payload, if payload.first() == Some(&1) { 20 } else { 12 })
}

/// Rewrite the timing of the video track in `moov_box` (the whole box, header
/// included). Frames are shown up to `end_ms` at the latest.
pub fn restamp_moov(
    moov_box: &[u8],
    timecodes_ms: &[f64],
    end_ms: Option<f64>,
) -> Result<Vec<u8>, String> {
    let mut moov = parse_boxes(moov_box)?
        .into_iter()
        .find(|b| &b.kind == b"moov")
        .ok_or("no moov box")?;
    let movie_scale = timescale(&child(&moov, b"mvhd").ok_or("no mvhd")?.payload)? as f64;

    let traks = moov.children.as_mut().ok_or("empty moov")?;
    let trak = traks
        .iter_mut()
        .find(|t| {
            child(t, b"mdia")
                .and_then(|m| child(m, b"hdlr"))
                .is_some_and(|h| h.payload.get(8..12) == Some(b"vide"))
        })
        .ok_or("no video track")?;
    let edit_start = child(trak, b"edts")
        .and_then(|e| child(e, b"elst"))
        .and_then(|e| first_media_time(&e.payload));
    let mdia = child_mut(trak, b"mdia").ok_or("no mdia")?;
    let media_scale = timescale(&child(mdia, b"mdhd").ok_or("no mdhd")?.payload)? as f64;
    let stbl = child_mut(child_mut(mdia, b"minf").ok_or("no minf")?, b"stbl").ok_or("no stbl")?;

    // Old decode and composition times, to recover presentation order.
    let stts = runs(&child(stbl, b"stts").ok_or("no stts")?.payload)?;
    let n: u64 = stts.iter().map(|&(count, _)| count as u64).sum();
    // Checked before anything is sized by it: a damaged table can list
    // billions of samples. Trimmed lead-in frames are a GOP at most.
    if n > 2 * timecodes_ms.len() as u64 + 1024 {
        return Err(format!(
            "the timecodes list {} frames but the video's sample table {n}",
            timecodes_ms.len()
        ));
    }
    let n = n as usize;
    let mut dts = Vec::with_capacity(n);
    let mut t = 0i64;
    for (count, delta) in stts {
        for _ in 0..count {
            dts.push(t);
            t = t.saturating_add(delta as i64);
        }
    }
    let mut offsets = vec![0i64; n];
    if let Some(ctts) = child(stbl, b"ctts") {
        // Signed in both versions, as ffmpeg reads them: version 0 says
        // unsigned, but encoders write negative offsets there too.
        let mut slots = offsets.iter_mut();
        for (count, off) in runs(&ctts.payload)? {
            for o in slots.by_ref().take(count as usize) {
                *o = off as i32 as i64;
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| dts[i] + offsets[i]);
    // Samples the copy's edit list trims from the front (an `-ss` cut keeps
    // the frames back to a keyframe; decoders drop them) are no frames of
    // the clip: they stay hidden, 1 ms apart, ahead of the first timecode.
    let hidden = match edit_start {
        Some(start) if n > timecodes_ms.len() => order
            .iter()
            .filter(|&&i| dts[i] + offsets[i] < start)
            .count(),
        _ => 0,
    };
    if n != timecodes_ms.len() + hidden {
        return Err(format!(
            "the timecodes list {} frames but the video has {n} ({hidden} trimmed by its edit list)",
            timecodes_ms.len()
        ));
    }
    if timecodes_ms.len() < 2 {
        return Err("need at least two frames".into());
    }
    let lead: Vec<f64> = (0..hidden)
        .map(|r| timecodes_ms[0] - (hidden - r) as f64)
        .chain(timecodes_ms.iter().copied())
        .collect();
    let timecodes_ms = &lead[..];

    // New presentation time of each sample (decode order), in media units from 0.
    let to_units = |ms: f64| ((ms - timecodes_ms[0]) * media_scale / 1000.0).round() as i64;
    let mut pts = vec![0i64; n];
    for (rank, &sample) in order.iter().enumerate() {
        pts[sample] = to_units(timecodes_ms[rank]);
    }
    let sorted: Vec<i64> = timecodes_ms.iter().map(|&ms| to_units(ms)).collect();
    if sorted.windows(2).any(|w| w[1] <= w[0]) {
        return Err("timecodes must strictly increase".into());
    }
    // Decode times: the sorted presentation times, delayed enough that no
    // frame is decoded after it is shown. The edit list hides the delay.
    let delay = (0..n).map(|i| sorted[i] - pts[i]).max().unwrap_or(0).max(0);
    let new_dts: Vec<i64> = sorted.clone();
    let last_delta = sorted[n - 1] - sorted[n - 2];
    let deltas: Vec<i64> = (0..n)
        .map(|i| {
            if i + 1 < n {
                new_dts[i + 1] - new_dts[i]
            } else {
                last_delta
            }
        })
        .collect();
    let comp: Vec<i64> = (0..n).map(|i| pts[i] + delay - new_dts[i]).collect();
    let media_duration = (sorted[n - 1] + last_delta) as u64;
    let to_movie =
        |media_units: i64| (media_units.max(0) as f64 * movie_scale / media_scale).round() as u64;
    // Frames stamped before target time 0 (a source lead-in the warp skips)
    // stay in the file but the edit list starts at the first frame stamped at
    // or after 0; an empty edit holds the screen until that frame's time.
    let first_shown = timecodes_ms
        .iter()
        .position(|&t| t >= 0.0)
        .unwrap_or(0)
        .max(hidden);
    let start_ms = timecodes_ms[first_shown].max(0.0);
    let shown_from = sorted[first_shown];
    let mut edits: Vec<(u64, i64)> = Vec::new(); // (movie duration, media time; -1 = empty)
    if start_ms >= 0.5 {
        edits.push(((start_ms * movie_scale / 1000.0).round() as u64, -1));
    }
    // Nothing is shown past the end of the audio: a long source tail that the
    // warp stretches beyond it stays in the file, unseen.
    let shown_until = end_ms.map_or(media_duration as i64, |end| {
        to_units(end).min(media_duration as i64)
    });
    edits.push((to_movie(shown_until - shown_from), delay + shown_from));
    let movie_duration: u64 = edits.iter().map(|e| e.0).sum();

    let children = stbl.children.as_mut().ok_or("empty stbl")?;
    for b in children.iter_mut() {
        if &b.kind == b"stts" {
            b.payload = runs_payload(0, &deltas);
        }
    }
    children.retain(|b| &b.kind != b"ctts");
    if comp.iter().any(|&c| c != 0) {
        let pos = children
            .iter()
            .position(|b| &b.kind == b"stts")
            .map_or(children.len(), |p| p + 1);
        children.insert(
            pos,
            Mp4Box {
                kind: *b"ctts",
                payload: runs_payload(0, &comp),
                children: None,
            },
        );
    }
    if let Some(mdhd) = child_mut(mdia, b"mdhd") {
        set_duration(&mut mdhd.payload, 16, 24, media_duration);
    }

    let mut elst = vec![0u8, 0, 0, 0];
    elst.extend_from_slice(&(edits.len() as u32).to_be_bytes());
    for (duration, media_time) in &edits {
        elst.extend_from_slice(&((*duration).min(u32::MAX as u64) as u32).to_be_bytes());
        elst.extend_from_slice(&(*media_time as i32).to_be_bytes());
        elst.extend_from_slice(&[0, 1, 0, 0]);
    }
    let edts = Mp4Box {
        kind: *b"edts",
        payload: Vec::new(),
        children: Some(vec![Mp4Box {
            kind: *b"elst",
            payload: elst,
            children: None,
        }]),
    };
    let trak_children = trak.children.as_mut().ok_or("empty trak")?;
    trak_children.retain(|b| &b.kind != b"edts");
    let tkhd_pos = trak_children
        .iter()
        .position(|b| &b.kind == b"tkhd")
        .ok_or("no tkhd")?;
    set_duration(&mut trak_children[tkhd_pos].payload, 20, 28, movie_duration);
    trak_children.insert(tkhd_pos + 1, edts);
    // The movie lasts as long as its longest track (the audio may be longer).
    let longest = moov
        .children
        .iter()
        .flatten()
        .filter(|b| &b.kind == b"trak")
        .filter_map(|t| child(t, b"tkhd"))
        .filter_map(|tkhd| {
            let p = &tkhd.payload;
            if p.first() == Some(&1) {
                p.get(28..36)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
            } else {
                be32(p, 20).ok().map(u64::from)
            }
        })
        .max()
        .unwrap_or(movie_duration);
    if let Some(mvhd) = child_mut(&mut moov, b"mvhd") {
        set_duration(&mut mvhd.payload, 16, 24, longest);
    }

    let mut out = Vec::new();
    serialize(&moov, &mut out);
    Ok(out)
}

/// Offset and size of the last top-level box, which must be `moov`; read
/// box headers only, so the sample data is never loaded.
fn find_trailing_moov(file: &mut std::fs::File) -> Result<(u64, u64), String> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut at = 0u64;
    let mut last = None;
    while at + 8 <= len {
        let mut header = [0u8; 16];
        file.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
        let n = file.read(&mut header).map_err(|e| e.to_string())?;
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as u64;
        let size = match size32 {
            0 => len - at,
            1 if n >= 16 => u64::from_be_bytes([
                header[8], header[9], header[10], header[11], header[12], header[13], header[14],
                header[15],
            ]),
            s => s,
        };
        if size < 8 || at + size > len {
            return Err(format!(
                "top-level box at {at} has an impossible size {size}"
            ));
        }
        last = Some(([header[4], header[5], header[6], header[7]], at, size));
        at += size;
    }
    match last {
        Some((kind, at, size)) if &kind == b"moov" => Ok((at, size)),
        _ => Err("moov is not the last box of the stream copy".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::{child, first_media_time, parse_boxes, restamp_moov, runs};

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    /// A box with a 64-bit size field.
    fn large(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = 1u32.to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(&((body.len() + 16) as u64).to_be_bytes());
        b.extend_from_slice(body);
        b
    }

    fn full(kind: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![version, 0, 0, 0];
        v.extend_from_slice(body);
        boxed(kind, &v)
    }

    fn table(values: &[(u32, u32)]) -> Vec<u8> {
        let mut t = (values.len() as u32).to_be_bytes().to_vec();
        for (count, value) in values {
            t.extend_from_slice(&count.to_be_bytes());
            t.extend_from_slice(&value.to_be_bytes());
        }
        t
    }

    /// Version-0 mvhd/mdhd body: times, timescale 1000, duration.
    fn header(duration: u32) -> Vec<u8> {
        let mut h = vec![0u8; 8];
        h.extend_from_slice(&1000u32.to_be_bytes());
        h.extend_from_slice(&duration.to_be_bytes());
        h.resize(96, 0);
        h
    }

    /// A moov with one video track of `n` frames 40 ms apart in decode
    /// order, composition offsets `ctts` (version, offsets), the mvhd in
    /// version 1 when `v1_movie`, the trak with a 64-bit size when `big`.
    fn moov(n: u32, ctts: Option<(u8, Vec<i32>)>, v1_movie: bool, big: bool) -> Vec<u8> {
        let mut stbl = full(b"stts", 0, &table(&[(n, 40)]));
        if let Some((version, offsets)) = ctts {
            let values: Vec<(u32, u32)> = offsets.iter().map(|&o| (1, o as u32)).collect();
            stbl.extend(full(b"ctts", version, &table(&values)));
        }
        stbl.extend(full(b"stss", 0, &table(&[])[..4]));
        let minf = boxed(b"stbl", &stbl);
        let mut hdlr = vec![0u8; 4];
        hdlr.extend_from_slice(b"vide");
        hdlr.resize(20, 0);
        let mut mdia = full(b"mdhd", 0, &header(n * 40));
        mdia.extend(full(b"hdlr", 0, &hdlr));
        mdia.extend(boxed(b"minf", &minf));
        let mut tkhd = vec![0u8; 16];
        tkhd.extend_from_slice(&(n * 40).to_be_bytes());
        tkhd.resize(80, 0);
        let mut trak = full(b"tkhd", 0, &tkhd);
        // The copy's own edit list (replaced by the rewrite): it starts at
        // 80 ms, two frames in, as an `-ss` cut to a later keyframe does.
        let mut elst = 1u32.to_be_bytes().to_vec();
        for word in [n * 40 - 80, 80, 0x0001_0000] {
            elst.extend_from_slice(&word.to_be_bytes());
        }
        trak.extend(boxed(b"edts", &full(b"elst", 0, &elst)));
        trak.extend(boxed(b"mdia", &mdia));
        let mvhd = if v1_movie {
            let mut h = vec![0u8; 16];
            h.extend_from_slice(&1000u32.to_be_bytes());
            h.extend_from_slice(&u64::from(n * 40).to_be_bytes());
            h.resize(108, 0);
            full(b"mvhd", 1, &h)
        } else {
            full(b"mvhd", 0, &header(n * 40))
        };
        let trak = if big {
            large(b"trak", &trak)
        } else {
            boxed(b"trak", &trak)
        };
        boxed(b"moov", &[mvhd, trak].concat())
    }

    /// When each sample (decode order) is shown, in ms, following the
    /// rewritten stts, ctts and edit list as a player does; `None` for a
    /// sample before the shown edit.
    fn shown(moov: &[u8]) -> Vec<Option<i64>> {
        let moov = parse_boxes(moov).unwrap().remove(0);
        let trak = child(&moov, b"trak").unwrap();
        let stbl = child(
            child(child(trak, b"mdia").unwrap(), b"minf").unwrap(),
            b"stbl",
        )
        .unwrap();
        let mut pts = Vec::new();
        let mut t = 0i64;
        for (count, delta) in runs(&child(stbl, b"stts").unwrap().payload).unwrap() {
            for _ in 0..count {
                pts.push(t);
                t += i64::from(delta);
            }
        }
        if let Some(ctts) = child(stbl, b"ctts") {
            let mut i = 0;
            for (count, off) in runs(&ctts.payload).unwrap() {
                for _ in 0..count {
                    pts[i] += i64::from(off as i32);
                    i += 1;
                }
            }
        }
        let elst = child(child(trak, b"edts").unwrap(), b"elst").unwrap();
        let (mut start, mut media) = (0i64, 0i64);
        let entries = u32::from_be_bytes(elst.payload[4..8].try_into().unwrap()) as usize;
        for e in 0..entries {
            let at = 8 + 12 * e;
            let word = |k: usize| u32::from_be_bytes(elst.payload[k..k + 4].try_into().unwrap());
            let (duration, media_time) = (word(at), word(at + 4));
            match media_time as i32 {
                -1 => start += i64::from(duration),
                m => media = i64::from(m),
            }
        }
        pts.iter()
            .map(|&p| (p >= media).then_some(start + p - media))
            .collect()
    }

    /// Decode order I P B B P B B: the presentation rank of each sample.
    const RANKS: [usize; 7] = [0, 3, 1, 2, 6, 4, 5];

    fn offsets(shift: i32) -> Vec<i32> {
        (0..7)
            .map(|i| 40 * RANKS[i] as i32 + shift - 40 * i as i32)
            .collect()
    }

    fn assert_shown_at(moov: &[u8], timecodes: &[f64], ranks: &[usize]) {
        let shown = shown(moov);
        for (sample, &rank) in ranks.iter().enumerate() {
            let want = timecodes[rank];
            match shown[sample] {
                Some(t) => assert_eq!(t as f64, want, "sample {sample} (rank {rank})"),
                None => assert!(want < 0.0, "sample {sample} (rank {rank}) not shown"),
            }
        }
    }

    #[test]
    fn frames_without_offsets_take_their_timecodes() {
        let tc = [0.0, 40.0, 100.0, 130.0, 200.0];
        let out = restamp_moov(&moov(5, None, false, false), &tc, None).unwrap();
        assert_shown_at(&out, &tc, &[0, 1, 2, 3, 4]);
    }

    #[test]
    fn b_frames_keep_their_order_with_offsets_of_either_version() {
        let tc = [0.0, 30.0, 90.0, 100.0, 170.0, 260.0, 300.0];
        // Version 0, offsets all positive (x264 through ffmpeg's muxer).
        let out = restamp_moov(&moov(7, Some((0, offsets(40))), false, false), &tc, None).unwrap();
        assert_shown_at(&out, &tc, &RANKS);
        // Version 1, negative offsets (the first frame before its decode time).
        let out = restamp_moov(&moov(7, Some((1, offsets(-40))), true, false), &tc, None).unwrap();
        assert_shown_at(&out, &tc, &RANKS);
        // Negative offsets in a version-0 box, which encoders write too.
        let out = restamp_moov(&moov(7, Some((0, offsets(-40))), false, true), &tc, None).unwrap();
        assert_shown_at(&out, &tc, &RANKS);
    }

    #[test]
    fn a_late_start_is_an_empty_edit_and_a_lead_in_is_hidden() {
        let late = [500.0, 540.0, 580.0, 620.0, 660.0, 700.0, 740.0];
        let out =
            restamp_moov(&moov(7, Some((0, offsets(40))), false, false), &late, None).unwrap();
        assert_shown_at(&out, &late, &RANKS);
        let lead_in = [-80.0, -40.0, 0.0, 40.0, 80.0, 120.0, 160.0];
        let out = restamp_moov(
            &moov(7, Some((0, offsets(40))), false, false),
            &lead_in,
            None,
        )
        .unwrap();
        assert_shown_at(&out, &lead_in, &RANKS);
    }

    #[test]
    fn frames_the_copy_trims_stay_hidden_ahead_of_the_timecodes() {
        // Seven samples, the first two before the copy's edit: five frames.
        let tc = [0.0, 40.0, 100.0, 130.0, 200.0];
        let out = restamp_moov(&moov(7, None, false, false), &tc, None).unwrap();
        let shown = shown(&out);
        assert_eq!(shown[..2], [None, None], "{shown:?}");
        let times: Vec<i64> = shown[2..].iter().map(|t| t.unwrap()).collect();
        assert_eq!(times, [0, 40, 100, 130, 200]);
        // More missing than the edit list trims is still an error.
        let err = restamp_moov(&moov(7, None, false, false), &tc[..4], None).unwrap_err();
        assert!(err.contains("2 trimmed by its edit list"), "{err}");
    }

    #[test]
    fn a_sample_table_of_billions_is_refused_before_anything_is_sized_by_it() {
        // A fuzzed moov: its stts said 4 billion samples, and the rewrite
        // spent 80 s (and gigabytes) listing them.
        let mut bytes = moov(5, None, false, false);
        let at = bytes.windows(4).position(|w| w == b"stts").unwrap() + 4;
        // version+flags, entry count, then the first entry's sample count.
        bytes[at + 8..at + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        let tc = [0.0, 40.0, 100.0, 130.0, 200.0];
        let started = std::time::Instant::now();
        let err = restamp_moov(&bytes, &tc, None).unwrap_err();
        assert!(err.contains("sample table"), "{err}");
        assert!(started.elapsed().as_secs_f64() < 1.0);
    }

    #[test]
    fn an_edit_count_past_the_box_is_not_walked() {
        // A fuzzed elst: one edit, but a count of 536 million.
        let mut elst = vec![1, 0, 0, 0];
        elst.extend_from_slice(&0x2000_0001u32.to_be_bytes());
        elst.extend_from_slice(&[0; 8]);
        elst.extend_from_slice(&(-1i64).to_be_bytes());
        elst.extend_from_slice(&[0, 1, 0, 0]);
        let started = std::time::Instant::now();
        assert_eq!(first_media_time(&elst), None);
        assert!(started.elapsed().as_secs_f64() < 0.1);
    }

    #[test]
    fn durations_follow_the_new_timing_and_the_audio_end() {
        let tc = [0.0, 40.0, 100.0, 130.0, 200.0];
        let out = restamp_moov(&moov(5, None, true, true), &tc, Some(150.0)).unwrap();
        let moov = parse_boxes(&out).unwrap().remove(0);
        let mvhd = &child(&moov, b"mvhd").unwrap().payload;
        let movie = u64::from_be_bytes(mvhd[24..32].try_into().unwrap());
        assert_eq!(movie, 150, "shown until the audio ends");
        let trak = child(&moov, b"trak").unwrap();
        let mdhd = &child(child(trak, b"mdia").unwrap(), b"mdhd")
            .unwrap()
            .payload;
        let media = u32::from_be_bytes(mdhd[16..20].try_into().unwrap());
        assert_eq!(media, 270, "the last frame keeps the previous interval");
    }

    #[test]
    fn impossible_inputs_are_errors() {
        let m = moov(5, None, false, false);
        let err = restamp_moov(&m, &[0.0, 40.0], None).unwrap_err();
        assert!(
            err.contains("timecodes list 2 frames but the video has 5"),
            "{err}"
        );
        let err = restamp_moov(&m, &[0.0, 40.0, 40.0, 80.0, 120.0], None).unwrap_err();
        assert!(err.contains("strictly increase"), "{err}");
        let mut truncated = m.clone();
        truncated.truncate(m.len() - 30);
        assert!(restamp_moov(&truncated, &[0.0; 5], None).is_err());
        assert!(restamp_moov(b"\0\0\0\x08free", &[0.0; 5], None).is_err());
    }
}
