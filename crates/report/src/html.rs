//! The report: one HTML file with everything inline (no network, no
//! scripts), linking the two videos by relative paths.

use crate::escape;
use std::fmt::Write;
use vantage_core::{Alignment, FreezePlan, RenderLog};

/// One stage of the run, as the report lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct StageRow {
    pub name: String,
    /// "ran" or "cached".
    pub status: String,
    pub seconds: f64,
}

/// Everything the report shows.
pub struct Report<'a> {
    pub title: &'a str,
    pub alignment: &'a Alignment,
    pub freezes: &'a FreezePlan,
    pub log: &'a RenderLog,
    /// Output times (seconds) of the scene cuts.
    pub cuts_at: &'a [f64],
    pub stages: &'a [StageRow],
    /// The warp plot, inlined.
    pub plot_svg: &'a str,
    /// The output and the diagnostic video, relative to the report.
    pub output_link: &'a str,
    pub diagnostic_link: &'a str,
}

const STYLE: &str = "body{font-family:'DejaVu Sans',sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}\
th{background:#f4f4f4}.warn{color:#a40000}.ok{color:#1a7f37}.minor{background:#fff3bf}\
.moderate{background:#ffd8a8}.severe{background:#ffc9c9}video{max-width:100%}.words{font-size:13px}";

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>Re-timing report: {}</h1>\n",
        escape(r.title),
        escape(r.title)
    );
    page += &summary(r);
    page += &format!(
        "<h2>Warp</h2>\n<figure id=\"plot\">{}</figure>\n",
        r.plot_svg
    );
    page += &confidence(r.alignment);
    page += &words(r.alignment);
    page += &freezes(r.freezes);
    page += &cuts(r.cuts_at, r.log);
    page += &stages(r.stages);
    page += &videos(r);
    page += "</body></html>\n";
    page
}

fn summary(r: &Report) -> String {
    let c = &r.alignment.confidence;
    let verdict = if c.warnings.is_empty() {
        "<span class=\"ok\">no warnings</span>".to_string()
    } else {
        format!(
            "<span class=\"warn\">{} warning(s)</span>",
            c.warnings.len()
        )
    };
    format!(
        "<p id=\"summary\">Confidence <b>{:.2}</b> ({verdict}); {} output frames, {} in freezes, {} synthesised ({}), {} cuts; source {:.2} s → target {:.2} s.</p>\n",
        c.score,
        r.log.frames.len(),
        r.freezes.segments.iter().map(|s| s.frames).sum::<usize>(),
        r.log.synthesised(),
        escape(&r.log.mode),
        r.log.cuts.len(),
        r.alignment.source_duration,
        r.alignment.target_duration
    )
}

fn confidence(a: &Alignment) -> String {
    let c = &a.confidence;
    let mut s = String::from("<h2>Confidence</h2>\n<table id=\"confidence\"><tbody>\n");
    let rows = [
        (
            "score (0 no evidence .. 1 clean match)",
            format!("{:.3}", c.score),
        ),
        (
            "path cost (mean feature distance along the path)",
            format!("{:.3}", c.path_cost),
        ),
        (
            "chance cost (between unrelated speech)",
            format!("{:.3}", c.chance_cost),
        ),
        (
            "share of speech at a plausible rate (0.5x..2x)",
            format!("{:.1}%", 100.0 * c.plausible_rate_share),
        ),
        (
            "speech in source / target",
            format!("{:.2} s / {:.2} s", c.source_speech_s, c.target_speech_s),
        ),
        ("word anchors used", a.anchors_used.to_string()),
    ];
    for (name, value) in rows {
        let _ = writeln!(s, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    s += "</tbody></table>\n<ul id=\"warnings\">";
    for w in &c.warnings {
        let _ = write!(s, "<li class=\"warn\">{}</li>", escape(w));
    }
    s += "</ul>\n";
    s
}

fn words(a: &Alignment) -> String {
    let Some(w) = &a.confidence.words else {
        return "<h2>Words</h2><p>No transcripts: aligned on sound alone.</p>\n".into();
    };
    let mut s = format!(
        "<h2>Words</h2>\n<p>{} source words, {} target words, {} matched ({:.0}%).</p>\n<table id=\"pairs\"><thead><tr><th>source</th><th>at (s)</th><th>target</th><th>at (s)</th><th>anchor</th></tr></thead><tbody>\n",
        w.source_words,
        w.target_words,
        w.matched,
        100.0 * w.match_ratio
    );
    for p in &w.pairs {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{:.2}</td><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
            escape(&p.source_word),
            p.source,
            escape(&p.target_word),
            p.target,
            if p.anchor { "yes" } else { "similar" }
        );
    }
    s += "</tbody></table>\n";
    let list = |id: &str, label: &str, words: &[String]| {
        let items: Vec<String> = words
            .iter()
            .map(|w| format!("<li>{}</li>", escape(w)))
            .collect();
        format!(
            "<p class=\"words\">{label} ({}):</p><ul id=\"{id}\" class=\"words\">{}</ul>\n",
            words.len(),
            items.join("")
        )
    };
    s += &list(
        "unmatched-source",
        "Only in the source",
        &w.unmatched_source,
    );
    s += &list(
        "unmatched-target",
        "Only in the target",
        &w.unmatched_target,
    );
    s
}

fn freezes(f: &FreezePlan) -> String {
    let mut s = format!(
        "<h2>Freezes</h2>\n<p>Under a nearest-frame render {} output frames would repeat their predecessor and {} source frames would never be shown.</p>\n<table id=\"freezes\"><thead><tr><th>start (s)</th><th>frames</th><th>source frame</th><th>lasts (s)</th><th>severity</th></tr></thead><tbody>\n",
        f.repeated_frames, f.dropped_frames
    );
    for seg in &f.segments {
        let _ = writeln!(
            s,
            "<tr class=\"{0}\"><td>{1:.2}</td><td>{2}</td><td>{3}</td><td>{4:.3}</td><td>{0}</td></tr>",
            seg.severity.name(),
            seg.start_s,
            seg.frames,
            seg.source_frame,
            seg.duration_s
        );
    }
    s += "</tbody></table>\n";
    s
}

fn cuts(at: &[f64], log: &RenderLog) -> String {
    let mut s = String::from(
        "<h2>Scene cuts</h2>\n<p>Never synthesised across: frames there show the nearest real frame.</p>\n<table id=\"cuts\"><thead><tr><th>between source frames</th><th>output time (s)</th></tr></thead><tbody>\n",
    );
    for (c, t) in log.cuts.iter().zip(at) {
        let _ = writeln!(s, "<tr><td>{c} | {}</td><td>{t:.2}</td></tr>", c + 1);
    }
    s += "</tbody></table>\n";
    s
}

fn stages(rows: &[StageRow]) -> String {
    let mut s = String::from(
        "<h2>Stages</h2>\n<table id=\"stages\"><thead><tr><th>stage</th><th>status</th><th>seconds</th></tr></thead><tbody>\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td></tr>",
            escape(&r.name),
            escape(&r.status),
            r.seconds
        );
    }
    s += "</tbody></table>\n";
    s
}

/// A relative path as a URL: each segment percent-encoded, and `./` first so
/// that a segment with a colon is never read as a scheme.
fn href(path: &str) -> String {
    let mut url = String::from("./");
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                url.push(b as char)
            }
            _ => url += &format!("%{b:02X}"),
        }
    }
    url
}

fn videos(r: &Report) -> String {
    let (out, diag) = (href(r.output_link), href(r.diagnostic_link));
    format!(
        "<h2>Videos</h2>\n<p><a id=\"output-link\" href=\"{out}\">the output</a> · <a id=\"diagnostic-link\" href=\"{diag}\">the diagnostic</a></p>\n<video controls preload=\"metadata\" src=\"{diag}\"></video>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_urls() {
        assert_eq!(href("../out #1.mp4"), "./../out%20%231.mp4");
        assert_eq!(href("c:d/x.mp4"), "./c%3Ad/x.mp4");
    }
}
