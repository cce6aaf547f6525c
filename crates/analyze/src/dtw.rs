//! Dynamic time warping inside a window of allowed cells.
//!
//! Rows are source frames, columns target frames. The step pattern is the
//! symmetric P=1 pattern of Sakoe & Chiba: a diagonal move, or a knight's move
//! that is half as steep or twice as steep, so inside speech the path's local
//! slope stays within 1/2..2. Where both frames are silence ("free" cells) the
//! path may also move straight across or down, so pauses of any length match.

/// Allowed columns `lo[i]..hi[i]` for every row.
#[derive(Clone, Debug)]
pub struct Window {
    pub lo: Vec<usize>,
    pub hi: Vec<usize>,
}

impl Window {
    /// Cells within `radius` columns of the straight line from the first to the last cell.
    pub fn band(n: usize, m: usize, radius: usize) -> Self {
        let slope = (m.max(2) - 1) as f64 / (n.max(2) - 1) as f64;
        let (mut lo, mut hi) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let c = (i as f64 * slope).round() as usize;
            lo.push(c.saturating_sub(radius));
            hi.push((c + radius + 1).min(m));
        }
        Self { lo, hi }
    }

    /// The cells a coarse path covers, scaled up by `factor` and widened by `radius`.
    pub fn around_path(
        path: &[(usize, usize)],
        factor: usize,
        n: usize,
        m: usize,
        radius: usize,
    ) -> Self {
        let coarse_rows = n.div_ceil(factor);
        let mut cmin = vec![usize::MAX; coarse_rows];
        let mut cmax = vec![0usize; coarse_rows];
        for &(i, j) in path {
            if i < coarse_rows {
                cmin[i] = cmin[i].min(j);
                cmax[i] = cmax[i].max(j);
            }
        }
        let (mut lo, mut hi) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let ci = (i / factor).min(coarse_rows - 1);
            let (a, b) = if cmin[ci] == usize::MAX {
                (0, m)
            } else {
                (cmin[ci] * factor, (cmax[ci] + 1) * factor)
            };
            lo.push(a.saturating_sub(radius));
            hi.push((b + radius).min(m));
        }
        // Widen so the window is monotone and every row connects to the next.
        for i in (0..n.saturating_sub(1)).rev() {
            lo[i] = lo[i].min(lo[i + 1]);
        }
        for i in 1..n {
            hi[i] = hi[i].max(hi[i - 1]);
        }
        Self { lo, hi }
    }

    #[cfg(test)]
    pub fn cells(&self) -> usize {
        self.lo
            .iter()
            .zip(&self.hi)
            .map(|(l, h)| h.saturating_sub(*l))
            .sum()
    }
}

const DIAG: u8 = 0;
const KNIGHT_ACROSS: u8 = 1; // from (i-1, j-2)
const KNIGHT_DOWN: u8 = 2; // from (i-2, j-1)
const ACROSS: u8 = 3; // from (i, j-1)
const DOWN: u8 = 4; // from (i-1, j)

/// The cheapest path from (0,0) to (n-1,m-1), or `None` when the window and
/// step pattern admit none. With `strict` off, straight moves are allowed
/// everywhere (at double cost): the fallback for windows too narrow for the slope limits.
pub fn dtw(
    n: usize,
    m: usize,
    window: &Window,
    cost: impl Fn(usize, usize) -> f32,
    free: impl Fn(usize, usize) -> bool,
    strict: bool,
) -> Option<Vec<(usize, usize)>> {
    if n == 0 || m == 0 {
        return None;
    }
    // Row i's cells live at offset[i].. in `step`, a byte each. Costs are
    // kept for the last three rows only (no step reaches further back):
    // an hour-long alignment keeps one byte per cell, not five.
    let mut offset = Vec::with_capacity(n + 1);
    offset.push(0usize);
    for (lo, hi) in window.lo.iter().zip(&window.hi) {
        offset.push(offset[offset.len() - 1] + hi.saturating_sub(*lo));
    }
    let mut step = vec![u8::MAX; offset[n]];
    let mut rows: [Vec<f32>; 3] = Default::default();
    let at = |i: usize, j: usize| -> Option<usize> {
        (j >= window.lo[i] && j < window.hi[i]).then(|| offset[i] + j - window.lo[i])
    };
    let get = |rows: &[Vec<f32>; 3], i: usize, j: usize| {
        at(i, j).map_or(f32::INFINITY, |k| rows[i % 3][k - offset[i]])
    };
    for (i, (&lo, &hi)) in window.lo.iter().zip(&window.hi).enumerate() {
        let mut row = std::mem::take(&mut rows[i % 3]);
        row.clear();
        row.resize(hi.saturating_sub(lo), f32::INFINITY);
        rows[i % 3] = row;
        for j in lo..hi {
            let c = cost(i, j);
            let k = offset[i] + j - lo;
            if i == 0 && j == 0 {
                rows[0][0] = c;
                continue;
            }
            let mut best = (f32::INFINITY, u8::MAX);
            let mut consider = |v: f32, s: u8| {
                if v < best.0 {
                    best = (v, s);
                }
            };
            if i >= 1 && j >= 1 {
                consider(get(&rows, i - 1, j - 1) + 2.0 * c, DIAG);
            }
            if i >= 1 && j >= 2 && at(i, j - 1).is_some() {
                consider(
                    get(&rows, i - 1, j - 2) + 2.0 * cost(i, j - 1) + c,
                    KNIGHT_ACROSS,
                );
            }
            if i >= 2 && j >= 1 && at(i - 1, j).is_some() {
                consider(
                    get(&rows, i - 2, j - 1) + 2.0 * cost(i - 1, j) + c,
                    KNIGHT_DOWN,
                );
            }
            let straight = if free(i, j) {
                Some(1.0)
            } else if strict {
                None
            } else {
                Some(2.0)
            };
            if let Some(w) = straight {
                if j >= 1 {
                    consider(get(&rows, i, j - 1) + w * c, ACROSS);
                }
                if i >= 1 {
                    consider(get(&rows, i - 1, j) + w * c, DOWN);
                }
            }
            rows[i % 3][j - lo] = best.0;
            step[k] = best.1;
        }
    }
    at(n - 1, m - 1)?;
    if !get(&rows, n - 1, m - 1).is_finite() {
        return None;
    }
    let (mut i, mut j) = (n - 1, m - 1);
    let mut path = vec![(i, j)];
    while i > 0 || j > 0 {
        let s = step[at(i, j)?];
        match s {
            DIAG => {
                i -= 1;
                j -= 1;
            }
            KNIGHT_ACROSS => {
                path.push((i, j - 1));
                i -= 1;
                j -= 2;
            }
            KNIGHT_DOWN => {
                path.push((i - 1, j));
                i -= 2;
                j -= 1;
            }
            ACROSS => j -= 1,
            DOWN => i -= 1,
            _ => return None,
        }
        path.push((i, j));
    }
    path.reverse();
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_a_stretched_sequence() {
        // Target is the source played at half speed: every source frame twice.
        let src: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let tgt: Vec<f32> = (0..99).map(|j| src[j / 2]).collect();
        let w = Window::band(50, 99, 100);
        let path = dtw(
            50,
            99,
            &w,
            |i, j| (src[i] - tgt[j]).abs(),
            |_, _| false,
            true,
        )
        .unwrap();
        assert_eq!(path[0], (0, 0));
        assert_eq!(*path.last().unwrap(), (49, 98));
        for &(i, j) in &path {
            assert!(
                (j as i32 / 2 - i as i32).abs() <= 1,
                "cell ({i},{j}) off the truth"
            );
        }
    }

    #[test]
    fn slope_limit_forbids_long_straight_runs_outside_pauses() {
        // 10 rows against 40 columns needs slope 4: impossible under 1/2..2 without free cells.
        let w = Window::band(10, 40, 40);
        assert!(dtw(10, 40, &w, |_, _| 1.0, |_, _| false, true).is_none());
        // Free (silent) cells make it possible.
        assert!(dtw(10, 40, &w, |_, _| 1.0, |_, _| true, true).is_some());
        // And the non-strict fallback always finds a path.
        assert!(dtw(10, 40, &w, |_, _| 1.0, |_, _| false, false).is_some());
    }

    #[test]
    fn path_stays_inside_the_window() {
        let coarse = vec![(0, 0), (1, 1), (2, 2), (3, 3)];
        let w = Window::around_path(&coarse, 4, 16, 16, 2);
        let path = dtw(
            16,
            16,
            &w,
            |i, j| (i as f32 - j as f32).abs(),
            |_, _| false,
            true,
        )
        .unwrap();
        assert!(path.iter().all(|&(i, j)| i == j));
        assert!(w.cells() < 16 * 16);
    }
}
