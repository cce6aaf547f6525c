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

    /// The truth phone by phone: the two phone sequences (pauses left out)
    /// are matched by label (longest common subsequence; a phone only one
    /// side says gives no knot), and time is linear inside each phone.
    pub fn from_phones(source: &[Phone], target: &[Phone]) -> Self {
        let pairs = common_phones(source, target);
        let span = |p: &Phone| (p.start, p.end);
        let src: Vec<(f64, f64)> = pairs.iter().map(|&(i, _)| span(&source[i])).collect();
        let tgt: Vec<(f64, f64)> = pairs.iter().map(|&(_, j)| span(&target[j])).collect();
        Self::new(&src, &tgt)
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
