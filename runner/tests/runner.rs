//! Validation errors and cached execution, on small in-process stages.

use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use vantage_cache::Cache;
use vantage_core::{
    CancelToken, ParamKind, ParamSpec, Params, Port, PortType, Ports, Stage, StageContext,
    StageError,
};
use vantage_runner::{Engine, Event, Exec, Force, Pipeline, Registry, RunError, RunOptions, Slots};

/// Appends a suffix to a text file; counts its runs.
struct Append(Arc<AtomicUsize>);

impl Stage for Append {
    fn kind(&self) -> &'static str {
        "append"
    }
    fn version(&self) -> u32 {
        1
    }
    fn describe(&self) -> &'static str {
        "test stage"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("suffix", ParamKind::Text, json!("+"), "what to append"),
            ParamSpec::new(
                "repeat",
                ParamKind::Int { min: 1, max: 5 },
                json!(1),
                "how often",
            ),
            ParamSpec::new("fail", ParamKind::Bool, json!(false), "fail on purpose"),
        ]
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![
                Port::required("text", PortType::File),
                Port::optional("extra", PortType::Json),
            ],
            outputs: vec![Port::required("text", PortType::Json)],
        }
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        if ctx.param("fail")?.as_bool() == Some(true) {
            return Err(StageError::InvalidInput("asked to fail".into()));
        }
        let mut text =
            std::fs::read_to_string(ctx.input("text")?).map_err(StageError::io("read"))?;
        if let Some(extra) = ctx.optional_input("extra") {
            text.push_str(&std::fs::read_to_string(extra).map_err(StageError::io("read"))?);
        }
        for _ in 0..ctx.param_i64("repeat")? {
            text.push_str(ctx.param_str("suffix")?);
        }
        std::fs::write(ctx.output("text")?, text).map_err(StageError::io("write"))
    }
}

fn registry(runs: &Arc<AtomicUsize>) -> Registry {
    let mut r = Registry::new();
    r.register(Append(Arc::clone(runs))).register(Exec);
    r
}

const CHAIN: &str = "\
name: chain
inputs:
  seed: file
stages:
  a:
    uses: append
    inputs: { text: inputs.seed }
    params:
      suffix: A
  b:
    uses: append
    inputs:
      text: a.text
    params:
      suffix: B
  c:
    uses: append
    inputs:
      text: b.text
      extra: a.text
outputs:
  text: c.text
";

fn parse(text: &str, runs: &Arc<AtomicUsize>) -> Result<Pipeline, String> {
    Pipeline::parse(text, Path::new("p.yaml"), &registry(runs), &[]).map_err(|e| e.to_string())
}

fn parse_err(text: &str) -> String {
    parse(text, &Arc::new(AtomicUsize::new(0)))
        .err()
        .expect("pipeline should be rejected")
}

#[test]
fn valid_pipeline_is_sorted_topologically() {
    let p = parse(CHAIN, &Arc::new(AtomicUsize::new(0))).unwrap();
    let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let mut down = p.downstream("a");
    down.sort();
    assert_eq!(down, ["b", "c"]);
    assert!(p.downstream("c").is_empty());
}

#[test]
fn unknown_stage_type_names_file_line_and_choices() {
    let e = parse_err(&CHAIN.replace(
        "uses: append\n    inputs:\n      text: a.text",
        "uses: apend\n    inputs:\n      text: a.text",
    ));
    assert!(e.contains("p.yaml:11:"), "{e}");
    assert!(
        e.contains("unknown stage type 'apend'") && e.contains("available: append, exec"),
        "{e}"
    );
}

#[test]
fn unknown_input_and_output_names() {
    let e = parse_err(&CHAIN.replace(
        "text: a.text\n    params:\n      suffix: B",
        "txt: a.text\n    params:\n      suffix: B",
    ));
    assert!(
        e.contains("p.yaml:13:") && e.contains("has no input 'txt'"),
        "{e}"
    );
    assert!(e.contains("needs input 'text'"), "{e}");
    let e = parse_err(&CHAIN.replace("text: c.text", "text: c.txt"));
    assert!(
        e.contains("p.yaml:22:") && e.contains("stage 'c' (append) has no output 'txt'"),
        "{e}"
    );
    let e = parse_err(&CHAIN.replace("inputs.seed", "inputs.sed"));
    assert!(
        e.contains("p.yaml:7:") && e.contains("declares no input 'sed'"),
        "{e}"
    );
}

#[test]
fn type_mismatch_is_reported() {
    // c.extra wants json; feeding it the pipeline's plain file is a mismatch.
    let e = parse_err(&CHAIN.replace("extra: a.text", "extra: inputs.seed"));
    assert!(
        e.contains("p.yaml:20:") && e.contains("expects json but inputs.seed is file"),
        "{e}"
    );
}

#[test]
fn bad_parameters_are_reported() {
    let e = parse_err(&CHAIN.replace("suffix: B", "repeat: 9"));
    assert!(
        e.contains("p.yaml:15:") && e.contains("an integer in 1..=5"),
        "{e}"
    );
    let e = parse_err(&CHAIN.replace("suffix: B", "sufix: B"));
    assert!(
        e.contains("no parameter 'sufix'") && e.contains("known: suffix, repeat, fail"),
        "{e}"
    );
    let e = parse_err(&CHAIN.replace("suffix: B", "fail: maybe"));
    assert!(e.contains("true or false"), "{e}");
}

#[test]
fn cycles_are_named() {
    let e = parse_err(&CHAIN.replace("text: inputs.seed", "text: c.text"));
    assert!(
        e.contains("p.yaml:16: the stages form a cycle: c -> a -> c"),
        "{e}"
    );
}

#[test]
fn yaml_syntax_errors_have_a_line() {
    let e = parse_err("name: x\nstages:\n  a: [\n");
    assert!(
        e.starts_with("p.yaml:") && e.contains("not valid YAML"),
        "{e}"
    );
}

#[test]
fn set_overrides_are_validated() {
    let runs = Arc::new(AtomicUsize::new(0));
    let bad = vantage_runner::Override::parse("zz.suffix=1").unwrap();
    let e = Pipeline::parse(CHAIN, Path::new("p.yaml"), &registry(&runs), &[bad])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("there is no stage 'zz'"), "{e}");
    let bad = vantage_runner::Override::parse("b.repeat=0").unwrap();
    let e = Pipeline::parse(CHAIN, Path::new("p.yaml"), &registry(&runs), &[bad])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--set b.repeat"), "{e}");
}

#[test]
fn a_wildcard_override_sets_every_stage_with_the_parameter() {
    let runs = Arc::new(AtomicUsize::new(0));
    let every = vantage_runner::Override::parse("*.suffix=Z").unwrap();
    let p = Pipeline::parse(CHAIN, Path::new("p.yaml"), &registry(&runs), &[every]).unwrap();
    for name in ["a", "b", "c"] {
        assert_eq!(p.stage(name).unwrap().params["suffix"], "Z", "{name}");
    }
    let nowhere = vantage_runner::Override::parse("*.volume=3").unwrap();
    let e = Pipeline::parse(CHAIN, Path::new("p.yaml"), &registry(&runs), &[nowhere])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--set *.volume: no stage"), "{e}");
}

struct Run {
    dir: tempfile::TempDir,
    runs: Arc<AtomicUsize>,
    seed: PathBuf,
}

impl Run {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed.txt");
        std::fs::write(&seed, "s").unwrap();
        Self {
            dir,
            runs: Arc::new(AtomicUsize::new(0)),
            seed,
        }
    }

    fn go(
        &self,
        text: &str,
        overrides: &[&str],
        force: Force,
    ) -> (Result<String, RunError>, Vec<Event>) {
        let overrides: Vec<_> = overrides
            .iter()
            .map(|o| vantage_runner::Override::parse(o).unwrap())
            .collect();
        let reg = registry(&self.runs);
        let p = Pipeline::parse(text, Path::new("p.yaml"), &reg, &overrides).unwrap();
        let cache = Arc::new(Cache::open(self.dir.path().join("cache")).unwrap());
        let engine = Engine::new(reg, cache, Slots::new(2, 1));
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let events = Arc::clone(&events);
            Arc::new(move |e: &Event| events.lock().unwrap().push(e.clone()))
        };
        let inputs = BTreeMap::from([("seed".to_string(), self.seed.clone())]);
        let opts = RunOptions {
            force,
            ..RunOptions::default()
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let out = rt.block_on(engine.run(&p, &inputs, &opts, sink, CancelToken::default()));
        let out = out.map(|o| std::fs::read_to_string(&o.outputs["text"].0).unwrap());
        let events = events.lock().unwrap().clone();
        (out, events)
    }
}

fn statuses(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Cached { stage } => Some(format!("{stage}:cached")),
            Event::Done { stage, .. } => Some(format!("{stage}:ran")),
            _ => None,
        })
        .collect()
}

#[test]
fn reruns_only_what_changed() {
    let r = Run::new();
    let (out, events) = r.go(CHAIN, &[], Force::None);
    assert_eq!(out.unwrap(), "sABsA+");
    assert_eq!(statuses(&events), ["a:ran", "b:ran", "c:ran"]);

    let (out, events) = r.go(CHAIN, &[], Force::None);
    assert_eq!(out.unwrap(), "sABsA+");
    assert_eq!(statuses(&events), ["a:cached", "b:cached", "c:cached"]);
    assert_eq!(r.runs.load(Ordering::SeqCst), 3);

    // A late parameter reruns that stage and its dependents only.
    let (out, events) = r.go(CHAIN, &["c.suffix=Z"], Force::None);
    assert_eq!(out.unwrap(), "sABsAZ");
    assert_eq!(statuses(&events), ["a:cached", "b:cached", "c:ran"]);

    // Forcing a stage reruns it; identical output keeps its dependents cached.
    let (_, events) = r.go(CHAIN, &[], Force::Stages(["b".to_string()].into()));
    assert_eq!(statuses(&events), ["a:cached", "b:ran", "c:cached"]);

    // Changing the input file's bytes reruns everything.
    std::fs::write(&r.seed, "t").unwrap();
    let (out, events) = r.go(CHAIN, &[], Force::None);
    assert_eq!(out.unwrap(), "tABtA+");
    assert_eq!(statuses(&events), ["a:ran", "b:ran", "c:ran"]);
}

#[test]
fn a_failure_names_the_stage_and_keeps_finished_work() {
    let r = Run::new();
    let (out, events) = r.go(CHAIN, &["b.fail=true"], Force::None);
    match out {
        Err(e @ RunError::Stage { .. }) => {
            let RunError::Stage { stage, error, .. } = &e else {
                unreachable!()
            };
            assert_eq!(stage, "b");
            assert!(error.to_string().contains("asked to fail"));
            assert_eq!(e.kind(), vantage_core::ErrorKind::InvalidInput);
        }
        other => panic!("expected a stage failure, got {other:?}"),
    }
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Failed { stage, .. } if stage == "b")));
    let (_, events) = r.go(CHAIN, &[], Force::None);
    assert_eq!(statuses(&events), ["a:cached", "b:ran", "c:ran"]);
}

#[test]
fn exec_stage_runs_a_command_and_is_cached() {
    let r = Run::new();
    let text = "\
inputs:
  seed: file
stages:
  shout:
    uses: exec
    inputs: { src: inputs.seed }
    params:
      command: [sh, -c, \"seq 1 100000; tr a-z A-Z < {in.src} > {out.loud}\"]
      outputs: { loud: json }
outputs:
  text: shout.loud
";
    let (out, events) = r.go(text, &[], Force::None);
    assert_eq!(out.unwrap(), "S");
    assert_eq!(statuses(&events), ["shout:ran"]);
    let (_, events) = r.go(text, &[], Force::None);
    assert_eq!(statuses(&events), ["shout:cached"]);
    let failing = text.replace("tr a-z A-Z", "echo bad news >&2; false; tr");
    let (out, _) = r.go(&failing, &[], Force::None);
    match out {
        Err(e @ RunError::Stage { .. }) => {
            assert_eq!(e.kind(), vantage_core::ErrorKind::ToolFailure);
            assert!(e.to_string().contains("bad news"), "{e}");
        }
        other => panic!("expected a tool failure, got {other:?}"),
    }
}

#[test]
fn exec_does_not_wait_for_a_grandchild_holding_stderr() {
    let r = Run::new();
    let text = "\
inputs:
  seed: file
stages:
  bg:
    uses: exec
    inputs: { src: inputs.seed }
    params:
      command: [sh, -c, \"cp {in.src} {out.copy}; sleep 60 & exit 0\"]
      outputs: { copy: json }
outputs:
  text: bg.copy
";
    let start = std::time::Instant::now();
    let (out, _) = r.go(text, &[], Force::None);
    assert_eq!(out.unwrap(), "s");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_cache_entry_missing_an_output_is_a_miss() {
    let r = Run::new();
    let (out, _) = r.go(CHAIN, &[], Force::None);
    assert_eq!(out.unwrap(), "sABsA+");
    // Damage stage a's entry: its manifest loses the output b and c read.
    let reg = registry(&r.runs);
    let p = Pipeline::parse(CHAIN, Path::new("p.yaml"), &reg, &[]).unwrap();
    let a = p.stages.iter().find(|s| s.name == "a").unwrap();
    let cache = Cache::open(r.dir.path().join("cache")).unwrap();
    let inputs = BTreeMap::from([("text".to_string(), cache.file_digest(&r.seed).unwrap())]);
    let key = vantage_cache::StageKey::new(a.kind(), a.stage.version(), &a.params, &inputs, &[]);
    let mut lease = cache.lease();
    let mut manifest = cache
        .lookup(&key, &mut lease)
        .unwrap()
        .expect("a is cached");
    manifest.outputs.clear();
    cache.record(&key, &manifest).unwrap();
    drop((lease, cache));

    let (out, events) = r.go(CHAIN, &[], Force::None);
    assert_eq!(out.unwrap(), "sABsA+");
    assert_eq!(statuses(&events), ["a:ran", "b:cached", "c:cached"]);
}
