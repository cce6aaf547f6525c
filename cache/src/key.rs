//! The cache key of one stage run.

use crate::Digest;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// blake3 over everything that determines a stage's outputs: stage type,
/// stage version, canonical parameters, input digests and weight digests.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StageKey(Digest);

impl StageKey {
    pub fn new(
        kind: &str,
        version: u32,
        params: &BTreeMap<String, Value>,
        inputs: &BTreeMap<String, Digest>,
        weights: &[String],
    ) -> Self {
        let mut h = blake3::Hasher::new_derive_key("vantage stage key v1");
        // Length-prefix every field so no two different tuples hash the same bytes.
        let mut field = |bytes: &[u8]| {
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(kind.as_bytes());
        field(&version.to_le_bytes());
        // BTreeMap keys are sorted and serde_json writes numbers canonically.
        field(canonical_json(params).as_bytes());
        for (name, digest) in inputs {
            field(name.as_bytes());
            field(&digest.0);
        }
        let mut weights = weights.to_vec();
        weights.sort();
        for w in &weights {
            field(w.as_bytes());
        }
        Self(Digest(*h.finalize().as_bytes()))
    }

    /// The key of piece `label` of the run with this key (see `Pieces`).
    pub fn piece(&self, label: &str) -> StageKey {
        let mut h = blake3::Hasher::new_derive_key("vantage piece key v1");
        h.update(self.as_bytes());
        h.update(label.as_bytes());
        Self(Digest(*h.finalize().as_bytes()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0 .0
    }

    pub fn short(&self) -> String {
        self.0.short()
    }
}

/// JSON with object keys sorted at every depth.
fn canonical_json(params: &BTreeMap<String, Value>) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::to_value(sorted).unwrap_or(Value::Null)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    let sorted: BTreeMap<&String, Value> = params.iter().map(|(k, v)| (k, sort(v))).collect();
    serde_json::to_string(&sorted).unwrap_or_default()
}

impl fmt::Display for StageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for StageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StageKey({})", self.short())
    }
}
