//! Whisper's encoder states as features for aligning two voices.
//!
//! The output of an inner block of the encoder is much the same for two
//! speakers and under music, where cepstra are not (see the README's
//! "Whisper's encoder states as the features"). whisper.cpp does not expose
//! its encoder output, so the first blocks are run here on candle from the
//! same GGML file: Whisper's log mel, two convolutions (the second halves the
//! rate to 20 ms), the positional embedding and `blocks` transformer blocks.

use crate::TranscribeError;
use candle_core::{Device, Tensor, D};
use std::collections::HashMap;
use std::path::Path;
use vantage_weights::whisper::{read_hparams, HParams};

/// Hop of the states: the second convolution has stride 2 over 10 ms frames.
pub const STATE_HOP_S: f64 = 0.02;
/// Encoder blocks whose output the alignment compares: the third of
/// tiny.en's four follows the words across voices and under music best,
/// the last one and the second lose them (the README's "Whisper's encoder
/// states as the features").
pub const STATE_BLOCKS: usize = 3;
const N_FFT: usize = 400;
const HOP: usize = 160;
/// Mel frames in one encoder window (30 s).
const WINDOW: usize = 3000;

pub struct Encoder {
    filters: Vec<f32>,
    n_mels: usize,
    n_head: usize,
    conv1: (Tensor, Tensor),
    conv2: (Tensor, Tensor),
    positions: Tensor,
    blocks: Vec<Block>,
}

struct Block {
    attn_ln: (Tensor, Tensor),
    query: (Tensor, Tensor),
    key: Tensor,
    value: (Tensor, Tensor),
    out: (Tensor, Tensor),
    mlp_ln: (Tensor, Tensor),
    mlp_in: (Tensor, Tensor),
    mlp_out: (Tensor, Tensor),
}

fn model_error(e: impl std::fmt::Display) -> TranscribeError {
    TranscribeError::Model(format!("Whisper encoder: {e}"))
}

impl Encoder {
    /// The first `blocks` blocks of the encoder in the GGML model at `path`.
    pub fn load(path: &Path, blocks: usize) -> Result<Self, TranscribeError> {
        let bytes = std::fs::read(path)
            .map_err(|e| TranscribeError::Model(format!("{}: {e}", path.display())))?;
        let mut ggml =
            Ggml::parse(&bytes).map_err(|e| model_error(format!("{}: {e}", path.display())))?;
        let (n_head, state) = (ggml.hparams.n_audio_head, ggml.hparams.n_audio_state);
        if blocks > ggml.hparams.n_audio_layer as usize {
            return Err(model_error(format!(
                "the model has {} encoder blocks, {blocks} asked for",
                ggml.hparams.n_audio_layer
            )));
        }
        if state % n_head != 0 {
            return Err(model_error(format!(
                "{} heads of a {} wide state: not a Whisper encoder",
                n_head, state
            )));
        }
        if ggml.filters.len() != ggml.n_mels * (N_FFT / 2 + 1) {
            return Err(model_error(format!(
                "the mel filters are not for a {N_FFT}-point FFT"
            )));
        }
        let filters = std::mem::take(&mut ggml.filters);
        let t = |name: &str| ggml.tensor(name).map_err(model_error);
        let pair = |name: &str| {
            Ok::<_, TranscribeError>((t(&format!("{name}.weight"))?, t(&format!("{name}.bias"))?))
        };
        let conv = |name: &str| -> Result<(Tensor, Tensor), TranscribeError> {
            // (out, in, 3) → (out, in·3), the im2col rows' order.
            let w = t(&format!("{name}.weight"))?;
            let (o, i, k) = w.dims3().map_err(model_error)?;
            let b = t(&format!("{name}.bias"))?
                .reshape((o, 1))
                .map_err(model_error)?;
            Ok((w.reshape((o, i * k)).map_err(model_error)?, b))
        };
        let block = |i: usize| -> Result<Block, TranscribeError> {
            let p = |s: &str| format!("encoder.blocks.{i}.{s}");
            Ok(Block {
                attn_ln: pair(&p("attn_ln"))?,
                query: pair(&p("attn.query"))?,
                key: t(&p("attn.key.weight"))?,
                value: pair(&p("attn.value"))?,
                out: pair(&p("attn.out"))?,
                mlp_ln: pair(&p("mlp_ln"))?,
                mlp_in: pair(&p("mlp.0"))?,
                mlp_out: pair(&p("mlp.2"))?,
            })
        };
        Ok(Encoder {
            filters,
            n_mels: ggml.n_mels,
            n_head: n_head as usize,
            conv1: conv("encoder.conv1")?,
            conv2: conv("encoder.conv2")?,
            positions: t("encoder.positional_embedding")?,
            blocks: (0..blocks).map(block).collect::<Result<_, _>>()?,
        })
    }

    /// Unit-length states every [`STATE_HOP_S`] of 16 kHz mono `samples`,
    /// 30 s windows at a time as Whisper hears them (the last one cut to
    /// the audio's end).
    pub fn states(&self, samples: &[f32]) -> Result<Vec<Vec<f32>>, TranscribeError> {
        let frames = samples.len() / HOP;
        let mel = log_mel(samples, &self.filters, self.n_mels, frames + WINDOW);
        let mut out = Vec::with_capacity(frames.div_ceil(2));
        for start in (0..frames).step_by(WINDOW) {
            // Only as long as the audio, not padded to 30 s as Whisper
            // pads it: up to several times faster on short clips, and the
            // alignment measured the same (README, "Benchmarks").
            let keep = WINDOW.min(frames - start).div_ceil(2);
            let window = window_of(&mel, self.n_mels, frames + WINDOW, start, 2 * keep)?;
            let states = self.encode(window).map_err(model_error)?;
            let rows: Vec<Vec<f32>> = states.to_vec2().map_err(model_error)?;
            out.extend(rows.into_iter().take(keep).map(unit));
        }
        Ok(out)
    }

    fn encode(&self, mel: Tensor) -> candle_core::Result<Tensor> {
        let x = conv3(&mel, &self.conv1, 1)?.gelu_erf()?;
        let x = conv3(&x, &self.conv2, 2)?.gelu_erf()?.t()?;
        let mut x = (x.clone() + self.positions.narrow(0, 0, x.dim(0)?)?)?;
        for b in &self.blocks {
            x = (x.clone() + self.attention(b, &layer_norm(&x, &b.attn_ln)?)?)?;
            let h =
                linear(&layer_norm(&x, &b.mlp_ln)?, &b.mlp_in.0, Some(&b.mlp_in.1))?.gelu_erf()?;
            x = (x + linear(&h, &b.mlp_out.0, Some(&b.mlp_out.1))?)?;
        }
        Ok(x)
    }

    fn attention(&self, b: &Block, h: &Tensor) -> candle_core::Result<Tensor> {
        let (n, d) = h.dims2()?;
        let scale = ((d / self.n_head) as f64).powf(-0.25);
        let heads = |x: Tensor| {
            x.reshape((n, self.n_head, d / self.n_head))?
                .transpose(0, 1)?
                .contiguous()
        };
        let q = heads((linear(h, &b.query.0, Some(&b.query.1))? * scale)?)?;
        let k = heads((linear(h, &b.key, None)? * scale)?)?;
        let v = heads(linear(h, &b.value.0, Some(&b.value.1))?)?;
        let w = q.matmul(&k.t()?)?;
        let w = w.broadcast_sub(&w.max_keepdim(D::Minus1)?)?.exp()?;
        let w = w.broadcast_div(&w.sum_keepdim(D::Minus1)?)?;
        let a = w.matmul(&v)?.transpose(0, 1)?.reshape((n, d))?;
        linear(&a, &b.out.0, Some(&b.out.1))
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> candle_core::Result<Tensor> {
    let y = x.matmul(&w.t()?)?;
    match b {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

fn layer_norm(x: &Tensor, (w, b): &(Tensor, Tensor)) -> candle_core::Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred
        .broadcast_div(&(var + 1e-5)?.sqrt()?)?
        .broadcast_mul(w)?
        .broadcast_add(b)
}

/// A kernel-3, padding-1 convolution over time as one matrix product:
/// x (in, T), weight (out, in·3) → (out, ceil(T / stride)).
fn conv3(x: &Tensor, (w, b): &(Tensor, Tensor), stride: usize) -> candle_core::Result<Tensor> {
    let (cin, t) = x.dims2()?;
    let t_out = (t - 1) / stride + 1;
    let x: Vec<Vec<f32>> = x.to_vec2()?;
    let mut cols = vec![0f32; cin * 3 * t_out];
    for (c, row) in x.iter().enumerate() {
        for k in 0..3 {
            let dst = &mut cols[(c * 3 + k) * t_out..(c * 3 + k + 1) * t_out];
            for (j, v) in dst.iter_mut().enumerate() {
                let src = (j * stride + k) as isize - 1;
                if src >= 0 && (src as usize) < t {
                    *v = row[src as usize];
                }
            }
        }
    }
    let cols = Tensor::from_vec(cols, (cin * 3, t_out), &Device::Cpu)?;
    w.matmul(&cols)?.broadcast_add(b)
}

/// Whisper's log mel, `n_mels` × `total` frames (band-major): the power
/// spectrum of 25 ms Hann windows every 10 ms (reflected at the start),
/// log10, floored 8 below the peak, scaled to (x + 4) / 4. Frames past the
/// signal are silence, as Whisper pads it.
fn log_mel(samples: &[f32], filters: &[f32], n_mels: usize, total: usize) -> Vec<f32> {
    let bins = N_FFT / 2 + 1;
    let window: Vec<f32> = (0..N_FFT)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / N_FFT as f32).cos())
        .collect();
    let (cos, sin): (Vec<f32>, Vec<f32>) = (0..bins * N_FFT)
        .map(|i| {
            let phase = 2.0 * std::f64::consts::PI * ((i / N_FFT) * (i % N_FFT) % N_FFT) as f64
                / N_FFT as f64;
            (phase.cos() as f32, phase.sin() as f32)
        })
        .unzip();
    let at = |i: isize| -> f32 {
        // Reflect before the start; zeros after the end (Whisper's padding).
        let i = if i < 0 { -i } else { i } as usize;
        samples.get(i).copied().unwrap_or(0.0)
    };
    let mut mel = vec![-10f32; n_mels * total];
    let mut frame = vec![0f32; N_FFT];
    let mut power = vec![0f32; bins];
    let audible = (samples.len() + N_FFT) / HOP + 1;
    for f in 0..audible.min(total) {
        for (i, v) in frame.iter_mut().enumerate() {
            *v = at((f * HOP + i) as isize - (N_FFT / 2) as isize) * window[i];
        }
        for (k, p) in power.iter_mut().enumerate() {
            let (c, s) = (
                &cos[k * N_FFT..(k + 1) * N_FFT],
                &sin[k * N_FFT..(k + 1) * N_FFT],
            );
            let (re, im) = frame
                .iter()
                .zip(c.iter().zip(s))
                .fold((0f32, 0f32), |(re, im), (x, (c, s))| {
                    (re + x * c, im + x * s)
                });
            *p = re * re + im * im;
        }
        for m in 0..n_mels {
            let band = &filters[m * bins..(m + 1) * bins];
            let e: f32 = band.iter().zip(&power).map(|(w, p)| w * p).sum();
            mel[m * total + f] = e.max(1e-10).log10();
        }
    }
    let floor = mel.iter().copied().fold(f32::MIN, f32::max) - 8.0;
    mel.iter_mut().for_each(|v| *v = (v.max(floor) + 4.0) / 4.0);
    mel
}

/// Mel frames `start..start + len` as an (n_mels, len) tensor.
fn window_of(
    mel: &[f32],
    n_mels: usize,
    total: usize,
    start: usize,
    len: usize,
) -> Result<Tensor, TranscribeError> {
    let mut w = Vec::with_capacity(n_mels * len);
    for m in 0..n_mels {
        w.extend_from_slice(&mel[m * total + start..m * total + start + len]);
    }
    Tensor::from_vec(w, (n_mels, len), &Device::Cpu).map_err(model_error)
}

/// The parts of a whisper.cpp GGML file the encoder needs (layout in
/// `vantage_weights::whisper`).
struct Ggml {
    hparams: HParams,
    n_mels: usize,
    filters: Vec<f32>,
    tensors: HashMap<String, Tensor>,
}

impl Ggml {
    fn parse(bytes: &[u8]) -> Result<Self, String> {
        let hparams = read_hparams(bytes).map_err(|e| e.to_string())?;
        // Past the magic and the 11 hyper-parameters.
        let mut r = Reader { bytes, pos: 48 };
        let (n_mels, bins) = (r.len()?, r.len()?);
        let filters = (0..n_mels * bins)
            .map(|_| r.f32())
            .collect::<Result<_, _>>()?;
        for _ in 0..r.len()? {
            let n = r.len()?;
            r.take(n)?;
        }
        let mut tensors = HashMap::new();
        while r.pos < bytes.len() {
            let (n_dims, name_len, ftype) = (r.len()?, r.len()?, r.i32()?);
            let mut dims = (0..n_dims)
                .map(|_| r.len())
                .collect::<Result<Vec<_>, _>>()?;
            dims.reverse(); // ggml lists the innermost first
            let name = String::from_utf8_lossy(r.take(name_len)?).into_owned();
            let count = dims
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .filter(|n| n.checked_mul(4).is_some())
                .ok_or_else(|| format!("{name}: dimensions {dims:?} too large"))?;
            let size = match ftype {
                0 => 4,
                1 => 2,
                other => {
                    return Err(format!(
                        "{name}: tensor type {other} (only f32 and f16 models are read)"
                    ))
                }
            };
            let raw = r.take(count * size)?;
            // Only the encoder's tensors are decoded; the decoder's are skipped.
            if !name.starts_with("encoder.") {
                continue;
            }
            let data: Vec<f32> = match size {
                4 => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                _ => raw
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
            };
            let t = Tensor::from_vec(data, dims, &Device::Cpu).map_err(|e| e.to_string())?;
            tensors.insert(name, t);
        }
        Ok(Ggml {
            hparams,
            n_mels,
            filters,
            tensors,
        })
    }

    fn tensor(&self, name: &str) -> Result<Tensor, String> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| format!("no tensor {name}"))?;
        // Column biases ([S, 1]) and vectors alike as one row.
        if t.rank() == 2 && t.dim(1).map_err(|e| e.to_string())? == 1 {
            return t.flatten_all().map_err(|e| e.to_string());
        }
        Ok(t.clone())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let b = self
            .bytes
            .get(self.pos..self.pos + n)
            .ok_or("the file ends inside its header or a tensor")?;
        self.pos += n;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(self.u32()? as i32)
    }
    fn f32(&mut self) -> Result<f32, String> {
        Ok(f32::from_bits(self.u32()?))
    }
    fn len(&mut self) -> Result<usize, String> {
        usize::try_from(self.i32()?).map_err(|_| "a negative size".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_ggml_is_named() {
        let err = Ggml::parse(b"RIFF....").err().unwrap_or_default();
        assert!(err.contains("bad magic"), "{err}");
    }

    #[test]
    fn a_truncated_header_is_named() {
        // A valid header (magic, 11 sizes), then the file ends in the filters.
        let mut bytes = 0x6767_6d6cu32.to_le_bytes().to_vec();
        for v in [51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1, 80, 201] {
            bytes.extend_from_slice(&i32::to_le_bytes(v));
        }
        bytes.extend_from_slice(&[0; 10]);
        let err = Ggml::parse(&bytes).err().unwrap_or_default();
        assert!(err.contains("ends inside its header"), "{err}");
    }

    #[test]
    fn silence_is_the_floor_and_a_tone_lights_its_band() {
        let filters = vantage_weights::mel::filterbank(80);
        let tone: Vec<f32> = (0..16000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16000.0).sin())
            .collect();
        let total = 200;
        let mel = log_mel(&tone, &filters, 80, total);
        let band = |m: usize, f: usize| mel[m * total + f];
        // Frame 50 (0.5 s): the band holding 1 kHz is the loudest.
        let loudest = (0..80).max_by(|&a, &b| band(a, 50).total_cmp(&band(b, 50)));
        let centre =
            (0..80).max_by(|&a, &b| filters[a * 201 + 25].total_cmp(&filters[b * 201 + 25]));
        assert_eq!(loudest, centre);
        // Past the signal (1 s + half a window): the floor, 8 below the peak.
        let peak = mel.iter().copied().fold(f32::MIN, f32::max);
        assert!(
            (band(10, 150) - (peak - 2.0)).abs() < 1e-6,
            "{} vs {peak}",
            band(10, 150)
        );
    }
}
