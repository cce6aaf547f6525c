//! `exec`: run an external command as a stage, cached like any other.
//!
//! ```yaml
//! louder:
//!   uses: exec
//!   inputs: { audio: target-audio.audio }
//!   params:
//!     command: [sox, "{in.audio}", "{out.audio}", gain, "3"]
//!     outputs: { audio: wav }
//! ```
//!
//! `{in.NAME}` and `{out.NAME}` in the command are replaced by file paths;
//! `{threads}` by the CPU slots granted. The command's own version is not part
//! of the cache key: add a `version` param when the tool changes behaviour.

use serde_json::{json, Value};
use std::process::{Command, Stdio};
use vantage_core::process::{self, Stopped};
use vantage_core::{
    ParamKind, ParamSpec, Params, Port, PortType, Ports, Stage, StageContext, StageError,
};

pub struct Exec;

impl Stage for Exec {
    fn kind(&self) -> &'static str {
        "exec"
    }
    fn version(&self) -> u32 {
        1
    }
    fn describe(&self) -> &'static str {
        "run an external command with declared inputs and outputs"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::required(
                "command",
                ParamKind::TextList,
                "program and arguments, with {in.NAME}, {out.NAME}, {threads}",
            ),
            ParamSpec::required(
                "outputs",
                ParamKind::PortMap,
                "declared outputs: name: type",
            ),
            ParamSpec::new(
                "version",
                ParamKind::Text,
                json!(""),
                "free text; change it to invalidate cached results",
            ),
        ]
    }
    fn ports(&self, params: &Params) -> Ports {
        let outputs = params
            .get("outputs")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(name, ty)| {
                        Some(Port::required(name, PortType::parse(ty.as_str()?)?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ports {
            inputs: Vec::new(),
            outputs,
        }
    }
    fn open_inputs(&self) -> bool {
        true
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let words: Vec<String> = ctx
            .param("command")?
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|w| w.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut argv = Vec::with_capacity(words.len());
        for w in &words {
            argv.push(substitute(w, ctx)?);
        }
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| StageError::InvalidInput("exec: empty command".into()))?;
        let mut command = Command::new(program);
        // Outputs are files the command writes; what it prints is not kept.
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut child = process::spawn(&mut command).map_err(|e| {
            StageError::InvalidInput(format!("exec: cannot start '{program}': {e}"))
        })?;
        let status = match child.wait(&ctx.cancel, None) {
            Ok(status) => status,
            Err(Stopped::Cancelled) => return Err(StageError::Cancelled),
            Err(e) => {
                return Err(StageError::Tool(format!(
                    "exec: waiting for '{program}': {e:?}"
                )))
            }
        };
        if !status.success() {
            return Err(StageError::Tool(format!(
                "'{program}' exited with {status}: {}",
                child.stderr_tail()
            )));
        }
        Ok(())
    }
}

/// Replace `{in.X}`, `{out.X}` and `{threads}` in one argument.
fn substitute(word: &str, ctx: &StageContext) -> Result<String, StageError> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let token = &rest[open + 1..open + close];
        let value = if token == "threads" {
            Some(ctx.threads.to_string())
        } else if let Some(name) = token.strip_prefix("in.") {
            Some(
                ctx.input(name)
                    .map_err(|_| {
                        StageError::InvalidInput(format!(
                            "exec: {{{token}}} names no connected input"
                        ))
                    })?
                    .display()
                    .to_string(),
            )
        } else if let Some(name) = token.strip_prefix("out.") {
            Some(
                ctx.output(name)
                    .map_err(|_| {
                        StageError::InvalidInput(format!(
                            "exec: {{{token}}} names no declared output"
                        ))
                    })?
                    .display()
                    .to_string(),
            )
        } else {
            None
        };
        out.push_str(&rest[..open]);
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
