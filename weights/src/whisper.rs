//! CTranslate2 Whisper → whisper.cpp GGML model file.
//!
//! GGML layout (whisper.cpp's `whisper_model_load` is the authority): magic
//! `ggml`, 11 i32 hyper-parameters, the mel filterbank, the regular BPE
//! vocabulary as raw bytes, then tensors until EOF, each as n_dims, name
//! length, type, dims (innermost first), name, data. Names and dtypes must be
//! exactly what the loader expects: an unknown or missing tensor is fatal.

use crate::ct2::{self, Variable};
use crate::{mel, vocab, WeightsError};
use std::io::Write;

const MAGIC: u32 = 0x6767_6d6c;
/// ftype 1: matrices in f16, vectors in f32. whisper.cpp's all-f32 variant
/// (ftype 0) aborts in the encoder's convolution, which needs f16 weights.
const FTYPE_F16: i32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HParams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: i32,
}

impl HParams {
    fn to_array(self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    /// English-only models have one token fewer (no language tokens' shift).
    pub fn is_multilingual(&self) -> bool {
        self.n_vocab >= 51865
    }

    /// Tensors whisper.cpp loads for these hyper-parameters.
    pub fn tensor_count(&self) -> usize {
        (7 + 15 * self.n_audio_layer + 4 + 24 * self.n_text_layer) as usize
    }
}

/// Read the hyper-parameters at the head of a GGML Whisper file.
pub fn read_hparams(head: &[u8]) -> Result<HParams, WeightsError> {
    let word = |i: usize| -> Option<i32> {
        head.get(i * 4..i * 4 + 4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if word(0).map(|m| m as u32) != Some(MAGIC) {
        return Err(WeightsError::Format(
            "not a whisper.cpp GGML model (bad magic); convert CTranslate2 models with `vantage weights import`".into(),
        ));
    }
    let v: Vec<i32> = (1..12)
        .map(word)
        .collect::<Option<_>>()
        .ok_or_else(|| WeightsError::Format("GGML model header is truncated".into()))?;
    // Every size is positive and far below what any Whisper has (the
    // largest vocabulary is 51,866): a damaged header is named, not used.
    if let Some(bad) = v[..10].iter().find(|&&x| !(1..=1 << 20).contains(&x)) {
        return Err(WeightsError::Format(format!(
            "GGML model header holds an impossible size {bad}; the file is damaged: fetch it again"
        )));
    }
    Ok(HParams {
        n_vocab: v[0],
        n_audio_ctx: v[1],
        n_audio_state: v[2],
        n_audio_head: v[3],
        n_audio_layer: v[4],
        n_text_ctx: v[5],
        n_text_state: v[6],
        n_text_head: v[7],
        n_text_layer: v[8],
        n_mels: v[9],
        ftype: v[10],
    })
}

/// What a conversion wrote.
#[derive(Debug, serde::Serialize)]
pub struct Converted {
    pub hparams: HParams,
    pub tensors: usize,
    pub vocab: usize,
    pub bytes: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Store {
    F32,
    F16,
}

/// One output tensor: numpy-order shape, values.
struct Tensor {
    name: String,
    shape: Vec<usize>,
    store: Store,
    values: Vec<f32>,
}

/// Convert a CTranslate2 Whisper model (its `model.bin` bytes and
/// `vocabulary.txt`) and write the GGML file to `out`.
pub fn convert(
    model_bin: &[u8],
    vocabulary: &str,
    out: &mut impl Write,
) -> Result<Converted, WeightsError> {
    let model = ct2::Model::parse(model_bin)?;
    if model.spec != "WhisperSpec" {
        return Err(WeightsError::Format(format!(
            "this CTranslate2 model is a {}, not a Whisper model",
            model.spec
        )));
    }
    let hp = hparams(&model)?;
    let tokens = vocab::regular_tokens(vocabulary).map_err(WeightsError::Format)?;
    let expected = if hp.is_multilingual() { 50257 } else { 50256 };
    if tokens.len() != expected {
        return Err(WeightsError::Format(format!(
            "vocabulary.txt has {} regular tokens; a {} Whisper model has {expected}",
            tokens.len(),
            if hp.is_multilingual() {
                "multilingual"
            } else {
                "English-only"
            }
        )));
    }

    let mut w = CountingWriter {
        inner: out,
        bytes: 0,
    };
    w.put(&MAGIC.to_le_bytes())?;
    for v in hp.to_array() {
        w.put(&v.to_le_bytes())?;
    }
    let filters = mel::filterbank(hp.n_mels as usize);
    w.put(&hp.n_mels.to_le_bytes())?;
    w.put(&(mel::N_BINS as i32).to_le_bytes())?;
    for f in &filters {
        w.put(&f.to_le_bytes())?;
    }
    w.put(&(tokens.len() as i32).to_le_bytes())?;
    for t in &tokens {
        w.put(&(t.len() as u32).to_le_bytes())?;
        w.put(t)?;
    }
    let tensors = tensors(&model, &hp)?;
    if tensors.len() != hp.tensor_count() {
        return Err(WeightsError::Format(format!(
            "mapped {} tensors; whisper.cpp expects {} for this model",
            tensors.len(),
            hp.tensor_count()
        )));
    }
    for t in &tensors {
        write_tensor(&mut w, t)?;
    }
    Ok(Converted {
        hparams: hp,
        tensors: tensors.len(),
        vocab: tokens.len(),
        bytes: w.bytes,
    })
}

fn hparams(model: &ct2::Model) -> Result<HParams, WeightsError> {
    let dim = |name: &str, i: usize| -> Result<i32, WeightsError> {
        let v = model.get(name)?;
        v.shape
            .get(i)
            .map(|&d| d as i32)
            .ok_or_else(|| WeightsError::Format(format!("{name} has shape {:?}", v.shape)))
    };
    let int = |name: &str| -> Result<i32, WeightsError> {
        model
            .get(name)?
            .scalar_int()
            .map(|v| v as i32)
            .ok_or_else(|| WeightsError::Format(format!("{name} is not an integer scalar")))
    };
    let layers = |prefix: &str| {
        (0..)
            .take_while(|i| {
                model
                    .variables
                    .keys()
                    .any(|k| k.starts_with(&format!("{prefix}/layer_{i}/")))
            })
            .count() as i32
    };
    Ok(HParams {
        n_vocab: dim("decoder/embeddings/weight", 0)?,
        n_audio_ctx: dim("encoder/position_encodings/encodings", 0)?,
        n_audio_state: dim("encoder/position_encodings/encodings", 1)?,
        n_audio_head: int("encoder/num_heads")?,
        n_audio_layer: layers("encoder"),
        n_text_ctx: dim("decoder/position_encodings/encodings", 0)?,
        n_text_state: dim("decoder/embeddings/weight", 1)?,
        n_text_head: int("decoder/num_heads")?,
        n_text_layer: layers("decoder"),
        n_mels: dim("encoder/conv1/weight", 1)?,
        ftype: FTYPE_F16,
    })
}

/// Every tensor under whisper.cpp's name, in a fixed order.
fn tensors(model: &ct2::Model, hp: &HParams) -> Result<Vec<Tensor>, WeightsError> {
    let mut out = Vec::new();
    let mut put = |name: String,
                   v: &Variable,
                   shape: Vec<usize>,
                   rows: std::ops::Range<usize>|
     -> Result<(), WeightsError> {
        let values = v
            .to_f32()
            .map_err(|e| WeightsError::Format(format!("{name}: {e}")))?;
        let row_len = values.len() / v.shape.first().copied().unwrap_or(1).max(1);
        let values = values
            .get(rows.start * row_len..rows.end * row_len)
            .ok_or_else(|| {
                WeightsError::Format(format!(
                    "{name}: rows {rows:?} of a variable of shape {:?}",
                    v.shape
                ))
            })?
            .to_vec();
        // Vectors and positional embeddings are f32 in an f16 file; the
        // loader checks each tensor's byte size against the type it expects.
        let store = if shape.len() >= 2
            && !name.ends_with("positional_embedding")
            && !name.ends_with(".bias")
        {
            Store::F16
        } else {
            Store::F32
        };
        out.push(Tensor {
            name,
            shape,
            store,
            values,
        });
        Ok(())
    };
    let whole = |v: &Variable| 0..v.shape.first().copied().unwrap_or(1);

    // Simple one-to-one tensors.
    let mut direct = |ct2_name: &str, ggml: &str| -> Result<(), WeightsError> {
        let v = model.get(ct2_name)?;
        put(ggml.to_string(), v, v.shape.clone(), whole(v))
    };
    direct(
        "encoder/position_encodings/encodings",
        "encoder.positional_embedding",
    )?;
    direct("encoder/conv1/weight", "encoder.conv1.weight")?;
    direct("encoder/conv2/weight", "encoder.conv2.weight")?;
    direct("encoder/layer_norm/gamma", "encoder.ln_post.weight")?;
    direct("encoder/layer_norm/beta", "encoder.ln_post.bias")?;
    direct(
        "decoder/position_encodings/encodings",
        "decoder.positional_embedding",
    )?;
    direct(
        "decoder/embeddings/weight",
        "decoder.token_embedding.weight",
    )?;
    direct("decoder/layer_norm/gamma", "decoder.ln.weight")?;
    direct("decoder/layer_norm/beta", "decoder.ln.bias")?;
    // The conv biases are stored as [S, 1] columns.
    for conv in ["conv1", "conv2"] {
        let v = model.get(&format!("encoder/{conv}/bias"))?;
        put(
            format!("encoder.{conv}.bias"),
            v,
            vec![v.shape.first().copied().unwrap_or(0), 1],
            whole(v),
        )?;
    }

    for (side, layers) in [("encoder", hp.n_audio_layer), ("decoder", hp.n_text_layer)] {
        let s = if side == "encoder" {
            hp.n_audio_state
        } else {
            hp.n_text_state
        } as usize;
        for i in 0..layers {
            let src = |rest: &str| format!("{side}/layer_{i}/{rest}");
            let dst = |rest: &str| format!("{side}.blocks.{i}.{rest}");
            let mut norm = |from: &str, to: &str| -> Result<(), WeightsError> {
                for (c, g) in [("gamma", "weight"), ("beta", "bias")] {
                    let v = model.get(&src(&format!("{from}/{c}")))?;
                    put(dst(&format!("{to}.{g}")), v, v.shape.clone(), whole(v))?;
                }
                Ok(())
            };
            norm("self_attention/layer_norm", "attn_ln")?;
            norm("ffn/layer_norm", "mlp_ln")?;
            if side == "decoder" {
                norm("attention/layer_norm", "cross_attn_ln")?;
            }
            let mut linear = |from: &str, to: &str| -> Result<(), WeightsError> {
                let (w, b) = (
                    model.get(&src(&format!("{from}/weight")))?,
                    model.get(&src(&format!("{from}/bias")))?,
                );
                put(dst(&format!("{to}.weight")), w, w.shape.clone(), whole(w))?;
                put(dst(&format!("{to}.bias")), b, b.shape.clone(), whole(b))
            };
            linear("self_attention/linear_1", "attn.out")?;
            linear("ffn/linear_0", "mlp.0")?;
            linear("ffn/linear_1", "mlp.2")?;
            if side == "decoder" {
                linear("attention/linear_0", "cross_attn.query")?;
                linear("attention/linear_2", "cross_attn.out")?;
            }
            // Fused projections are split by rows. Whisper has no key bias:
            // CTranslate2 stores zeros there and whisper.cpp has no such tensor.
            let (qkv_w, qkv_b) = (
                model.get(&src("self_attention/linear_0/weight"))?,
                model.get(&src("self_attention/linear_0/bias"))?,
            );
            for (k, part) in ["query", "key", "value"].iter().enumerate() {
                put(
                    dst(&format!("attn.{part}.weight")),
                    qkv_w,
                    vec![s, s],
                    k * s..(k + 1) * s,
                )?;
                if *part != "key" {
                    put(
                        dst(&format!("attn.{part}.bias")),
                        qkv_b,
                        vec![s],
                        k * s..(k + 1) * s,
                    )?;
                }
            }
            if side == "decoder" {
                let (kv_w, kv_b) = (
                    model.get(&src("attention/linear_1/weight"))?,
                    model.get(&src("attention/linear_1/bias"))?,
                );
                put(dst("cross_attn.key.weight"), kv_w, vec![s, s], 0..s)?;
                put(dst("cross_attn.value.weight"), kv_w, vec![s, s], s..2 * s)?;
                put(dst("cross_attn.value.bias"), kv_b, vec![s], s..2 * s)?;
            }
        }
    }
    for t in &out {
        let n: usize = t.shape.iter().product();
        if n != t.values.len() {
            return Err(WeightsError::Format(format!(
                "{}: {} values for shape {:?}",
                t.name,
                t.values.len(),
                t.shape
            )));
        }
    }
    Ok(out)
}

fn write_tensor(w: &mut CountingWriter<impl Write>, t: &Tensor) -> Result<(), WeightsError> {
    w.put(&(t.shape.len() as i32).to_le_bytes())?;
    w.put(&(t.name.len() as i32).to_le_bytes())?;
    w.put(&(if t.store == Store::F16 { 1i32 } else { 0 }).to_le_bytes())?;
    // ggml lists dimensions innermost first.
    for &d in t.shape.iter().rev() {
        w.put(&(d as i32).to_le_bytes())?;
    }
    w.put(t.name.as_bytes())?;
    let mut buf = Vec::with_capacity(t.values.len() * 4);
    for &v in &t.values {
        match t.store {
            Store::F32 => buf.extend_from_slice(&v.to_le_bytes()),
            Store::F16 => buf.extend_from_slice(&half::f16::from_f32(v).to_le_bytes()),
        }
    }
    w.put(&buf)
}

struct CountingWriter<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> CountingWriter<W> {
    fn put(&mut self, b: &[u8]) -> Result<(), WeightsError> {
        self.bytes += b.len() as u64;
        self.inner
            .write_all(b)
            .map_err(|e| WeightsError::Io(format!("writing the GGML model: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::{read_hparams, MAGIC};

    fn head(words: &[i32]) -> Vec<u8> {
        let mut h = MAGIC.to_le_bytes().to_vec();
        for w in words {
            h.extend_from_slice(&w.to_le_bytes());
        }
        h
    }

    #[test]
    fn a_damaged_header_is_an_error_not_a_size() {
        let tiny = [51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1];
        let hp = read_hparams(&head(&tiny)).expect("tiny.en's header");
        assert_eq!(hp.tensor_count(), 7 + 15 * 4 + 4 + 24 * 4);
        for (at, bad) in [(4, -3), (8, i32::MAX), (0, 0)] {
            let mut words = tiny;
            words[at] = bad;
            let err = read_hparams(&head(&words)).unwrap_err().to_string();
            assert!(err.contains("impossible size"), "{err}");
        }
        assert!(read_hparams(&head(&tiny[..5])).is_err(), "truncated");
        assert!(read_hparams(b"GGUF").is_err());
    }
}
