//! Reader for CTranslate2's `model.bin` (binary version 6).
//!
//! Layout: u32 version, spec name, u32 spec revision, u32 variable count, then
//! per variable: name, u8 rank, rank × u32 dims, u8 dtype, u32 byte count,
//! data; then u32 alias count and (alias, target) name pairs. Strings are a
//! u16 length that counts a trailing NUL. Everything is little-endian and
//! unpadded.

use crate::WeightsError;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl DType {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::BF16,
            _ => return None,
        })
    }
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

#[derive(Debug)]
pub struct Variable<'a> {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub data: &'a [u8],
}

impl Variable<'_> {
    /// Values as f32 (float types only).
    pub fn to_f32(&self) -> Result<Vec<f32>, String> {
        let d = self.data;
        Ok(match self.dtype {
            DType::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F16 => d
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::BF16 => d
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(format!(
                    "{other:?} is not a float type (quantized models are not supported)"
                ))
            }
        })
    }

    /// An integer scalar (CTranslate2 stores head counts and flags this way).
    pub fn scalar_int(&self) -> Option<i64> {
        let d = self.data;
        match (self.dtype, d.len()) {
            (DType::I8, 1) => Some(d[0] as i8 as i64),
            (DType::I16, 2) => Some(i16::from_le_bytes([d[0], d[1]]) as i64),
            (DType::I32, 4) => Some(i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64),
            _ => None,
        }
    }
}

/// A parsed model: variables by name (aliases resolved), borrowing the file's bytes.
#[derive(Debug)]
pub struct Model<'a> {
    pub spec: String,
    pub variables: BTreeMap<String, Variable<'a>>,
    pub aliases: BTreeMap<String, String>,
}

impl<'a> Model<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WeightsError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u32()?;
        if version != 6 {
            return Err(r.bad(format!(
                "binary version {version}; only version 6 (CTranslate2 3.x/4.x) is supported"
            )));
        }
        let spec = r.string()?;
        let _revision = r.u32()?;
        let count = r.u32()? as usize;
        let mut variables = BTreeMap::new();
        for _ in 0..count {
            let name = r.string()?;
            let rank = r.u8()? as usize;
            let shape = (0..rank)
                .map(|_| r.u32().map(|d| d as usize))
                .collect::<Result<Vec<_>, _>>()?;
            let code = r.u8()?;
            let dtype = DType::from_code(code)
                .ok_or_else(|| r.bad(format!("unknown dtype code {code} for {name}")))?;
            let len = r.u32()? as usize;
            // Checked: a damaged header can name a shape no memory holds.
            let bytes_for_shape = shape
                .iter()
                .try_fold(dtype.size(), |n, &d| n.checked_mul(d));
            if bytes_for_shape != Some(len) {
                return Err(r.bad(format!(
                    "{name}: {len} bytes for shape {shape:?} of {dtype:?}"
                )));
            }
            let data = r.take(len)?;
            variables.insert(name, Variable { shape, dtype, data });
        }
        let mut aliases = BTreeMap::new();
        if r.pos < bytes.len() {
            let n = r.u32()?;
            for _ in 0..n {
                let alias = r.string()?;
                let target = r.string()?;
                aliases.insert(alias, target);
            }
        }
        if r.pos != bytes.len() {
            return Err(r.bad(format!("{} unexpected trailing bytes", bytes.len() - r.pos)));
        }
        Ok(Self {
            spec,
            variables,
            aliases,
        })
    }

    pub fn get(&self, name: &str) -> Result<&Variable<'a>, WeightsError> {
        let name = self.aliases.get(name).map_or(name, String::as_str);
        self.variables.get(name).ok_or_else(|| {
            WeightsError::Format(format!("CTranslate2 model has no variable '{name}'"))
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bad(&self, what: String) -> WeightsError {
        WeightsError::Format(format!(
            "not a valid CTranslate2 model.bin at byte {}: {what}",
            self.pos
        ))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], WeightsError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.bad(format!("file ends early (wanted {n} more bytes)"))),
        }
    }
    fn u8(&mut self) -> Result<u8, WeightsError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WeightsError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, WeightsError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Result<String, WeightsError> {
        let len = self.u16()? as usize;
        let b = self.take(len)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        String::from_utf8(b.to_vec()).map_err(|_| self.bad("a name is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::Model;

    /// A model.bin with one variable of `shape` (f32) holding `len` bytes.
    fn model_bin(shape: &[u32], len: u32) -> Vec<u8> {
        let mut b = 6u32.to_le_bytes().to_vec();
        let text = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(&(s.len() as u16 + 1).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
            b.push(0);
        };
        text(&mut b, "WhisperSpec");
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        text(&mut b, "w");
        b.push(shape.len() as u8);
        for d in shape {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b.push(0);
        b.extend_from_slice(&len.to_le_bytes());
        b.extend(std::iter::repeat_n(0u8, len as usize));
        b
    }

    #[test]
    fn a_consistent_variable_parses() {
        let bin = model_bin(&[2, 3], 24);
        let model = Model::parse(&bin).expect("parses");
        assert_eq!(
            model.get("w").map(|v| v.shape.clone()).ok(),
            Some(vec![2, 3])
        );
    }

    #[test]
    fn shapes_that_overflow_or_disagree_are_errors_not_panics() {
        let huge = model_bin(&[u32::MAX, u32::MAX, u32::MAX], 4);
        assert!(Model::parse(&huge).is_err());
        assert!(Model::parse(&model_bin(&[2, 3], 20)).is_err());
        let mut cut = model_bin(&[2, 3], 24);
        cut.truncate(cut.len() - 5);
        assert!(Model::parse(&cut).is_err());
        assert!(Model::parse(&[]).is_err());
    }
}
