//! Pipeline files: parsing and validation into a DAG.
//!
//! ```yaml
//! name: sync
//! inputs:
//!   video: video                    # name: type   (or { type: video, help: ... })
//!   audio: audio
//! stages:
//!   source-audio:
//!     uses: extract-audio           # a registered stage type
//!     inputs: { media: inputs.video }
//!   analyze:
//!     uses: analyze
//!     inputs: { source: source-audio.audio, ... }   # STAGE.OUTPUT or inputs.NAME
//!     params: { smoothing_ms: 50 }
//! outputs:
//!   video: mux.video
//! ```
//!
//! Everything is checked before anything runs, and every error names the file,
//! the line and the offending names.

use crate::locate::line_of;
use crate::registry::Registry;
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::Value;
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vantage_core::{ParamSpec, Params, Port, PortType, Ports, Stage};

/// Where a stage input comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Input(String),
    Stage { stage: String, output: String },
}

impl Source {
    fn parse(text: &str) -> Option<Self> {
        let (head, tail) = text.trim().split_once('.')?;
        if head.is_empty() || tail.is_empty() || tail.contains('.') {
            return None;
        }
        Some(if head == "inputs" {
            Source::Input(tail.to_string())
        } else {
            Source::Stage {
                stage: head.to_string(),
                output: tail.to_string(),
            }
        })
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Input(name) => write!(f, "inputs.{name}"),
            Source::Stage { stage, output } => write!(f, "{stage}.{output}"),
        }
    }
}

/// One validated stage of a pipeline.
#[derive(Clone)]
pub struct StageNode {
    pub name: String,
    pub stage: Arc<dyn Stage>,
    pub params: Params,
    pub ports: Ports,
    pub inputs: BTreeMap<String, Source>,
    pub line: Option<usize>,
}

impl StageNode {
    pub fn kind(&self) -> &'static str {
        self.stage.kind()
    }
    pub fn output_type(&self, name: &str) -> Option<PortType> {
        self.ports
            .outputs
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.ty)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PipelineInput {
    pub name: String,
    pub ty: PortType,
    pub help: String,
}

/// A validated pipeline: stages in a dependency order, and the DAG between them.
#[derive(Clone)]
pub struct Pipeline {
    pub name: String,
    pub description: String,
    pub path: PathBuf,
    pub inputs: Vec<PipelineInput>,
    /// Topologically sorted: every stage comes after the stages it reads from.
    pub stages: Vec<StageNode>,
    pub outputs: Vec<(String, Source)>,
    /// Nodes are stage names; an edge a -> b labelled with b's input port.
    pub graph: DiGraph<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PipelineError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found in a pipeline file.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineErrors(pub Vec<PipelineError>);

impl fmt::Display for PipelineErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PipelineErrors {}

/// A `--set stage.param=value` override.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub stage: String,
    pub param: String,
    pub value: Value,
}

impl Override {
    /// A typed override, as a front end builds it from its own options.
    pub fn new(stage: &str, param: &str, value: Value) -> Self {
        Self {
            stage: stage.to_string(),
            param: param.to_string(),
            value,
        }
    }

    /// Parse `stage.param=value`; the value is read as a YAML scalar (numbers, booleans, strings).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (lhs, value) = text
            .split_once('=')
            .ok_or_else(|| format!("--set '{text}': expected stage.param=value"))?;
        let (stage, param) = lhs
            .split_once('.')
            .ok_or_else(|| format!("--set '{text}': expected stage.param=value"))?;
        let yaml: Yaml = serde_yaml::from_str(value).unwrap_or(Yaml::String(value.to_string()));
        let value = serde_json::to_value(yaml).unwrap_or(Value::String(value.to_string()));
        Ok(Self {
            stage: stage.trim().to_string(),
            param: param.trim().to_string(),
            value,
        })
    }
}

struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    errors: Vec<PipelineError>,
}

impl Checker<'_> {
    fn error(&mut self, at: &[&str], message: String) {
        self.errors.push(PipelineError {
            file: self.file.to_path_buf(),
            line: line_of(self.text, at),
            message,
        });
    }
}

fn as_str(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn entries(v: Option<&Yaml>) -> Vec<(String, Yaml)> {
    match v {
        Some(Yaml::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| as_str(k).map(|k| (k, v.clone())))
            .collect(),
        _ => Vec::new(),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Pipeline {
    /// Read and validate a pipeline file.
    pub fn load(
        path: &Path,
        registry: &Registry,
        overrides: &[Override],
    ) -> Result<Self, PipelineErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            PipelineErrors(vec![PipelineError {
                file: path.to_path_buf(),
                line: None,
                message: format!("cannot read the pipeline file: {e}"),
            }])
        })?;
        Self::parse(&text, path, registry, overrides)
    }

    /// Validate pipeline text (`path` is used in messages).
    pub fn parse(
        text: &str,
        path: &Path,
        registry: &Registry,
        overrides: &[Override],
    ) -> Result<Self, PipelineErrors> {
        let mut c = Checker {
            file: path,
            text,
            errors: Vec::new(),
        };
        let doc: Yaml = match serde_yaml::from_str(text) {
            Ok(doc) => doc,
            Err(e) => {
                return Err(PipelineErrors(vec![PipelineError {
                    file: path.to_path_buf(),
                    line: e.location().map(|l| l.line()),
                    message: format!("not valid YAML: {e}"),
                }]))
            }
        };
        let Yaml::Mapping(top) = &doc else {
            c.error(
                &[],
                "a pipeline is a mapping with inputs, stages and outputs".into(),
            );
            return Err(PipelineErrors(c.errors));
        };
        for (key, _) in entries(Some(&doc)) {
            if !["name", "description", "inputs", "stages", "outputs"].contains(&key.as_str()) {
                c.error(&[&key], format!("unknown top-level key '{key}' (expected name, description, inputs, stages, outputs)"));
            }
        }
        let get = |k: &str| top.get(Yaml::String(k.into()));
        let name = get("name").and_then(as_str).unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let description = get("description").and_then(as_str).unwrap_or_default();

        let inputs = parse_inputs(&mut c, get("inputs"));
        let mut stages = parse_stages(&mut c, get("stages"), registry, overrides);
        check_references(&mut c, &inputs, &stages);
        let outputs = parse_outputs(&mut c, get("outputs"), &inputs, &stages);
        let graph = build_graph(&mut c, &mut stages);
        if !c.errors.is_empty() {
            return Err(PipelineErrors(c.errors));
        }
        Ok(Pipeline {
            name,
            description,
            path: path.to_path_buf(),
            inputs,
            stages,
            outputs,
            graph,
        })
    }

    pub fn stage(&self, name: &str) -> Option<&StageNode> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// Names of the stages downstream of `name` (not including it).
    pub fn downstream(&self, name: &str) -> Vec<String> {
        let Some(start) = self.graph.node_indices().find(|&n| self.graph[n] == name) else {
            return Vec::new();
        };
        let mut dfs = petgraph::visit::Dfs::new(&self.graph, start);
        let mut out = Vec::new();
        while let Some(n) = dfs.next(&self.graph) {
            if n != start {
                out.push(self.graph[n].clone());
            }
        }
        out
    }
}

fn source_type(
    inputs: &[PipelineInput],
    stages: &[StageNode],
    source: &Source,
) -> Option<PortType> {
    match source {
        Source::Input(name) => inputs.iter().find(|i| &i.name == name).map(|i| i.ty),
        Source::Stage { stage, output } => stages
            .iter()
            .find(|s| &s.name == stage)?
            .output_type(output),
    }
}

fn type_names() -> String {
    PortType::ALL.map(|t| t.name()).join(", ")
}

fn parse_inputs(c: &mut Checker, v: Option<&Yaml>) -> Vec<PipelineInput> {
    let mut out = Vec::new();
    for (name, decl) in entries(v) {
        let (ty, help) = match &decl {
            Yaml::Mapping(m) => (
                m.get(Yaml::String("type".into())).and_then(as_str),
                m.get(Yaml::String("help".into()))
                    .and_then(as_str)
                    .unwrap_or_default(),
            ),
            other => (as_str(other), String::new()),
        };
        if !valid_name(&name) {
            c.error(
                &["inputs", &name],
                format!("input name '{name}' may only use letters, digits, '-' and '_'"),
            );
            continue;
        }
        match ty.as_deref().and_then(PortType::parse) {
            Some(ty) => out.push(PipelineInput { name, ty, help }),
            None => c.error(
                &["inputs", &name],
                format!(
                    "input '{name}' has unknown type {:?} (types: {})",
                    ty.unwrap_or_default(),
                    type_names()
                ),
            ),
        }
    }
    out
}

fn check_params(
    c: &mut Checker,
    stage_name: &str,
    kind: &str,
    specs: &[ParamSpec],
    given: Vec<(String, Value, bool)>,
) -> Params {
    let mut params = Params::new();
    for (pname, value, from_cli) in given {
        let at = ["stages", stage_name, "params", pname.as_str()];
        let origin = if from_cli {
            format!("--set {stage_name}.{pname}")
        } else {
            format!("parameter '{pname}'")
        };
        match specs.iter().find(|s| s.name == pname) {
            None => {
                let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
                c.error(
                    &at,
                    format!(
                        "{origin}: stage '{stage_name}' ({kind}) has no parameter '{pname}' (known: {})",
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ),
                );
            }
            Some(spec) => match spec.kind.check(&value) {
                Ok(v) => {
                    params.insert(pname, v);
                }
                Err(msg) => c.error(&at, format!("{origin} of stage '{stage_name}': {msg}")),
            },
        }
    }
    for spec in specs {
        if params.contains_key(spec.name) {
            continue;
        }
        match &spec.default {
            Some(d) => {
                params.insert(spec.name.to_string(), d.clone());
            }
            None => c.error(
                &["stages", stage_name, "params"],
                format!(
                    "stage '{stage_name}' ({kind}) needs parameter '{}': {}",
                    spec.name,
                    spec.kind.describe()
                ),
            ),
        }
    }
    params
}

fn parse_stages(
    c: &mut Checker,
    v: Option<&Yaml>,
    registry: &Registry,
    overrides: &[Override],
) -> Vec<StageNode> {
    let declared = entries(v);
    if declared.is_empty() {
        c.error(&["stages"], "the pipeline has no stages".into());
    }
    for o in overrides.iter().filter(|o| o.stage != "*") {
        if !declared.iter().any(|(n, _)| n == &o.stage) {
            c.error(
                &[],
                format!(
                    "--set {}.{}: there is no stage '{}' (stages: {})",
                    o.stage,
                    o.param,
                    o.stage,
                    declared
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    let mut out = Vec::new();
    let mut wildcards_used = vec![false; overrides.len()];
    for (name, decl) in declared {
        let at = ["stages", name.as_str()];
        if !valid_name(&name) || name == "inputs" {
            c.error(
                &at,
                format!(
                    "stage name '{name}' must use letters, digits, '-' and '_' and not be 'inputs'"
                ),
            );
            continue;
        }
        let Yaml::Mapping(m) = &decl else {
            c.error(
                &at,
                format!("stage '{name}' must be a mapping with 'uses', 'inputs' and 'params'"),
            );
            continue;
        };
        for (key, _) in entries(Some(&decl)) {
            if !["uses", "inputs", "params", "description"].contains(&key.as_str()) {
                c.error(
                    &["stages", &name, &key],
                    format!("stage '{name}': unknown key '{key}' (expected uses, inputs, params)"),
                );
            }
        }
        let Some(kind) = m.get(Yaml::String("uses".into())).and_then(as_str) else {
            c.error(
                &at,
                format!(
                    "stage '{name}' has no 'uses:' (one of: {})",
                    registry.kinds().collect::<Vec<_>>().join(", ")
                ),
            );
            continue;
        };
        let Some(stage) = registry.get(&kind).cloned() else {
            c.error(
                &["stages", &name, "uses"],
                format!(
                    "stage '{name}' uses unknown stage type '{kind}' (available: {})",
                    registry.kinds().collect::<Vec<_>>().join(", ")
                ),
            );
            continue;
        };
        let mut given: Vec<(String, Value, bool)> = entries(m.get(Yaml::String("params".into())))
            .into_iter()
            .map(|(k, v)| (k, serde_json::to_value(v).unwrap_or(Value::Null), false))
            .collect();
        let specs = stage.params();
        for (n, o) in overrides.iter().enumerate() {
            // `*.param` sets the parameter of every stage that has one.
            let wildcard = o.stage == "*" && specs.iter().any(|p| p.name == o.param);
            wildcards_used[n] |= wildcard;
            if o.stage == name || wildcard {
                given.retain(|(k, _, _)| k != &o.param);
                given.push((o.param.clone(), o.value.clone(), true));
            }
        }
        let params = check_params(c, &name, &kind, &specs, given);
        let ports = stage.ports(&params);
        let mut inputs = BTreeMap::new();
        for (port, reference) in entries(m.get(Yaml::String("inputs".into()))) {
            let at = ["stages", name.as_str(), "inputs", port.as_str()];
            if !stage.open_inputs() && !ports.inputs.iter().any(|p| p.name == port) {
                let known: Vec<&str> = ports.inputs.iter().map(|p| p.name.as_str()).collect();
                c.error(
                    &at,
                    format!(
                        "stage '{name}' ({kind}) has no input '{port}' (inputs: {})",
                        known.join(", ")
                    ),
                );
                continue;
            }
            match as_str(&reference).as_deref().and_then(Source::parse) {
                Some(src) => {
                    inputs.insert(port, src);
                }
                None => c.error(&at, format!("input '{port}' of stage '{name}': expected STAGE.OUTPUT or inputs.NAME, got {reference:?}")),
            }
        }
        for p in ports.inputs.iter().filter(|p| p.required) {
            if !inputs.contains_key(&p.name) {
                c.error(
                    &["stages", &name, "inputs"],
                    format!(
                        "stage '{name}' ({kind}) needs input '{}' ({})",
                        p.name, p.ty
                    ),
                );
            }
        }
        out.push(StageNode {
            line: line_of(c.text, &at),
            name,
            stage,
            params,
            ports,
            inputs,
        });
    }
    for (o, used) in overrides.iter().zip(wildcards_used) {
        if o.stage == "*" && !used {
            c.error(
                &[],
                format!(
                    "--set *.{0}: no stage of this pipeline has a parameter '{0}'",
                    o.param
                ),
            );
        }
    }
    out
}

fn check_references(c: &mut Checker, inputs: &[PipelineInput], stages: &[StageNode]) {
    for node in stages {
        for (port, src) in &node.inputs {
            let at = ["stages", node.name.as_str(), "inputs", port.as_str()];
            let expected = node
                .ports
                .inputs
                .iter()
                .find(|p| &p.name == port)
                .map_or(PortType::File, |p: &Port| p.ty);
            match source_type(inputs, stages, src) {
                Some(given) if expected.accepts(given) => {}
                Some(given) => c.error(
                    &at,
                    format!(
                        "input '{port}' of stage '{}' expects {expected} but {src} is {given}",
                        node.name
                    ),
                ),
                None => c.error(
                    &at,
                    missing_source(
                        inputs,
                        stages,
                        src,
                        &format!("input '{port}' of stage '{}'", node.name),
                    ),
                ),
            }
        }
    }
}

fn missing_source(
    inputs: &[PipelineInput],
    stages: &[StageNode],
    src: &Source,
    user: &str,
) -> String {
    match src {
        Source::Input(name) => format!(
            "{user} reads {src}, but the pipeline declares no input '{name}' (inputs: {})",
            inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
        Source::Stage { stage, output } => match stages.iter().find(|s| &s.name == stage) {
            None => format!(
                "{user} reads {src}, but there is no stage '{stage}' (stages: {})",
                stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
            Some(s) => format!(
                "{user} reads {src}, but stage '{stage}' ({}) has no output '{output}' (outputs: {})",
                s.kind(),
                s.ports.outputs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        },
    }
}

fn parse_outputs(
    c: &mut Checker,
    v: Option<&Yaml>,
    inputs: &[PipelineInput],
    stages: &[StageNode],
) -> Vec<(String, Source)> {
    let declared = entries(v);
    if declared.is_empty() {
        c.error(&["outputs"], "the pipeline declares no outputs".into());
    }
    let mut out = Vec::new();
    for (name, reference) in declared {
        let at = ["outputs", name.as_str()];
        match as_str(&reference).as_deref().and_then(Source::parse) {
            Some(src) => {
                if source_type(inputs, stages, &src).is_none() {
                    c.error(
                        &at,
                        missing_source(inputs, stages, &src, &format!("output '{name}'")),
                    );
                }
                out.push((name, src));
            }
            None => c.error(
                &at,
                format!("output '{name}': expected STAGE.OUTPUT, got {reference:?}"),
            ),
        }
    }
    out
}

/// Build the DAG, report cycles, and sort `stages` topologically.
fn build_graph(c: &mut Checker, stages: &mut Vec<StageNode>) -> DiGraph<String, String> {
    let mut graph = DiGraph::new();
    let index: HashMap<String, NodeIndex> = stages
        .iter()
        .map(|s| (s.name.clone(), graph.add_node(s.name.clone())))
        .collect();
    for s in stages.iter() {
        for (port, src) in &s.inputs {
            if let Source::Stage { stage, .. } = src {
                if let Some(&from) = index.get(stage) {
                    graph.add_edge(from, index[&s.name], port.clone());
                }
            }
        }
    }
    match toposort(&graph, None) {
        Ok(order) => {
            let rank: HashMap<&String, usize> = order
                .iter()
                .enumerate()
                .map(|(r, &n)| (&graph[n], r))
                .collect();
            let mut ranks: Vec<usize> = stages.iter().map(|s| rank[&s.name]).collect();
            let mut paired: Vec<(usize, StageNode)> =
                ranks.drain(..).zip(stages.drain(..)).collect();
            paired.sort_by_key(|(r, _)| *r);
            stages.extend(paired.into_iter().map(|(_, s)| s));
        }
        Err(_) => {
            for scc in tarjan_scc(&graph) {
                let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
                if scc.len() > 1 || self_loop {
                    let cycle = describe_cycle(&graph, &scc);
                    let first = graph[scc[0]].clone();
                    c.error(
                        &["stages", &first],
                        format!("the stages form a cycle: {cycle}"),
                    );
                }
            }
        }
    }
    graph
}

/// "a -> b -> c -> a": the shortest cycle through the component's first node.
fn describe_cycle(graph: &DiGraph<String, String>, scc: &[NodeIndex]) -> String {
    let start = scc[0];
    let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut last = start;
    'search: while let Some(n) = queue.pop_front() {
        for next in graph.neighbors(n).filter(|x| scc.contains(x)) {
            if next == start {
                last = n;
                break 'search;
            }
            if next != start && !parent.contains_key(&next) {
                parent.insert(next, n);
                queue.push_back(next);
            }
        }
    }
    let mut path = vec![start];
    let mut n = last;
    while n != start {
        path.push(n);
        n = parent[&n];
    }
    path.push(start);
    let end = path.len() - 1;
    path[1..end].reverse();
    path.iter()
        .map(|&n| graph[n].as_str())
        .collect::<Vec<_>>()
        .join(" -> ")
}
