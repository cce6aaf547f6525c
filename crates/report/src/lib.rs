//! What a re-timing did, for a person who must decide quickly whether the
//! output can be trusted: a plot of the warp and a report around it.
//!
//! * [`plot`]: the warp (target time against source time, with the identity,
//!   the word anchors and the unmatched words) above the local speed (with
//!   freezes and cuts shaded), as SVG drawn with plotters.
//! * [`html`]: one self-contained HTML file: the plot inline, the confidence
//!   and its parts, the words, the freezes, the cuts, the stages, the videos.

pub mod html;
pub mod plot;

/// Minimal XML escaping for text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
