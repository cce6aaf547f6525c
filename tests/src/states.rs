//! A plain DTW on Whisper's encoder states, as a check of how far they
//! alone follow the words (`vantage_transcribe::encoder`).

use crate::truth::{Stats, Truth};
use vantage_transcribe::encoder::STATE_HOP_S;

/// (target s, source s) every state of `target`: a plain DTW (steps across,
/// down, diagonal) on cosine distance, each target state at the mean of the
/// source states matched to it.
pub fn states_warp(source: &[Vec<f32>], target: &[Vec<f32>]) -> Vec<(f64, f64)> {
    let (n, m) = (source.len(), target.len());
    let cost = |i: usize, j: usize| -> f32 {
        1.0 - source[i]
            .iter()
            .zip(&target[j])
            .map(|(a, b)| a * b)
            .sum::<f32>()
    };
    let mut acc = vec![f32::INFINITY; n * m];
    for i in 0..n {
        for j in 0..m {
            let best = match (i, j) {
                (0, 0) => 0.0,
                (0, _) => acc[j - 1],
                (_, 0) => acc[(i - 1) * m],
                _ => acc[(i - 1) * m + j - 1]
                    .min(acc[(i - 1) * m + j])
                    .min(acc[i * m + j - 1]),
            };
            acc[i * m + j] = best + cost(i, j);
        }
    }
    let mut matched = vec![(0.0, 0usize); m];
    let (mut i, mut j) = (n - 1, m - 1);
    loop {
        matched[j].0 += i as f64;
        matched[j].1 += 1;
        if i == 0 && j == 0 {
            break;
        }
        let at = |i: usize, j: usize| acc[i * m + j];
        (i, j) = if i == 0 {
            (0, j - 1)
        } else if j == 0 {
            (i - 1, 0)
        } else {
            let moves = [(i - 1, j - 1), (i - 1, j), (i, j - 1)];
            moves
                .into_iter()
                .min_by(|a, b| at(a.0, a.1).total_cmp(&at(b.0, b.1)))
                .unwrap_or((i - 1, j - 1))
        };
    }
    let centre = |k: f64| (k + 0.5) * STATE_HOP_S;
    matched
        .iter()
        .enumerate()
        .map(|(j, &(sum, count))| (centre(j as f64), centre(sum / count as f64)))
        .collect()
}

/// `knots` (increasing target times) linearly at `t`, extended at the ends.
fn knot_at(knots: &[(f64, f64)], t: f64) -> f64 {
    let k = knots
        .partition_point(|k| k.0 <= t)
        .clamp(1, knots.len() - 1);
    let ((t0, s0), (t1, s1)) = (knots[k - 1], knots[k]);
    s0 + (t - t0) * (s1 - s0) / (t1 - t0)
}

/// Error (ms) of the `knots` warp against `truth` every 10 ms of the
/// target's words, over `target_duration` seconds.
pub fn knots_error(knots: &[(f64, f64)], truth: &Truth, target_duration: f64) -> Stats {
    let errors: Vec<f64> = (0..(target_duration * 100.0) as usize)
        .map(|k| k as f64 / 100.0)
        .filter(|&t| truth.in_word(t))
        .filter_map(|t| truth.source_at(t).map(|s| (knot_at(knots, t) - s) * 1000.0))
        .collect();
    Stats::of(&errors)
}
