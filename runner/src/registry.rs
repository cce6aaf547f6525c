//! The stage types a pipeline may use.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use vantage_core::{PortType, Stage};

/// Checks a user's input file against its declared type before any work starts
/// (e.g. "has a video stream"); returns a message saying what is wrong.
pub type InputCheck = Arc<dyn Fn(PortType, &Path) -> Result<(), String> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Registry {
    stages: BTreeMap<&'static str, Arc<dyn Stage>>,
    input_check: Option<InputCheck>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, stage: impl Stage) -> &mut Self {
        self.stages.insert(stage.kind(), Arc::new(stage));
        self
    }

    pub fn with_input_check(&mut self, check: InputCheck) -> &mut Self {
        self.input_check = Some(check);
        self
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Stage>> {
        self.stages.get(kind)
    }

    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.stages.keys().copied()
    }

    pub fn stages(&self) -> impl Iterator<Item = &Arc<dyn Stage>> {
        self.stages.values()
    }

    pub fn check_input(&self, ty: PortType, path: &Path) -> Result<(), String> {
        match &self.input_check {
            Some(check) => check(ty, path),
            None => Ok(()),
        }
    }
}
