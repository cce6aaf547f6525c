//! Errors as the command line shows them: the message, the remedy phrased as
//! the flag or command to use, and the exit code.
//!
//! Exit codes: 0 success, 1 an error in the command or in Vantage, 2 the
//! inputs (or weights) cannot work as given, 130 interrupted.

use std::process::ExitCode;
use vantage_app::{AppError, Failure, Remedy};
use vantage_core::ErrorKind;
use vantage_weights::WeightsError;

/// Which command failed: `sync` has flags for some parameters.
#[derive(Clone, Copy, PartialEq)]
pub enum Command {
    Run,
    Sync,
}

/// The exit code of an error a command returned itself (not through a
/// run): 2 when it is about the inputs (a file that cannot work, weights
/// not installed), 1 otherwise.
pub fn exit_code(e: &anyhow::Error) -> ExitCode {
    let about_inputs = e.chain().any(|cause| {
        cause
            .downcast_ref::<vantage_media::MediaError>()
            .is_some_and(vantage_media::MediaError::is_input)
            || cause.downcast_ref::<MissingWeights>().is_some()
            || cause.downcast_ref::<Unusable>().is_some()
            || matches!(
                cause.downcast_ref::<WeightsError>(),
                Some(WeightsError::NotInstalled { .. })
            )
    });
    ExitCode::from(if about_inputs { 2 } else { 1 })
}

/// Print `e` with its remedies and return the exit code.
pub fn report(e: &AppError, command: Command) -> ExitCode {
    let failure = Failure::from(e);
    if failure.kind == ErrorKind::Cancelled {
        eprintln!("cancelled; finished stages are cached and the next run resumes from them");
        return ExitCode::from(130);
    }
    eprintln!("error: {}", failure.message);
    for remedy in &failure.remedies {
        eprintln!("{}", phrase(remedy, command));
    }
    match e {
        AppError::Run(_) if failure.is_users() => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

fn phrase(remedy: &Remedy, command: Command) -> String {
    match remedy {
        Remedy::SetParam {
            stage,
            param,
            choices,
        } => {
            let flag = |choice: &String| match (command, stage.as_str(), param.as_str()) {
                (Command::Sync, "analyze", "on_mismatch") => format!("--on-mismatch {choice}"),
                _ => format!("--set {stage}.{param}={choice}"),
            };
            let options: Vec<String> = choices.iter().map(flag).collect();
            format!("  if this is intended, rerun with {}", options.join(" or "))
        }
        Remedy::FetchWeights { name } => {
            format!("  install them with `vantage weights fetch {name}`")
        }
    }
}

/// A weights error from a command that resolves weights itself, with the
/// command that installs what is missing.
pub fn weights(e: WeightsError) -> anyhow::Error {
    match &e {
        WeightsError::NotInstalled { fetch, .. } => {
            let remedy = Remedy::FetchWeights {
                name: fetch.clone(),
            };
            anyhow::Error::new(MissingWeights(format!(
                "{e}\n{}",
                phrase(&remedy, Command::Run)
            )))
        }
        _ => e.into(),
    }
}

/// Weights not installed, with the command that installs them (exit 2).
#[derive(Debug)]
struct MissingWeights(String);

impl std::fmt::Display for MissingWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MissingWeights {}

/// A device this build or machine cannot run on, as the command named it
/// (exit 2, like the same refusal inside a run).
#[derive(Debug)]
pub struct Unusable(pub String);

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unusable {}

/// [`Unusable`] as the command's error.
pub fn unusable(message: String) -> anyhow::Error {
    anyhow::Error::new(Unusable(message))
}
