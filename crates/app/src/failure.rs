//! What went wrong, whose fault it is, and what the user can do about it.
//!
//! Stages say what is wrong in their own terms and attach structured detail;
//! this turns a run's error into a [`Failure`] with [`Remedy`]s that each
//! front end phrases itself: the CLI as a flag to pass or a command to run,
//! the server as JSON fields.

use crate::AppError;
use serde::Serialize;
use vantage_core::{ErrorKind, StageError};
use vantage_runner::RunError;

/// Something the user can change so that the run succeeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "remedy", rename_all = "snake_case")]
pub enum Remedy {
    /// Set `stage.param` to one of `choices`.
    SetParam {
        stage: String,
        param: String,
        choices: Vec<String>,
    },
    /// Install the named weights.
    FetchWeights { name: String },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    pub kind: ErrorKind,
    /// What is wrong (without advice: that is in `remedies`).
    pub message: String,
    pub remedies: Vec<Remedy>,
}

impl Failure {
    /// Whether the request (inputs, parameters, installed weights) is at
    /// fault rather than Vantage or the machine.
    pub fn is_users(&self) -> bool {
        self.kind.is_users()
    }
}

impl From<&AppError> for Failure {
    fn from(e: &AppError) -> Self {
        let (kind, remedies) = match e {
            AppError::Pipeline(_) | AppError::Request(_) => (ErrorKind::InvalidInput, Vec::new()),
            AppError::Run(run) => (run.kind(), remedies(run)),
            AppError::Cache(_) | AppError::Internal(_) => (ErrorKind::Internal, Vec::new()),
        };
        Failure {
            kind,
            message: e.to_string(),
            remedies,
        }
    }
}

fn remedies(e: &RunError) -> Vec<Remedy> {
    let mut out = Vec::new();
    for (stage, error) in e.stage_errors() {
        let remedy = match error {
            StageError::MissingWeights {
                fetch: Some(name), ..
            } => Remedy::FetchWeights { name: name.clone() },
            StageError::DifferentContent { param, choices, .. } => Remedy::SetParam {
                stage: stage.to_string(),
                param: param.to_string(),
                choices: choices.iter().map(|c| c.to_string()).collect(),
            },
            _ => continue,
        };
        if !out.contains(&remedy) {
            out.push(remedy);
        }
    }
    out
}
