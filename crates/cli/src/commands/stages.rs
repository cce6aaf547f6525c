//! `vantage stages`: what a pipeline can use.

use anyhow::Result;
use std::process::ExitCode;
use vantage_core::Params;
use vantage_weights::Store;

pub fn stages() -> Result<ExitCode> {
    let registry = vantage_app::registry::registry(&Store::open_default());
    for stage in registry.stages() {
        println!(
            "{} (v{}): {}",
            stage.kind(),
            stage.version(),
            stage.describe()
        );
        let defaults: Params = stage
            .params()
            .iter()
            .filter_map(|p| Some((p.name.to_string(), p.default.clone()?)))
            .collect();
        let ports = stage.ports(&defaults);
        for p in &ports.inputs {
            println!(
                "    in   {}: {}{}",
                p.name,
                p.ty,
                if p.required { "" } else { " (optional)" }
            );
        }
        if stage.open_inputs() {
            println!("    in   any name: file");
        }
        for p in &ports.outputs {
            println!("    out  {}: {}", p.name, p.ty);
        }
        for p in stage.params() {
            let default = p
                .default
                .as_ref()
                .map_or("required".to_string(), |d| format!("default {d}"));
            println!(
                "    param {} ({}; {default}): {}",
                p.name,
                p.kind.describe(),
                p.help
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
