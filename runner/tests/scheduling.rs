//! The engine's scheduler: shared slots across concurrent runs, lightest
//! first, dry runs, cancellation, identical work run once, `gc` during a run.

use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vantage_cache::Cache;
use vantage_core::{
    CancelToken, ParamKind, ParamSpec, Params, Port, PortType, Ports, Resources, Stage,
    StageContext, StageError,
};
use vantage_runner::{Engine, Event, Pipeline, Registry, RunError, RunOptions, Slots};

/// Sleeps `ms` (watching for cancellation) on `cpu` slots, then writes its
/// input text (if any) followed by `tag`. Counts its runs.
struct Work(Arc<AtomicUsize>);

impl Stage for Work {
    fn kind(&self) -> &'static str {
        "work"
    }
    fn version(&self) -> u32 {
        1
    }
    fn describe(&self) -> &'static str {
        "test stage"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("tag", ParamKind::Text, json!("x"), "appended"),
            ParamSpec::new(
                "ms",
                ParamKind::Int {
                    min: 0,
                    max: 60_000,
                },
                json!(0),
                "sleep",
            ),
            ParamSpec::new("cpu", ParamKind::Int { min: 1, max: 64 }, json!(1), "slots"),
        ]
    }
    fn ports(&self, _: &Params) -> Ports {
        Ports {
            inputs: vec![
                Port::optional("a", PortType::File),
                Port::optional("b", PortType::File),
            ],
            outputs: vec![Port::required("text", PortType::Json)],
        }
    }
    fn resources(&self, params: &Params) -> Resources {
        Resources {
            cpu: params["cpu"].as_u64().unwrap_or(1) as usize,
            gpu: false,
        }
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let until = Instant::now() + Duration::from_millis(ctx.param_i64("ms")? as u64);
        while Instant::now() < until {
            ctx.cancel.check()?;
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut text = String::new();
        for port in ["a", "b"] {
            if let Some(p) = ctx.optional_input(port) {
                text += &std::fs::read_to_string(p).map_err(StageError::io("read"))?;
            }
        }
        text += ctx.param_str("tag")?;
        std::fs::write(ctx.output("text")?, text).map_err(StageError::io("write"))
    }
}

/// Two one-slot stages side by side, then a two-slot stage over both.
const DIAMOND: &str = "\
inputs:
  seed: file
stages:
  left:
    uses: work
    inputs: { a: inputs.seed }
    params: { tag: L, ms: 150 }
  right:
    uses: work
    inputs: { a: inputs.seed }
    params: { tag: R, ms: 150 }
  join:
    uses: work
    inputs: { a: left.text, b: right.text }
    params: { tag: J, ms: 100, cpu: 2 }
outputs:
  text: join.text
";

struct Bench {
    dir: tempfile::TempDir,
    runs: Arc<AtomicUsize>,
}

/// Events of one run, in the order the engine emitted them (all runs share one log).
type Log = Arc<Mutex<Vec<(usize, Event)>>>;

impl Bench {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            runs: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn registry(&self) -> Registry {
        let mut r = Registry::new();
        r.register(Work(Arc::clone(&self.runs)));
        r
    }

    fn engine(&self, cache: &str, cpu: usize) -> Arc<Engine> {
        let cache = Arc::new(Cache::open(self.dir.path().join(cache)).unwrap());
        Arc::new(Engine::new(self.registry(), cache, Slots::new(cpu, 1)))
    }

    fn pipeline(&self, text: &str) -> Pipeline {
        Pipeline::parse(text, Path::new("p.yaml"), &self.registry(), &[]).unwrap()
    }

    fn seed(&self, name: &str, text: &str) -> BTreeMap<String, PathBuf> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        BTreeMap::from([("seed".to_string(), path)])
    }
}

fn sink(log: &Log, run: usize) -> vantage_runner::EventSink {
    let log = Arc::clone(log);
    Arc::new(move |e: &Event| log.lock().unwrap().push((run, e.clone())))
}

async fn run(
    engine: Arc<Engine>,
    pipeline: Pipeline,
    inputs: BTreeMap<String, PathBuf>,
    opts: RunOptions,
    events: vantage_runner::EventSink,
    cancel: CancelToken,
) -> Result<String, RunError> {
    let out = engine
        .run(&pipeline, &inputs, &opts, events, cancel)
        .await?;
    Ok(std::fs::read_to_string(&out.outputs["text"].0).unwrap())
}

/// Run `pipeline` once per entry of `inputs`, all at once on `engine`; the
/// outputs in the same order.
async fn run_together(
    engine: &Arc<Engine>,
    pipeline: &Pipeline,
    inputs: &[BTreeMap<String, PathBuf>],
    log: &Log,
) -> Vec<String> {
    let tasks: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, inputs)| {
            tokio::spawn(run(
                Arc::clone(engine),
                pipeline.clone(),
                inputs.clone(),
                RunOptions::default(),
                sink(log, i),
                CancelToken::default(),
            ))
        })
        .collect();
    let mut outs = Vec::new();
    for t in tasks {
        outs.push(t.await.unwrap().unwrap());
    }
    outs
}

/// Returns once `stage` (or any stage) has started.
async fn started(log: &Log, stage: Option<&str>) {
    let seen = || {
        log.lock().unwrap().iter().any(
            |(_, e)| matches!(e, Event::Started { stage: s } if stage.is_none_or(|want| want == s)),
        )
    };
    while !seen() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn cpu_of(stage: &str) -> i64 {
    if stage == "join" {
        2
    } else {
        1
    }
}

/// The most slots held at once, from Started/Done events in emission order.
fn peak_slots(log: &[(usize, Event)]) -> i64 {
    let (mut now, mut peak) = (0, 0);
    for (_, e) in log {
        match e {
            Event::Started { stage } => now += cpu_of(stage),
            Event::Done { stage, .. } | Event::Failed { stage, .. } => now -= cpu_of(stage),
            _ => {}
        }
        peak = peak.max(now);
    }
    peak
}

#[test]
fn four_concurrent_runs_stay_within_two_slots_and_match_running_alone() {
    let b = Bench::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seeds: Vec<_> = (0..4)
        .map(|i| b.seed(&format!("seed{i}"), &format!("s{i}")))
        .collect();
    let p = b.pipeline(DIAMOND);

    // Alone, each on its own fresh cache.
    let alone: Vec<String> = seeds
        .iter()
        .enumerate()
        .map(|(i, inputs)| {
            let engine = b.engine(&format!("alone{i}"), 2);
            let log = Log::default();
            rt.block_on(run(
                engine,
                p.clone(),
                inputs.clone(),
                RunOptions::default(),
                sink(&log, i),
                CancelToken::default(),
            ))
            .unwrap()
        })
        .collect();
    assert_eq!(alone[2], "s2Ls2RJ");

    // Together, on one engine with 2 CPU slots.
    let engine = b.engine("shared", 2);
    let log = Log::default();
    let together = rt.block_on(run_together(&engine, &p, &seeds, &log));
    assert_eq!(together, alone);
    let log = log.lock().unwrap().clone();
    assert_eq!(peak_slots(&log), 2, "slots were over- or under-used");
    assert_eq!(
        log.iter()
            .filter(|(_, e)| matches!(e, Event::Done { .. }))
            .count(),
        12
    );
}

#[test]
fn lighter_stages_start_first() {
    let b = Bench::new();
    let text = "\
inputs:
  seed: file
stages:
  heavy:
    uses: work
    inputs: { a: inputs.seed }
    params: { tag: H, ms: 50, cpu: 2 }
  light:
    uses: work
    inputs: { a: inputs.seed }
    params: { tag: L, ms: 50 }
  last:
    uses: work
    inputs: { a: heavy.text, b: light.text }
outputs:
  text: last.text
";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = Log::default();
    let out = rt.block_on(run(
        b.engine("c", 2),
        b.pipeline(text),
        b.seed("seed", "s"),
        RunOptions::default(),
        sink(&log, 0),
        CancelToken::default(),
    ));
    assert_eq!(out.unwrap(), "sHsLx");
    let started: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Started { stage } => Some(stage.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["light", "heavy", "last"]);
}

#[test]
fn a_dry_run_runs_nothing_and_reports_what_would() {
    let b = Bench::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = b.engine("c", 2);
    let inputs = b.seed("seed", "s");
    let dry = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let statuses = |log: &Log| -> Vec<String> {
        let mut s: Vec<String> = log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, e)| match e {
                Event::WouldRun { stage } => Some(format!("{stage}:would")),
                Event::Cached { stage } => Some(format!("{stage}:cached")),
                Event::Started { stage } => Some(format!("{stage}:started")),
                _ => None,
            })
            .collect();
        s.sort();
        s
    };
    let log = Log::default();
    let out = rt.block_on(engine.run(
        &b.pipeline(DIAMOND),
        &inputs,
        &dry,
        sink(&log, 0),
        CancelToken::default(),
    ));
    assert!(out.unwrap().outputs.is_empty());
    assert_eq!(statuses(&log), ["join:would", "left:would", "right:would"]);
    assert_eq!(b.runs.load(Ordering::SeqCst), 0);

    // After a real run of a pipeline with only the left branch, the dry run
    // sees that stage cached.
    let left_only = "\
inputs:
  seed: file
stages:
  left:
    uses: work
    inputs: { a: inputs.seed }
    params: { tag: L, ms: 150 }
outputs:
  text: left.text
";
    rt.block_on(run(
        Arc::clone(&engine),
        b.pipeline(left_only),
        inputs.clone(),
        RunOptions::default(),
        sink(&Log::default(), 0),
        CancelToken::default(),
    ))
    .unwrap();
    let log = Log::default();
    rt.block_on(engine.run(
        &b.pipeline(DIAMOND),
        &inputs,
        &dry,
        sink(&log, 0),
        CancelToken::default(),
    ))
    .unwrap();
    assert_eq!(statuses(&log), ["join:would", "left:cached", "right:would"]);
}

#[test]
fn cancelling_stops_running_and_queued_stages() {
    let b = Bench::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slow = DIAMOND.replace("ms: 150", "ms: 30000");
    let cancel = CancelToken::default();
    let log = Log::default();
    let start = Instant::now();
    let out = rt.block_on(async {
        let task = tokio::spawn(run(
            b.engine("c", 2),
            b.pipeline(&slow),
            b.seed("seed", "s"),
            RunOptions::default(),
            sink(&log, 0),
            cancel.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
        task.await.unwrap()
    });
    assert!(matches!(out, Err(RunError::Cancelled)), "{out:?}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(!log
        .lock()
        .unwrap()
        .iter()
        .any(|(_, e)| matches!(e, Event::Started { stage } if stage == "join")));
}

#[test]
fn identical_stage_runs_in_flight_run_once() {
    let b = Bench::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = b.engine("c", 8);
    let inputs = b.seed("seed", "s");
    let p = b.pipeline(DIAMOND);
    let log = Log::default();
    let outs = rt.block_on(run_together(&engine, &p, &[inputs.clone(), inputs], &log));
    assert_eq!(outs, ["sLsRJ", "sLsRJ"]);
    // Three stages, each computed once for the two requests.
    assert_eq!(b.runs.load(Ordering::SeqCst), 3);
}

#[test]
fn gc_during_a_run_leaves_the_run_and_the_cache_intact() {
    let b = Bench::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = b.engine("c", 2);
    let text = "\
inputs:
  seed: file
stages:
  first:
    uses: work
    inputs: { a: inputs.seed }
    params: { tag: A }
  slow:
    uses: work
    inputs: { a: first.text }
    params: { tag: B, ms: 400 }
  last:
    uses: work
    inputs: { a: slow.text, b: first.text }
    params: { tag: C }
outputs:
  text: last.text
";
    let log = Log::default();
    let out = rt.block_on(async {
        let task = tokio::spawn(run(
            Arc::clone(&engine),
            b.pipeline(text),
            b.seed("seed", "s"),
            RunOptions::default(),
            sink(&log, 0),
            CancelToken::default(),
        ));
        // Wait until `slow` runs: `first`'s blob is recorded and read later by `last`.
        started(&log, Some("slow")).await;
        // The harshest gc: every entry over the budget, every unreferenced blob.
        let cache = Arc::clone(engine.cache());
        let report = tokio::task::spawn_blocking(move || cache.gc(None, Some(0)).unwrap())
            .await
            .unwrap();
        assert_eq!(report.blobs_removed, 0, "gc removed a blob the run holds");
        task.await.unwrap()
    });
    assert_eq!(out.unwrap(), "sABsAC");
    let verify = engine.cache().verify().unwrap();
    assert!(verify.broken_entries.is_empty(), "{verify:?}");
}

#[test]
fn a_dropped_run_stops_its_stages_and_frees_their_slots() {
    let b = Bench::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = b.engine("c", 1);
    let slow = DIAMOND.replace("ms: 150", "ms: 30000");
    let log = Log::default();
    let quick = rt.block_on(async {
        let dropped = tokio::spawn(run(
            Arc::clone(&engine),
            b.pipeline(&slow),
            b.seed("seed", "s"),
            RunOptions::default(),
            sink(&log, 0),
            CancelToken::default(),
        ));
        started(&log, None).await;
        // A server request that went away: its future is dropped mid-stage.
        dropped.abort();
        let start = Instant::now();
        let out = run(
            Arc::clone(&engine),
            b.pipeline(DIAMOND),
            b.seed("other", "o"),
            RunOptions::default(),
            sink(&Log::default(), 1),
            CancelToken::default(),
        )
        .await;
        (out, start.elapsed())
    });
    assert_eq!(quick.0.unwrap(), "oLoRJ");
    // The 30 s stage gave its only slot back as soon as the run was dropped.
    assert!(quick.1 < Duration::from_secs(10), "{:?}", quick.1);
}
