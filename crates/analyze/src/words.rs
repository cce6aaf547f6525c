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
pub fn match_words(a: &[String], b: &[String]) -> Vec<(usize, usize, Kinship)> {
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
    // d[i][j]: cost of aligning a[i..] with b[j..], filled backwards so the
    // path can be read forwards.
    let mut d = vec![vec![0f32; m + 1]; n + 1];
    for i in (0..=n).rev() {
        for j in (0..=m).rev() {
            d[i][j] = if i == n {
                (m - j) as f32
            } else if j == m {
                (n - i) as f32
            } else {
                (d[i + 1][j + 1] + pair_cost(i, j))
                    .min(d[i + 1][j] + 1.0)
                    .min(d[i][j + 1] + 1.0)
            };
        }
    }
    let (mut i, mut j, mut pairs) = (0, 0, Vec::new());
    while i < n && j < m {
        if d[i][j] == d[i + 1][j + 1] + pair_cost(i, j) {
            if let Some(k) = kinship(&a[i], &b[j]) {
                pairs.push((i, j, k));
            }
            i += 1;
            j += 1;
        } else if d[i][j] == d[i + 1][j] + 1.0 {
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
    fn word_error_rate_counts_edits() {
        let r = words("a b c d");
        assert_eq!(word_error_rate(&r, &words("a b c d")), 0.0);
        assert_eq!(word_error_rate(&r, &words("a x c")), 0.5);
        assert_eq!(word_error_rate(&r, &[]), 1.0);
    }
}
