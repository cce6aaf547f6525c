//! Matching the words of two transcripts.
//!
//! Both sides are normalised (case, punctuation, small numbers spelled out)
//! and aligned by edit distance. Only identical normalised words count as a
//! match: a recognition error on either side becomes a substitution and
//! simply gives no anchor there.

use crate::Anchor;
use vantage_core::{Transcript, WordMatch, WordPair};

/// Words below this probability (on either side) give no anchor.
const MIN_PROBABILITY: f64 = 0.3;

/// Match the two transcripts' words: anchors at the midpoints of words both
/// say (where both were heard with some confidence), and the match report.
pub fn word_anchors(source: &Transcript, target: &Transcript) -> (Vec<Anchor>, WordMatch) {
    let norm =
        |t: &Transcript| -> Vec<String> { t.words.iter().map(|w| normalise(&w.text)).collect() };
    let (a, b) = (norm(source), norm(target));
    let pairs = match_words(&a, &b);
    // Only identical words anchor; similar ones still count as agreement.
    let mid = |w: &vantage_core::Word| (w.start + w.end) / 2.0;
    let word_pairs: Vec<WordPair> = pairs
        .iter()
        .map(|&(i, j, kin)| {
            let (s, t) = (&source.words[i], &target.words[j]);
            WordPair {
                source_word: s.text.clone(),
                target_word: t.text.clone(),
                source: mid(s),
                target: mid(t),
                anchor: kin == Kinship::Same && s.probability.min(t.probability) >= MIN_PROBABILITY,
            }
        })
        .collect();
    let anchors = word_pairs
        .iter()
        .filter(|p| p.anchor)
        .map(|p| Anchor {
            source: p.source,
            target: p.target,
        })
        .collect();
    // Indices of the words only one side says.
    let lone = |count: usize, side: fn(&(usize, usize, Kinship)) -> usize| -> Vec<usize> {
        let used: std::collections::HashSet<usize> = pairs.iter().map(side).collect();
        (0..count).filter(|i| !used.contains(i)).collect()
    };
    let (lone_source, lone_target) = (lone(a.len(), |p| p.0), lone(b.len(), |p| p.1));
    let report = WordMatch {
        source_words: a.len(),
        target_words: b.len(),
        matched: pairs.len(),
        match_ratio: pairs.len() as f64 / a.len().max(b.len()).max(1) as f64,
        unmatched_source: lone_source.iter().map(|&i| a[i].clone()).collect(),
        unmatched_target: lone_target.iter().map(|&i| b[i].clone()).collect(),
        pairs: word_pairs,
        unmatched_source_at: lone_source.iter().map(|&i| mid(&source.words[i])).collect(),
        unmatched_target_at: lone_target.iter().map(|&i| mid(&target.words[i])).collect(),
    };
    (anchors, report)
}

/// Lowercase, letters and digits only, numbers up to 99 spelled out
/// (Whisper writes "7" for "seven" in some runs and not in others).
pub fn normalise(word: &str) -> String {
    let w: String = word
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'')
        .flat_map(char::to_lowercase)
        .filter(|c| *c != '\'')
        .collect();
    match w.parse::<u32>() {
        Ok(n) if n < 100 => spell(n),
        _ => w,
    }
}

fn spell(n: u32) -> String {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 10] = [
        "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    match n {
        0..=19 => ONES[n as usize].to_string(),
        _ if n.is_multiple_of(10) => TENS[(n / 10) as usize].to_string(),
        _ => format!("{}{}", TENS[(n / 10) as usize], ONES[(n % 10) as usize]),
    }
}

/// How two aligned words correspond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kinship {
    /// The same normalised word.
    Same,
    /// Nearly the same spelling ("fox"/"box"): most likely the same word
    /// misheard on one side.
    Similar,
}

/// How two words (as characters) relate, if at all.
fn kinship(a: &[char], b: &[char]) -> Option<Kinship> {
    if a == b {
        return Some(Kinship::Same);
    }
    let longest = a.len().max(b.len());
    // The distance is at least the length difference: skip the hopeless pairs.
    let close = longest >= 3
        && a.len().abs_diff(b.len()) <= longest / 3
        && edit_distance(a, b) <= longest / 3;
    close.then_some(Kinship::Similar)
}

/// Levenshtein distance: the fewest substitutions, insertions and deletions
/// that turn `a` into `b`.
fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Index pairs (a, b) of words both sequences say, in order, with how
/// closely they agree: the pairs of a minimum-cost alignment where a same
/// word costs 0, a similar one 0.5, and a substitution, insertion or
/// deletion 1.
///
/// Up to [`DENSE_CELLS`] pairs every alignment is searched; past that (an
/// hour of speech is some 9,000 words a side) only those within [`BAND`]
/// words of the diagonal, so memory grows with the words, not their square.
pub fn match_words(a: &[String], b: &[String]) -> Vec<(usize, usize, Kinship)> {
    let (n, m) = (a.len(), b.len());
    let width = if (n + 1) * (m + 1) <= DENSE_CELLS {
        n.max(m)
    } else {
        // Wide enough that each row's band meets the next's.
        BAND.max(m.div_ceil(n.max(1)) + 1)
    };
    match_within(a, b, width)
}

/// Word pairs searched in full up to this many (16 MB of costs).
const DENSE_CELLS: usize = 1 << 22;
/// Half-width of the searched band, in words: transcripts that drift
/// further apart than this (minutes of speech one side lacks) are
/// different content anyway.
const BAND: usize = 400;

/// The columns of each row within `width` of the diagonal from (0, 0) to
/// (n, m), and their costs, row by row.
struct Band {
    n: usize,
    m: usize,
    width: usize,
    /// Index in `cost` of each row's first column.
    starts: Vec<usize>,
    cost: Vec<f32>,
}

impl Band {
    fn new(n: usize, m: usize, width: usize) -> Band {
        let mut band = Band {
            n,
            m,
            width,
            starts: Vec::with_capacity(n + 2),
            cost: Vec::new(),
        };
        let mut total = 0;
        for i in 0..=n {
            band.starts.push(total);
            let (lo, hi) = band.columns(i);
            total += hi + 1 - lo;
        }
        band.starts.push(total);
        band.cost = vec![f32::INFINITY; total];
        band
    }

    /// First and last column of row `i`.
    fn columns(&self, i: usize) -> (usize, usize) {
        let centre = (i * self.m).checked_div(self.n).unwrap_or(self.m);
        (
            centre.saturating_sub(self.width),
            (centre + self.width).min(self.m),
        )
    }

    fn index(&self, i: usize, j: usize) -> Option<usize> {
        let (lo, hi) = self.columns(i);
        (i <= self.n && (lo..=hi).contains(&j)).then(|| self.starts[i] + j - lo)
    }

    /// The cost of aligning the rest from (i, j); infinite outside the band.
    fn get(&self, i: usize, j: usize) -> f32 {
        if i == self.n {
            return (self.m - j) as f32;
        }
        if j == self.m {
            return (self.n - i) as f32;
        }
        self.index(i, j).map_or(f32::INFINITY, |k| self.cost[k])
    }
}

fn match_within(a: &[String], b: &[String], width: usize) -> Vec<(usize, usize, Kinship)> {
    let (n, m) = (a.len(), b.len());
    // Characters collected once: kinship is asked for every pair.
    let chars = |words: &[String]| -> Vec<Vec<char>> {
        words.iter().map(|w| w.chars().collect()).collect()
    };
    let (a, b) = (chars(a), chars(b));
    let pair_cost = |i: usize, j: usize| match kinship(&a[i], &b[j]) {
        Some(Kinship::Same) => 0.0,
        Some(Kinship::Similar) => 0.5,
        None => 1.0,
    };
    // Cost of aligning a[i..] with b[j..], filled backwards so the path
    // can be read forwards.
    let mut d = Band::new(n, m, width);
    for i in (0..n).rev() {
        let (lo, hi) = d.columns(i);
        for j in (lo..(hi + 1).min(m)).rev() {
            let best = (d.get(i + 1, j + 1) + pair_cost(i, j))
                .min(d.get(i + 1, j) + 1.0)
                .min(d.get(i, j + 1) + 1.0);
            if let Some(k) = d.index(i, j) {
                d.cost[k] = best;
            }
        }
    }
    let (mut i, mut j, mut pairs) = (0, 0, Vec::new());
    while i < n && j < m {
        let here = d.get(i, j);
        if here == d.get(i + 1, j + 1) + pair_cost(i, j) {
            if let Some(k) = kinship(&a[i], &b[j]) {
                pairs.push((i, j, k));
            }
            i += 1;
            j += 1;
        } else if here == d.get(i + 1, j) + 1.0 {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs
}

/// Word error rate of `hypothesis` against `reference` (normalised words).
pub fn word_error_rate(reference: &[String], hypothesis: &[String]) -> f64 {
    edit_distance(reference, hypothesis) as f64 / reference.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(normalise).collect()
    }

    #[test]
    fn normalising_ignores_case_punctuation_and_digit_spelling() {
        assert_eq!(normalise("Yesterday,"), "yesterday");
        assert_eq!(normalise("7"), "seven");
        assert_eq!(normalise("42."), "fortytwo");
        assert_eq!(normalise("don't"), "dont");
        assert_eq!(normalise("1999"), "1999");
    }

    #[test]
    fn matches_survive_recognition_errors_and_insertions() {
        let a = words("the quick brown fox jumped over seven lazy dogs");
        let b = words("the quick roundfoc stump over 7 very lazy dogs");
        let pairs: Vec<(usize, usize)> = match_words(&a, &b).iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(pairs, vec![(0, 0), (1, 1), (5, 4), (6, 5), (7, 7), (8, 8)]);
        // A misheard word next to its original is similar, not the same.
        let pairs = match_words(&words("a brown fox"), &words("a brown box"));
        assert_eq!(pairs[2], (2, 2, Kinship::Similar));
        assert!(match_words(&words("music"), &words("dancers")).is_empty());
    }

    #[test]
    fn the_band_finds_what_the_full_search_finds() {
        // About 3,000 words a side: one lacks every 97th word, the other
        // half of a 30-word run, mishears every 101st and says 30 more.
        let vocabulary = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
        ];
        let word = |k: usize| format!("{}{}", vocabulary[k % 7], k % 13);
        let a: Vec<String> = (0..3000).filter(|k| k % 97 != 5).map(word).collect();
        let b: Vec<String> = (0..3030)
            .filter(|k| !(1500..1530).contains(k) || k % 2 == 0)
            .map(|k| {
                if k % 101 == 7 {
                    "misheard".into()
                } else {
                    word(k)
                }
            })
            .collect();
        let full = match_within(&a, &b, a.len().max(b.len()));
        let banded = match_within(&a, &b, 64);
        assert!(full.len() > 2900, "{} pairs", full.len());
        assert_eq!(full, banded);
        assert_eq!(match_words(&a, &b), full);
    }

    #[test]
    fn word_error_rate_counts_edits() {
        let r = words("a b c d");
        assert_eq!(word_error_rate(&r, &words("a b c d")), 0.0);
        assert_eq!(word_error_rate(&r, &words("a x c")), 0.5);
        assert_eq!(word_error_rate(&r, &[]), 1.0);
    }
}
