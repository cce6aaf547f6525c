//! Every frame's text, as an ASS subtitle file that ffmpeg's `ass` filter
//! (libass, DejaVu Sans through fontconfig) burns in while encoding: hinted,
//! anti-aliased text at any size, and no font rasteriser in our tree.

use crate::marks::Mark;
use std::io::Write;
use vantage_core::Made;

/// Where each panel's label goes and how big the text is.
pub struct Layout {
    pub width: u32,
    pub height: u32,
    /// Top-left corner of each panel's label band.
    pub bands: [(u32, u32); 3],
    pub font_size: u32,
}

/// Write the ASS file for `marks` to `out`: each panel's title on the first
/// line of its band for the whole video, and the frame's facts on the second,
/// one event per frame. `mode` describes the delivered render.
pub fn write(
    out: &mut impl Write,
    layout: &Layout,
    marks: &[Mark],
    mode: &str,
    fps: f64,
) -> std::io::Result<()> {
    writeln!(
        out,
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {}\nPlayResY: {}\nWrapStyle: 2\nScaledBorderAndShadow: yes\n",
        layout.width, layout.height
    )?;
    writeln!(out, "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding")?;
    writeln!(
        out,
        "Style: Label,DejaVu Sans,{},&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,0,7,0,0,0,1\n",
        layout.font_size
    )?;
    writeln!(
        out,
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text"
    )?;
    let pad = layout.font_size / 4;
    let line2 = layout.font_size + layout.font_size / 3;
    let titles = [
        "1  nearest frame, no repair".to_string(),
        "2  repeats, drops and cuts marked".to_string(),
        format!("3  delivered ({})", plain(mode)),
    ];
    let end = clock(centis(marks.len() as f64 / fps));
    for ((x, y), title) in layout.bands.iter().zip(&titles) {
        let at = format!("{{\\pos({},{})}}", x + pad, y + pad);
        writeln!(
            out,
            "Dialogue: 0,{},{end},Label,,0,0,0,,{at}{title}",
            clock(0)
        )?;
    }
    for (k, m) in marks.iter().enumerate() {
        // Centiseconds: contiguous events, each covering its frame's time (for fps <= 100).
        let (start, end) = (centis(k as f64 / fps), centis((k + 1) as f64 / fps));
        let facts = [panel1(m), panel2(m), panel3(m)];
        for ((x, y), text) in layout.bands.iter().zip(facts) {
            writeln!(
                out,
                "Dialogue: 0,{},{},Label,,0,0,0,,{{\\pos({},{})}}{text}",
                clock(start),
                clock(end),
                x + pad,
                y + pad + line2
            )?;
        }
    }
    Ok(())
}

fn panel1(m: &Mark) -> String {
    format!("src #{}", m.nearest)
}

fn panel2(m: &Mark) -> String {
    let mut parts = vec![match m.freeze {
        Some(s) => format!("repeat ({})", s.name()),
        None => "no repeat".to_string(),
    }];
    if m.dropped > 0 {
        parts.push(format!("{} dropped", m.dropped));
    }
    if m.cut {
        parts.push("scene cut".into());
    }
    parts.join(" · ")
}

fn panel3(m: &Mark) -> String {
    let what = match (m.made, m.guarded, m.repeated) {
        (Made::Synthesised, ..) => "synthesised",
        (Made::Blended, ..) => "blended",
        (Made::Real, true, _) => "kept whole (cut)",
        (Made::Real, false, true) => "repeated",
        (Made::Real, false, false) => "real",
    };
    let sources = match m.sources {
        (a, Some(b)) => format!("#{a}→#{b}"),
        (a, None) => format!("#{a}"),
    };
    format!("{:.2} s · src {:.2} {sources} · {what}", m.time, m.position)
}

/// Text without ASS override braces, escapes or line breaks.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| {
            if matches!(c, '{' | '}' | '\\') || c.is_control() {
                '?'
            } else {
                c
            }
        })
        .collect()
}

fn centis(seconds: f64) -> u64 {
    (seconds * 100.0 + 1e-6).floor() as u64
}

/// H:MM:SS.cc
fn clock(centis: u64) -> String {
    let (cs, s) = (centis % 100, centis / 100);
    format!("{}:{:02}:{:02}.{cs:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_gets_contiguous_events_for_its_three_panels() {
        let mark = |k: usize| Mark {
            time: k as f64 / 24.0,
            position: k as f64 * 0.5,
            nearest: k / 2,
            freeze: None,
            dropped: 0,
            cut: false,
            made: Made::Real,
            repeated: false,
            guarded: false,
            sources: (k / 2, None),
        };
        let layout = Layout {
            width: 300,
            height: 120,
            bands: [(0, 0), (100, 0), (200, 0)],
            font_size: 12,
        };
        let mut out = Vec::new();
        write(&mut out, &layout, &[mark(0), mark(1), mark(2)], "off", 24.0).unwrap();
        let text = String::from_utf8(out).unwrap();
        let events: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("Dialogue:"))
            .collect();
        // Three titles for the whole video, then three facts per frame.
        assert_eq!(events.len(), 3 + 9);
        assert!(events[2].starts_with("Dialogue: 0,0:00:00.00,0:00:00.12,"));
        assert!(events[2].contains("3  delivered (off)"));
        assert!(events[3].starts_with("Dialogue: 0,0:00:00.00,0:00:00.04,"));
        assert!(events[6].starts_with("Dialogue: 0,0:00:00.04,0:00:00.08,"));
        let facts = events[8];
        assert!(facts.contains("\\pos(203,19)"), "{facts}");
        assert!(facts.contains("0.04 s · src 0.50 #0 · real"), "{facts}");
        assert_eq!(clock(366_012), "1:01:00.12");
    }
}
