//! Ground truth and error statistics.

use crate::speech::Phone;

/// The true source time shown at target time `t`: inside a word, linear
/// between the word's ends in source and target; between words, linear across the pause.
pub struct Truth {
    knots: Vec<(f64, f64)>, // (target, source)
    target_words: Vec<(f64, f64)>,
}

impl Truth {
    pub fn new(source_words: &[(f64, f64)], target_words: &[(f64, f64)]) -> Self {
        assert_eq!(source_words.len(), target_words.len());
        let mut knots = Vec::new();
        for (s, t) in source_words.iter().zip(target_words) {
            knots.push((t.0, s.0));
            knots.push((t.1, s.1));
        }
        Self {
            knots,
            target_words: target_words.to_vec(),
        }
    }

    /// [`Truth::new`] refined inside each pair of words (or phrases) by
    /// their phones: the two phone sequences of a pair are matched by label
    /// (longest common subsequence; a phone only one side says gives no
    /// knot), and time is linear inside each matched phone. A pair where
    /// either side has no phones stays linear between its ends.
    pub fn with_phones(
        source_words: &[(f64, f64)],
        target_words: &[(f64, f64)],
        source_phones: &[Phone],
        target_phones: &[Phone],
    ) -> Self {
        let mut truth = Self::new(source_words, target_words);
        let inside = |phones: &[Phone], &(a, b): &(f64, f64)| -> Vec<Phone> {
            phones
                .iter()
                .filter(|p| p.start >= a - 1e-6 && p.end <= b + 1e-6)
                .cloned()
                .collect()
        };
        for (s, t) in source_words.iter().zip(target_words) {
            let (sp, tp) = (inside(source_phones, s), inside(target_phones, t));
            for (i, j) in common_phones(&sp, &tp) {
                truth.knots.push((tp[j].start, sp[i].start));
                truth.knots.push((tp[j].end, sp[i].end));
            }
        }
        truth
            .knots
            .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        truth
    }

    /// True source time at target time `t` (None outside the speech).
    pub fn source_at(&self, t: f64) -> Option<f64> {
        let (first, last) = (self.knots[0], self.knots[self.knots.len() - 1]);
        if t < first.0 || t > last.0 {
            return None;
        }
        let i = self
            .knots
            .partition_point(|k| k.0 <= t)
            .clamp(1, self.knots.len() - 1);
        let (a, b) = (self.knots[i - 1], self.knots[i]);
        Some(if b.0 > a.0 {
            a.1 + (t - a.0) * (b.1 - a.1) / (b.0 - a.0)
        } else {
            a.1
        })
    }

    /// Whether target time `t` is inside a spoken word.
    pub fn in_word(&self, t: f64) -> bool {
        self.target_words.iter().any(|&(a, b)| t >= a && t <= b)
    }
}

/// Index pairs of the longest common subsequence of the phones' labels.
fn common_phones(a: &[Phone], b: &[Phone]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i].label == b[j].label {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut pairs) = (0, 0, Vec::new());
    while i < n && j < m {
        if a[i].label == b[j].label {
            pairs.push((i, j));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs
}

/// Median, 95th percentile and maximum of absolute errors (ms).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub p95: f64,
    pub max: f64,
    pub count: usize,
}

impl Stats {
    pub fn of(errors_ms: &[f64]) -> Self {
        let mut v: Vec<f64> = errors_ms.iter().map(|e| e.abs()).collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Self {
            median: at(0.5),
            p95: at(0.95),
            max: v[v.len() - 1],
            count: v.len(),
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:7.1} {:7.1} {:7.1}", self.median, self.p95, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phones(spec: &[(&str, f64)]) -> Vec<Phone> {
        let mut start = 0.0;
        spec.iter()
            .map(|&(label, end)| {
                let p = Phone {
                    label: label.into(),
                    start,
                    end,
                };
                start = end;
                p
            })
            .collect()
    }

    #[test]
    fn phones_give_the_truth_inside_words() {
        // "museum" twice, the second with its last syllable drawn out and
        // one phone ("y") not said.
        let source = phones(&[
            ("m", 0.1),
            ("y", 0.2),
            ("uw", 0.3),
            ("z", 0.4),
            ("iy", 0.5),
            ("ax", 0.6),
            ("m", 0.7),
        ]);
        let target = phones(&[
            ("m", 0.1),
            ("uw", 0.3),
            ("z", 0.4),
            ("iy", 0.5),
            ("ax", 0.9),
            ("m", 1.0),
        ]);
        let truth = Truth::with_phones(&[(0.0, 0.7)], &[(0.0, 1.0)], &source, &target);
        let near = |t: f64, s: f64| (truth.source_at(t).unwrap() - s).abs() < 1e-9;
        assert!(near(0.05, 0.05));
        // Inside the drawn-out "ax": 0.5..0.9 in the target is 0.5..0.6 in the source.
        assert!(near(0.7, 0.55));
        assert!(near(0.95, 0.65));
        assert!(truth.in_word(0.7) && !truth.in_word(1.1));
    }
}
