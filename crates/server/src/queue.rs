//! The queue behind fal's protocol: durable requests (one JSON record and a
//! log file each under `DIR/queue`), run in priority then arrival order
//! within `--max-running`, each with its status, logs and result.
//!
//! A request that was running when the process died is queued again on
//! restart and resumes from its cached stages.

use crate::error::ApiError;
use crate::job::{Cancel, Endpoint};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Notify};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Normal,
    Low,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Queued,
    Running,
    Completed,
}

/// A finished request: what its result endpoint answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: u16,
    pub body: Value,
    pub error: Option<String>,
    pub error_type: Option<String>,
    /// Seconds from start to finish.
    pub inference_time: Option<f64>,
}

impl Outcome {
    pub fn ok(body: Value, seconds: f64) -> Self {
        Outcome {
            status: 200,
            body,
            error: None,
            error_type: None,
            inference_time: Some(seconds),
        }
    }
    pub fn failed(e: &ApiError, seconds: Option<f64>) -> Self {
        Outcome {
            status: e.status,
            body: e.body.clone(),
            error: Some(e.message()),
            error_type: Some(e.error_type.clone()),
            inference_time: seconds,
        }
    }
}

/// One request as stored on disk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// `owner/alias`, as the URLs name it.
    pub app: String,
    pub endpoint: Endpoint,
    pub input: Value,
    pub priority: Priority,
    pub webhook: Option<String>,
    /// `scheme://host` the submit came to: the produced files' URLs use it.
    pub base: String,
    pub submitted_at: f64,
    /// Unix time past which it must not start (`X-Fal-Request-Timeout`).
    pub start_by: Option<f64>,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub state: State,
    /// Times it was started (more than one after a restart).
    pub attempts: u32,
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub webhook_delivered: bool,
}

impl Record {
    /// A request just submitted: normal priority, no webhook, no deadline.
    pub fn queued(
        id: String,
        app: String,
        endpoint: Endpoint,
        input: Value,
        base: String,
    ) -> Record {
        Record {
            id,
            app,
            endpoint,
            input,
            priority: Priority::Normal,
            webhook: None,
            base,
            submitted_at: now(),
            start_by: None,
            started_at: None,
            finished_at: None,
            state: State::Queued,
            attempts: 0,
            outcome: None,
            webhook_delivered: false,
        }
    }
}

/// A fal log entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub message: String,
    pub level: String,
    pub source: String,
    pub timestamp: String,
    pub labels: Value,
}

impl LogEntry {
    pub fn new(level: &str, message: String) -> Self {
        LogEntry {
            message,
            level: level.into(),
            source: "USER".into(),
            timestamp: iso8601(now()),
            labels: json!({}),
        }
    }

    /// With `labels` (the playground reads a stage's progress from them).
    pub fn labelled(mut self, labels: Value) -> Self {
        self.labels = labels;
        self
    }
}

/// A request in memory: its record, its logs, who waits on it.
pub struct Entry {
    pub record: Mutex<Record>,
    pub logs: Mutex<Vec<LogEntry>>,
    /// Bumped on every change of state or logs.
    pub changed: watch::Sender<u64>,
    pub cancel: Cancel,
}

impl Entry {
    fn new(record: Record, logs: Vec<LogEntry>) -> Arc<Entry> {
        Arc::new(Entry {
            record: Mutex::new(record),
            logs: Mutex::new(logs),
            changed: watch::channel(0).0,
            cancel: Cancel::default(),
        })
    }

    pub fn snapshot(&self) -> Record {
        lock(&self.record).clone()
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

pub struct Queue {
    dir: PathBuf,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    /// Queued ids, next first.
    order: Mutex<Vec<String>>,
    /// The one taken by the scheduler that waits for a slot (still queued:
    /// position 0).
    taken: Mutex<Option<String>>,
    wake: Notify,
    pub max_queue: usize,
    draining: std::sync::atomic::AtomicBool,
}

/// Why a submit was refused.
pub enum Refused {
    Full,
    Draining,
}

pub enum CancelOutcome {
    Requested,
    AlreadyCompleted,
    NotFound,
}

impl Queue {
    /// Open the queue at `dir`, putting back what a previous process left:
    /// running requests are queued again.
    pub fn open(dir: &Path, max_queue: usize) -> std::io::Result<Queue> {
        std::fs::create_dir_all(dir)?;
        let q = Queue {
            dir: dir.to_path_buf(),
            entries: Mutex::new(HashMap::new()),
            order: Mutex::new(Vec::new()),
            taken: Mutex::new(None),
            wake: Notify::new(),
            max_queue,
            draining: false.into(),
        };
        for item in std::fs::read_dir(dir)? {
            let path = item?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Some(mut record) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
            else {
                tracing::warn!("{}: not a queue record; skipped", path.display());
                continue;
            };
            let logs = read_logs(&q.logs_path(&record.id));
            if record.state == State::Running {
                record.state = State::Queued;
                record.started_at = None;
            }
            let entry = Entry::new(record.clone(), logs);
            if record.state == State::Queued {
                lock(&q.order).push(record.id.clone());
            }
            lock(&q.entries).insert(record.id.clone(), entry);
        }
        q.sort();
        q.log_all_requeued();
        Ok(q)
    }

    fn log_all_requeued(&self) {
        for id in lock(&self.order).clone() {
            if let Some(e) = self.get(&id) {
                if e.snapshot().attempts > 0 {
                    self.log(
                        &e,
                        LogEntry::new(
                            "WARN",
                            "the server restarted; running again from the cached stages".into(),
                        ),
                    );
                }
            }
        }
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }
    fn logs_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.logs.jsonl"))
    }

    pub fn get(&self, id: &str) -> Option<Arc<Entry>> {
        lock(&self.entries).get(id).cloned()
    }

    pub fn queued(&self) -> usize {
        lock(&self.order).len() + usize::from(lock(&self.taken).is_some())
    }

    /// 0 for the next to start; `None` once started.
    pub fn position(&self, id: &str) -> Option<usize> {
        let taken = lock(&self.taken).clone();
        if taken.as_deref() == Some(id) {
            return Some(0);
        }
        let ahead = usize::from(taken.is_some());
        lock(&self.order)
            .iter()
            .position(|x| x == id)
            .map(|p| p + ahead)
    }

    pub fn submit(&self, record: Record) -> Result<Arc<Entry>, Refused> {
        if self.draining.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Refused::Draining);
        }
        if self.queued() >= self.max_queue {
            return Err(Refused::Full);
        }
        let id = record.id.clone();
        let entry = Entry::new(record, Vec::new());
        self.persist(&entry);
        lock(&self.entries).insert(id.clone(), entry.clone());
        lock(&self.order).push(id);
        self.sort();
        self.wake.notify_one();
        Ok(entry)
    }

    fn sort(&self) {
        let entries = lock(&self.entries);
        let key = |id: &String| {
            entries.get(id).map(|e| {
                let r = lock(&e.record);
                (r.priority, (r.submitted_at * 1e6) as i64)
            })
        };
        lock(&self.order).sort_by_key(key);
    }

    /// The next request to start (waiting for one), marked running.
    pub async fn next(&self) -> Arc<Entry> {
        loop {
            let notified = self.wake.notified();
            if !self.draining.load(std::sync::atomic::Ordering::SeqCst) {
                let id = {
                    let mut order = lock(&self.order);
                    (!order.is_empty()).then(|| order.remove(0))
                };
                if let Some(entry) = id.clone().and_then(|id| self.get(&id)) {
                    *lock(&self.taken) = id;
                    self.bump_positions();
                    return entry;
                }
            }
            notified.await;
        }
    }

    /// Queued requests' positions changed: their status streams say so.
    fn bump_positions(&self) {
        for id in lock(&self.order).clone() {
            if let Some(e) = self.get(&id) {
                e.bump();
            }
        }
    }

    /// No longer waiting for a slot (started, or finished before it).
    fn untake(&self, id: &str) {
        let mut taken = lock(&self.taken);
        if taken.as_deref() == Some(id) {
            *taken = None;
        }
    }

    pub fn start(&self, entry: &Entry) {
        self.untake(&entry.snapshot().id);
        {
            let mut r = lock(&entry.record);
            r.state = State::Running;
            r.started_at = Some(now());
            r.attempts += 1;
        }
        self.persist(entry);
        entry.bump();
    }

    pub fn finish(&self, entry: &Entry, outcome: Outcome) {
        self.untake(&entry.snapshot().id);
        {
            let mut r = lock(&entry.record);
            r.state = State::Completed;
            r.finished_at = Some(now());
            r.outcome = Some(outcome);
        }
        self.persist(entry);
        entry.bump();
    }

    pub fn webhook_delivered(&self, entry: &Entry) {
        lock(&entry.record).webhook_delivered = true;
        self.persist(entry);
    }

    pub fn log(&self, entry: &Entry, log: LogEntry) {
        let id = lock(&entry.record).id.clone();
        if let Ok(line) = serde_json::to_string(&log) {
            use std::io::Write;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.logs_path(&id));
            if let Err(e) = file.and_then(|mut f| writeln!(f, "{line}")) {
                tracing::warn!("{id}: writing its log: {e}");
            }
        }
        lock(&entry.logs).push(log);
        entry.bump();
    }

    pub fn cancel(&self, id: &str) -> CancelOutcome {
        let Some(entry) = self.get(id) else {
            return CancelOutcome::NotFound;
        };
        let state = lock(&entry.record).state;
        match state {
            State::Completed => CancelOutcome::AlreadyCompleted,
            State::Queued => {
                lock(&self.order).retain(|x| x != id);
                self.log(
                    &entry,
                    LogEntry::new("INFO", "cancelled before it started".into()),
                );
                self.finish(&entry, Outcome::failed(&ApiError::cancelled(), None));
                self.bump_positions();
                CancelOutcome::Requested
            }
            State::Running => {
                self.log(
                    &entry,
                    LogEntry::new("INFO", "cancelling: stopping the running stages".into()),
                );
                entry.cancel.cancel();
                CancelOutcome::Requested
            }
        }
    }

    /// Queued requests whose start deadline (`X-Fal-Request-Timeout`) has
    /// passed: finished as timed out, returned for their webhooks.
    pub fn expire(&self, timeout: &ApiError) -> Vec<Arc<Entry>> {
        let now = now();
        let queued = lock(&self.order).clone();
        let late: Vec<Arc<Entry>> = queued
            .iter()
            .filter_map(|id| self.get(id))
            .filter(|e| lock(&e.record).start_by.is_some_and(|t| now > t))
            .collect();
        for entry in &late {
            let id = entry.snapshot().id;
            lock(&self.order).retain(|x| *x != id);
            self.finish(entry, Outcome::failed(timeout, None));
        }
        if !late.is_empty() {
            self.bump_positions();
        }
        late
    }

    /// Stop starting requests (SIGTERM): what is queued stays queued on disk.
    pub fn drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The `limit` most recently submitted requests, newest first (by
    /// reference: a record's input may be a large `data:` URI).
    pub fn recent(&self, limit: usize) -> Vec<Arc<Entry>> {
        let mut entries: Vec<(f64, Arc<Entry>)> = lock(&self.entries)
            .values()
            .map(|e| (lock(&e.record).submitted_at, e.clone()))
            .collect();
        entries.sort_by(|a, b| b.0.total_cmp(&a.0));
        entries.truncate(limit);
        entries.into_iter().map(|(_, e)| e).collect()
    }

    /// Completed requests whose webhook has not been delivered yet.
    pub fn undelivered(&self) -> Vec<Arc<Entry>> {
        lock(&self.entries)
            .values()
            .filter(|e| {
                let r = lock(&e.record);
                r.state == State::Completed && r.webhook.is_some() && !r.webhook_delivered
            })
            .cloned()
            .collect()
    }

    /// Forget requests that finished more than `keep` seconds ago; returns
    /// their ids (the caller removes their files).
    pub fn collect(&self, keep: f64) -> Vec<String> {
        let cutoff = now() - keep;
        let old: Vec<String> = lock(&self.entries)
            .values()
            .filter_map(|e| {
                let r = lock(&e.record);
                (r.state == State::Completed && r.finished_at.is_some_and(|t| t < cutoff))
                    .then(|| r.id.clone())
            })
            .collect();
        for id in &old {
            lock(&self.entries).remove(id);
            let _ = std::fs::remove_file(self.record_path(id));
            let _ = std::fs::remove_file(self.logs_path(id));
        }
        old
    }

    /// Write the record atomically (a crash leaves the old or the new one).
    fn persist(&self, entry: &Entry) {
        let record = entry.snapshot();
        let path = self.record_path(&record.id);
        let tmp = path.with_extension("json.tmp");
        let result = serde_json::to_vec(&record)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = result {
            tracing::error!("{}: saving the request: {e}", path.display());
        }
    }
}

fn read_logs(path: &Path) -> Vec<LogEntry> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `2026-12-01T11:45:00.123+00:00` (UTC; Python's fromisoformat reads it).
pub fn iso8601(t: f64) -> String {
    let secs = t.floor() as i64;
    let millis = ((t - t.floor()) * 1000.0) as u32;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}+00:00",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, priority: Priority, at: f64) -> Record {
        let mut r = Record::queued(
            id.into(),
            "local/vantage".into(),
            Endpoint::Sync,
            json!({}),
            "http://x".into(),
        );
        r.priority = priority;
        r.submitted_at = at;
        r
    }

    #[test]
    fn timestamps() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(iso8601(1_796_125_500.25), "2026-12-01T11:45:00.250+00:00");
    }

    #[tokio::test]
    async fn priority_then_arrival_and_a_restart_requeues_running_work() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path(), 10).unwrap();
        let _ = q.submit(record("low", Priority::Low, 1.0));
        let _ = q.submit(record("b", Priority::Normal, 3.0));
        let _ = q.submit(record("a", Priority::Normal, 2.0));
        assert_eq!(q.position("a"), Some(0));
        assert_eq!(q.position("low"), Some(2));
        let first = q.next().await;
        q.start(&first);
        assert_eq!(first.snapshot().id, "a");
        assert!(matches!(q.cancel("b"), CancelOutcome::Requested));
        assert!(matches!(q.cancel("b"), CancelOutcome::AlreadyCompleted));
        drop(q);
        // "a" was running when the process went away: it is queued again, first.
        let q = Queue::open(dir.path(), 10).unwrap();
        assert_eq!(q.position("a"), Some(0));
        assert_eq!(q.position("low"), Some(1));
        assert_eq!(q.get("b").unwrap().snapshot().outcome.unwrap().status, 499);
        // Finished requests are collected once older than the keep time.
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert_eq!(q.collect(3600.0), Vec::<String>::new());
        assert_eq!(q.collect(0.0), ["b".to_string()]);
        assert!(q.get("b").is_none() && !dir.path().join("b.json").exists());
        let full = Queue::open(dir.path(), 2).unwrap();
        assert!(matches!(
            full.submit(record("c", Priority::Normal, 4.0)),
            Err(Refused::Full)
        ));
    }
}
