//! Whisper's encoder states of one audio, as the transcribe stage hands
//! them to the alignment: unit vectors at a fixed hop, kept as half floats
//! (a minute of tiny.en's 384-wide states is 2.3 MB).
//!
//! File: `VSTATES1`, then little-endian u32 width, u32 count, f64 hop in
//! seconds, then `count × width` IEEE half floats.

use half::f16;
use std::path::Path;

const MAGIC: &[u8; 8] = b"VSTATES1";
const HEADER: usize = 8 + 4 + 4 + 8;

#[derive(Clone, Debug, PartialEq)]
pub struct States {
    /// Seconds between two states.
    pub hop_s: f64,
    pub rows: Vec<Vec<f32>>,
}

impl States {
    pub fn to_bytes(&self) -> Vec<u8> {
        let width = self.rows.first().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(HEADER + 2 * width * self.rows.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(width as u32).to_le_bytes());
        out.extend_from_slice(&(self.rows.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.hop_s.to_le_bytes());
        for row in &self.rows {
            for &x in row {
                out.extend_from_slice(&f16::from_f32(x).to_le_bytes());
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err("not an encoder states file (no VSTATES1 header)".into());
        }
        let word = |at: usize, n: usize| {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&bytes[at..at + n]);
            u64::from_le_bytes(b)
        };
        let (width, count) = (word(8, 4) as usize, word(12, 4) as usize);
        let hop_s = f64::from_bits(word(16, 8));
        let body = &bytes[HEADER..];
        if width.checked_mul(count).and_then(|n| n.checked_mul(2)) != Some(body.len()) {
            return Err(format!(
                "an encoder states file of {count} states of {width} holds {} bytes of them: it is truncated or damaged",
                body.len()
            ));
        }
        if width == 0 && count > 0 {
            return Err(format!(
                "an encoder states file of {count} states of no width"
            ));
        }
        if !(hop_s > 0.0 && hop_s < 1.0) {
            return Err(format!("an encoder states file with a hop of {hop_s} s"));
        }
        let rows = body
            .chunks_exact(2 * width.max(1))
            .map(|row| {
                row.chunks_exact(2)
                    .map(|h| f16::from_le_bytes([h[0], h[1]]).to_f32())
                    .collect()
            })
            .collect();
        Ok(Self { hop_s, rows })
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_bytes())
    }

    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_survive_the_file_within_half_precision() {
        let states = States {
            hop_s: 0.02,
            rows: vec![vec![0.6, -0.8, 0.0], vec![0.1, 0.2, -0.97]],
        };
        let back = States::from_bytes(&states.to_bytes()).unwrap();
        assert_eq!(back.hop_s, 0.02);
        for (a, b) in states.rows.iter().flatten().zip(back.rows.iter().flatten()) {
            assert!((a - b).abs() < 1e-3, "{a} {b}");
        }
        let empty = States {
            hop_s: 0.02,
            rows: Vec::new(),
        };
        assert_eq!(States::from_bytes(&empty.to_bytes()).unwrap(), empty);
    }

    #[test]
    fn damaged_files_are_named() {
        let bytes = States {
            hop_s: 0.02,
            rows: vec![vec![1.0; 4]; 3],
        }
        .to_bytes();
        let err = States::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        assert!(States::from_bytes(b"{\"words\": []}")
            .unwrap_err()
            .contains("VSTATES1"));
    }
}
