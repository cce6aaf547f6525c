//! HTTP: the two listeners' routes. The run listener answers the direct API
//! (`/sync`, `/diagnostic`, `/batch`, `/stream`, `/pipelines/{name}`, also
//! under any `/{owner}/{alias}/` prefix); the queue listener speaks fal's
//! queue protocol. Both serve health, the OpenAPI document, files, uploads,
//! and requests forwarded by the JS client's proxy (`x-fal-target-url`).

use crate::error::ApiError;
use crate::job::{Cancel, Endpoint, Job};
use crate::queue::{self, CancelOutcome, Entry, LogEntry, Priority, Queue, Record, Refused, State};
use crate::state::Ctx;
use crate::{storage, stream};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use vantage_app::{Event, EventSink};

/// Everything the handlers share.
pub struct Api {
    pub ctx: Arc<Ctx>,
    pub queue: Arc<Queue>,
    pub webhooks: crate::webhook::Webhooks,
    pub uploads: storage::Uploads,
    /// The installed models (the playground offers them).
    pub weights: vantage_weights::Store,
    /// Accepted `Authorization: Key ...` values (none: no auth).
    pub keys: Vec<String>,
    pub ready: AtomicBool,
    pub tls: bool,
    pub max_body: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Run,
    Queue,
}

/// What a request is addressed to (the listener, or the proxy's target host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Run,
    Queue,
    Rest,
}

/// A handler's state: the shared API and the listener it came in on.
#[derive(Clone)]
pub struct At {
    pub api: Arc<Api>,
    listener: Listener,
}

pub fn router(api: Arc<Api>, listener: Listener) -> Router {
    let files = tower_http::services::ServeDir::new(api.ctx.data.files());
    let max_body = api.max_body;
    let mut router = Router::new();
    if listener == Listener::Run {
        // `POST /` is still `/sync`: only GET is the page.
        router = router
            .route("/", get(crate::playground::page).fallback(dispatch))
            .route("/playground", get(crate::playground::page))
            .route("/playground/{asset}", get(crate::playground::asset));
    }
    router
        .route("/health", get(health))
        .route("/requests", get(recent).fallback(dispatch))
        .route("/health/ready", get(ready))
        .route("/openapi.json", get(openapi))
        .route("/storage/upload/{token}", put(storage::put_upload))
        .route("/storage/upload/initiate", post(initiate))
        .nest_service("/files", files)
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::cors::CorsLayer::permissive())
        .with_state(At { api, listener })
}

async fn health(AxState(at): AxState<At>) -> Response {
    Json(at.api.health()).into_response()
}

async fn ready(AxState(at): AxState<At>) -> Response {
    let h = at.api.health();
    let status = if h.status == "ready" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(h)).into_response()
}

async fn openapi(AxState(at): AxState<At>) -> Response {
    let names: Vec<&str> = at.api.ctx.pipelines.keys().map(String::as_str).collect();
    Json(crate::openapi::document(&names)).into_response()
}

async fn initiate(AxState(at): AxState<At>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = at.api.authorize(&headers) {
        return e.into_response();
    }
    let base = at.api.base(&headers);
    at.api.uploads.initiate(&base, &body).into_response()
}

impl Api {
    pub fn health(&self) -> crate::model::Health {
        let status = if self.queue.is_draining() {
            "draining"
        } else if self.ready.load(Ordering::SeqCst) {
            "ready"
        } else {
            "starting"
        };
        crate::model::Health {
            status: status.into(),
            // Slots held, not `active` (a queued job counts twice there).
            running: self.ctx.max_running - self.ctx.running.available_permits(),
            queued: self.queue.queued(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    pub fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.keys.is_empty() {
            return Ok(());
        }
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Key ").or_else(|| v.strip_prefix("Bearer ")))
            .map(str::trim);
        match given {
            Some(key) if self.keys.iter().any(|k| constant_time_eq(k, key)) => Ok(()),
            Some(_) => Err(ApiError::new(
                401,
                "unauthorized",
                "the key in the Authorization header is not one of this server's keys",
            )),
            None => Err(ApiError::new(
                401,
                "unauthorized",
                "this server needs a key: send 'Authorization: Key <key>'",
            )),
        }
    }

    /// `scheme://host` as the client addressed this server.
    fn base(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.ctx.public_url {
            return url.clone();
        }
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("{}://{host}", if self.tls { "https" } else { "http" })
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    blake3::hash(a.as_bytes()) == blake3::hash(b.as_bytes())
}

/// Everything that is not a fixed route: by listener (or the proxy's
/// target), method and path.
async fn dispatch(
    AxState(at): AxState<At>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let api = at.api.clone();
    let base = api.base(&headers);
    let (target, path, query, queue_base) = match headers
        .get("x-fal-target-url")
        .and_then(|v| v.to_str().ok())
    {
        Some(url) => match parse_target(url) {
            Some((target, origin, path, query)) => (target, path, query, origin),
            None => {
                return ApiError::new(
                    400,
                    "invalid_request",
                    format!("x-fal-target-url '{url}' is not a fal URL"),
                )
                .into_response()
            }
        },
        None => {
            let target = match at.listener {
                Listener::Run => Target::Run,
                Listener::Queue => Target::Queue,
            };
            (
                target,
                uri.path().to_string(),
                uri.query().unwrap_or("").to_string(),
                base.clone(),
            )
        }
    };
    if let Err(e) = api.authorize(&headers) {
        return e.into_response();
    }
    let body = match read_body(body, api.max_body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match target {
        Target::Rest if method == Method::POST && segs == ["storage", "upload", "initiate"] => {
            api.uploads.initiate(&base, &body).into_response()
        }
        Target::Rest => not_found(&path),
        Target::Queue => {
            queue_route(
                &api,
                &method,
                &segs,
                &query,
                &headers,
                body,
                &base,
                &queue_base,
            )
            .await
        }
        Target::Run => run_route(&api, &method, &segs, &headers, body, &base).await,
    }
}

/// The whole body, read here rather than by an extractor so that one over
/// `limit` gets a JSON 413 like every other answer. Past the limit the rest
/// is read and dropped (up to as much again) before answering: a client
/// still sending would otherwise see the connection reset, not the 413.
async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::new(400, "invalid_request", format!("reading the body: {e}")))?;
        seen += chunk.len();
        if seen <= limit {
            kept.extend_from_slice(&chunk);
        } else if seen > 2 * limit {
            break;
        }
    }
    if seen > limit {
        let mb = limit >> 20;
        let msg = format!("the request body is over this server's limit of {mb} MiB (--max-body-mb); send large media by URL");
        return Err(ApiError::new(413, "request_too_large", msg));
    }
    Ok(Bytes::from(kept))
}

/// `https://queue.fal.run/a/b/c?x=1` -> (Queue, "https://queue.fal.run", "/a/b/c", "x=1").
fn parse_target(url: &str) -> Option<(Target, String, String, String)> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let target = if host.starts_with("queue.") {
        Target::Queue
    } else if host.starts_with("rest.") {
        Target::Rest
    } else {
        Target::Run
    };
    let origin = parsed.origin().ascii_serialization();
    Some((
        target,
        origin,
        parsed.path().to_string(),
        parsed.query().unwrap_or("").to_string(),
    ))
}

fn not_found(path: &str) -> Response {
    ApiError::new(404, "not_found", format!("nothing at {path}")).into_response()
}

/// The endpoint a path names, and the `owner/alias` prefix it came under
/// (empty without one: its queue URLs are then `/requests/{id}...`).
fn endpoint_of(segs: &[&str]) -> Option<(Endpoint, String)> {
    if let Some(e) = Endpoint::parse(segs) {
        return Some((e, String::new()));
    }
    let (app, rest) = (segs.get(..2)?, &segs[2..]);
    Endpoint::parse(rest).map(|e| (e, app.join("/")))
}

async fn run_route(
    api: &Arc<Api>,
    method: &Method,
    segs: &[&str],
    headers: &HeaderMap,
    body: Bytes,
    base: &str,
) -> Response {
    if method != Method::POST {
        return ApiError::new(
            405,
            "method_not_allowed",
            "the endpoints take POST with a JSON body",
        )
        .into_response();
    }
    if segs.last() == Some(&"cancel") {
        return cancel_direct(api, headers);
    }
    let Some((endpoint, _)) = endpoint_of(segs) else {
        return not_found(&format!("/{}", segs.join("/")));
    };
    let input = match endpoint.validate(&api.ctx, &body, base) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let id = headers
        .get("x-fal-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(crate::new_id, str::to_string);
    if endpoint == Endpoint::Stream {
        return stream::sync(api.clone(), id, base.to_string(), input).into_response();
    }
    let cancel = Cancel::default();
    let _registered = DirectGuard::register(&api.ctx, &id, &cancel);
    let _permit = api.ctx.running.acquire().await;
    let job = Job {
        ctx: &api.ctx,
        id: id.clone(),
        base: base.to_string(),
        link_base: base.to_string(),
        events: Arc::new(|_: &Event| {}),
        cancel: cancel.clone(),
    };
    // Dropping this future (the client went away) drops the run: its stages stop.
    let result = job.execute(&endpoint, &input).await;
    let mut resp = match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-fal-request-id", v);
    }
    resp
}

/// fal forwards a cancel of a direct request to `{path}/cancel` with the
/// same `x-fal-request-id`.
fn cancel_direct(api: &Api, headers: &HeaderMap) -> Response {
    let id = headers
        .get("x-fal-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match queue::lock(&api.ctx.direct).get(id) {
        Some(cancel) => {
            cancel.cancel();
            (
                StatusCode::ACCEPTED,
                Json(json!({"status": "CANCELLATION_REQUESTED"})),
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, Json(json!({"status": "NOT_FOUND"}))).into_response(),
    }
}

/// Keeps a direct request cancellable by id while it runs.
struct DirectGuard<'a> {
    ctx: &'a Ctx,
    id: String,
}

impl<'a> DirectGuard<'a> {
    fn register(ctx: &'a Ctx, id: &str, cancel: &Cancel) -> Self {
        queue::lock(&ctx.direct).insert(id.to_string(), cancel.clone());
        DirectGuard {
            ctx,
            id: id.to_string(),
        }
    }
}

impl Drop for DirectGuard<'_> {
    fn drop(&mut self) {
        queue::lock(&self.ctx.direct).remove(&self.id);
    }
}

#[allow(clippy::too_many_arguments)]
async fn queue_route(
    api: &Arc<Api>,
    method: &Method,
    segs: &[&str],
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
    base: &str,
    queue_base: &str,
) -> Response {
    let with_logs = query_param(query, "logs").is_some_and(|v| v == "1" || v == "true");
    let at = ["workflows", "comfy"].contains(segs.first().unwrap_or(&"")) as usize;
    let requests = [0, 2 + at]
        .into_iter()
        .find(|&i| segs.get(i) == Some(&"requests"));
    if let Some(i) = requests {
        let Some(id) = segs.get(i + 1) else {
            return not_found("/requests");
        };
        let app = segs[..i].join("/");
        let rest = &segs[i + 2..];
        let Some(entry) = api.queue.get(id) else {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"detail": format!("no request {id}")})),
            )
                .into_response();
        };
        let urls = Urls::new(queue_base, &app, id);
        return match (method.clone(), rest) {
            (Method::GET, []) => result(&entry, id, base),
            (Method::GET, ["status"]) => {
                let status = status_json(&api.queue, &entry, &urls, with_logs, 0).0;
                let code = if status["status"] == "COMPLETED" {
                    StatusCode::OK
                } else {
                    StatusCode::ACCEPTED
                };
                (code, Json(status)).into_response()
            }
            (Method::GET, ["status", "stream"]) => {
                stream::status(api.clone(), entry, urls, with_logs).into_response()
            }
            (Method::PUT, ["cancel"]) => cancel_queued(api, id),
            _ => ApiError::new(
                405,
                "method_not_allowed",
                "GET .../requests/{id}[/status[/stream]] or PUT .../cancel",
            )
            .into_response(),
        };
    }
    if method != Method::POST {
        return not_found(&format!("/{}", segs.join("/")));
    }
    let Some((endpoint, app)) = endpoint_of(segs) else {
        return not_found(&format!("/{}", segs.join("/")));
    };
    submit(api, endpoint, app, query, headers, &body, base, queue_base)
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The three URLs a queued request is known by.
pub struct Urls {
    pub response: String,
    pub status: String,
    pub cancel: String,
}

impl Urls {
    fn new(base: &str, app: &str, id: &str) -> Self {
        let response = if app.is_empty() {
            format!("{base}/requests/{id}")
        } else {
            format!("{base}/{app}/requests/{id}")
        };
        Urls {
            status: format!("{response}/status"),
            cancel: format!("{response}/cancel"),
            response,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn submit(
    api: &Arc<Api>,
    endpoint: Endpoint,
    app: String,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    base: &str,
    queue_base: &str,
) -> Response {
    let input = match endpoint.validate(&api.ctx, body, base) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let webhook = query_param(query, "fal_webhook");
    if let Some(url) = &webhook {
        if let Err((msg, kind)) = api.ctx.fetcher.policy().check(url).and_then(|()| {
            url.starts_with("http")
                .then_some(())
                .ok_or(("a webhook must be an http(s) URL".into(), "url_scheme"))
        }) {
            return ApiError::validation(vec![crate::model::FieldError::new(
                vec![json!("query"), json!("fal_webhook")],
                msg,
                kind,
            )])
            .into_response();
        }
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let priority = match header("x-fal-queue-priority") {
        Some("low") => Priority::Low,
        _ => Priority::Normal,
    };
    let now = queue::now();
    let start_by = header("x-fal-request-timeout")
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .map(|t| now + t);
    let id = crate::new_id();
    let mut record = Record::queued(id.clone(), app.clone(), endpoint, input, base.to_string());
    record.priority = priority;
    record.webhook = webhook;
    record.start_by = start_by;
    let entry = match api.queue.submit(record) {
        Ok(e) => e,
        Err(refused) => {
            let msg = match refused {
                Refused::Full => format!(
                    "the queue is full ({} requests); retry later",
                    api.queue.max_queue
                ),
                Refused::Draining => {
                    "the server is shutting down; retry on another replica".to_string()
                }
            };
            let mut resp = ApiError::new(429, "queue_full", msg).into_response();
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_static("10"));
            return resp;
        }
    };
    api.queue
        .log(&entry, LogEntry::new("INFO", "queued".into()));
    let urls = Urls::new(queue_base, &app, &id);
    let mut body = status_json(&api.queue, &entry, &urls, false, 0).0;
    body["request_id"] = json!(id);
    let mut resp = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-fal-request-id", v);
    }
    resp
}

/// The status body fal's clients read, and how many log lines it holds
/// from `logs_from` on (`with_logs`) .
pub fn status_json(
    queue: &Queue,
    entry: &Entry,
    urls: &Urls,
    with_logs: bool,
    logs_from: usize,
) -> (Value, usize) {
    let record = entry.snapshot();
    let logs = queue::lock(&entry.logs);
    let shown = logs.len();
    let log_value = if with_logs {
        json!(logs[logs_from.min(shown)..])
    } else {
        Value::Null
    };
    let mut body = json!({
        "request_id": record.id,
        "response_url": urls.response,
        "status_url": urls.status,
        "cancel_url": urls.cancel,
        "logs": log_value,
    });
    body["status"] = json!(status_name(record.state));
    match record.state {
        State::Queued => {
            body["queue_position"] = json!(queue.position(&record.id).unwrap_or(0));
        }
        State::Running => {}
        State::Completed => {
            let outcome = record.outcome.as_ref();
            body["metrics"] = json!({"inference_time": outcome.and_then(|o| o.inference_time)});
            if let Some(o) = outcome.filter(|o| o.error.is_some()) {
                body["error"] = json!(o.error);
                body["error_type"] = json!(o.error_type);
            }
        }
    }
    (body, shown)
}

fn result(entry: &Entry, id: &str, base: &str) -> Response {
    let record = entry.snapshot();
    let mut resp = match (&record.state, &record.outcome) {
        (State::Completed, Some(o)) => {
            let body = crate::job::absolutize(&o.body, base);
            match &o.error_type {
                // The request's own error, with the headers a direct answer has.
                Some(error_type) => ApiError {
                    status: o.status,
                    error_type: error_type.clone(),
                    body,
                }
                .into_response(),
                None => Json(body).into_response(),
            }
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": "Request is still in progress"})),
        )
            .into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-fal-request-id", v);
    }
    resp
}

fn cancel_queued(api: &Api, id: &str) -> Response {
    match api.queue.cancel(id) {
        CancelOutcome::Requested => (
            StatusCode::ACCEPTED,
            Json(json!({"status": "CANCELLATION_REQUESTED"})),
        )
            .into_response(),
        CancelOutcome::AlreadyCompleted => (
            StatusCode::BAD_REQUEST,
            Json(json!({"status": "ALREADY_COMPLETED"})),
        )
            .into_response(),
        CancelOutcome::NotFound => {
            (StatusCode::NOT_FOUND, Json(json!({"status": "NOT_FOUND"}))).into_response()
        }
    }
}

/// Run queued requests within `--max-running`, until the queue drains. The
/// next request is taken before a slot is waited for, so that an idle queue
/// holds no slot the direct endpoints could use.
pub async fn schedule(api: Arc<Api>) {
    loop {
        let entry = api.queue.next().await;
        // Waiting for a slot, it may still pass its start deadline.
        let deadline = entry.snapshot().start_by.map(|t| {
            let left = (t - queue::now()).max(0.0);
            tokio::time::Instant::now() + std::time::Duration::from_secs_f64(left)
        });
        let slot = api.ctx.running.clone().acquire_owned();
        let permit = match deadline {
            Some(at) => tokio::select! {
                p = slot => p,
                () = tokio::time::sleep_until(at) => {
                    api.queue.finish(&entry, queue::Outcome::failed(&start_timeout(), None));
                    api.webhooks.send(api.queue.clone(), entry);
                    continue;
                }
            },
            None => slot.await,
        };
        let Ok(permit) = permit else {
            return;
        };
        // Counted before the drain check (a shutdown sets the flag, then
        // waits for the count), so a request that starts is waited for.
        let admitted = Admitted::new(&api);
        if api.queue.is_draining() {
            return; // it stays queued on disk for the next start
        }
        // Cancelled while it waited for the slot.
        if entry.snapshot().state != State::Queued {
            continue;
        }
        tokio::spawn(async move {
            run_queued(&admitted.0, &entry).await;
            drop((permit, admitted));
        });
    }
}

/// A queued request counted in [`Ctx::active`] from its admission to the
/// end of its task (the job counts itself again while it runs).
struct Admitted(Arc<Api>);

impl Admitted {
    fn new(api: &Arc<Api>) -> Self {
        api.ctx.active.fetch_add(1, Ordering::SeqCst);
        Admitted(api.clone())
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.ctx.active.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn start_timeout() -> ApiError {
    ApiError::new(
        504,
        "request_timeout",
        "the request did not start before its X-Fal-Request-Timeout",
    )
}

/// Every second: queued requests past their start deadline time out.
pub async fn expire_deadlines(api: Arc<Api>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        for entry in api.queue.expire(&start_timeout()) {
            api.webhooks.send(api.queue.clone(), entry);
        }
    }
}

async fn run_queued(api: &Arc<Api>, entry: &Arc<Entry>) {
    let record = entry.snapshot();
    if record.start_by.is_some_and(|t| queue::now() > t) {
        api.queue
            .finish(entry, queue::Outcome::failed(&start_timeout(), None));
        api.webhooks.send(api.queue.clone(), entry.clone());
        return;
    }
    api.queue.start(entry);
    api.queue.log(
        entry,
        LogEntry::new("INFO", format!("started (attempt {})", record.attempts + 1)),
    );
    let job = Job {
        ctx: &api.ctx,
        id: record.id.clone(),
        base: record.base.clone(),
        // Stored with relative URLs: the result is answered on the address
        // the client uses then (which may change across restarts).
        link_base: String::new(),
        events: log_events(api.queue.clone(), entry.clone()),
        cancel: entry.cancel.clone(),
    };
    let started = std::time::Instant::now();
    let outcome = match job.execute(&record.endpoint, &record.input).await {
        Ok(v) => queue::Outcome::ok(v, started.elapsed().as_secs_f64()),
        Err(e) => {
            api.queue.log(entry, LogEntry::new("ERROR", e.message()));
            queue::Outcome::failed(&e, Some(started.elapsed().as_secs_f64()))
        }
    };
    api.queue.finish(entry, outcome);
    api.webhooks.send(api.queue.clone(), entry.clone());
}

/// Every stage event as a log entry of the request, labelled with its stage,
/// what happened and the stage's percent (so a page can draw progress bars
/// without reading the messages).
fn log_events(queue: Arc<Queue>, entry: Arc<Entry>) -> EventSink {
    Arc::new(move |e: &Event| {
        let (level, message, labels) = match e {
            Event::Queued { stage, .. } => (
                "DEBUG",
                format!("{stage}: waiting for a slot"),
                stage_label(stage, "queued", 0.0),
            ),
            Event::Started { stage } => ("INFO", describe(e), stage_label(stage, "started", 0.0)),
            Event::Progress {
                stage,
                percent,
                message,
            } => (
                "INFO",
                format!("{stage}: {percent:.0}% {message}"),
                stage_label(stage, "progress", *percent),
            ),
            Event::Cached { stage } => ("INFO", describe(e), stage_label(stage, "cached", 100.0)),
            Event::Done { stage, .. } => ("INFO", describe(e), stage_label(stage, "done", 100.0)),
            Event::Failed { stage, .. } => {
                ("ERROR", describe(e), stage_label(stage, "failed", 0.0))
            }
            _ => ("INFO", describe(e), json!({})),
        };
        queue.log(&entry, LogEntry::new(level, message).labelled(labels));
    })
}

fn describe(e: &Event) -> String {
    e.describe().unwrap_or_default()
}

fn stage_label(stage: &str, event: &str, percent: f32) -> Value {
    json!({"stage": stage, "event": event, "percent": percent})
}

/// `GET /requests[?limit=N]`: the most recent queued requests (default 20,
/// at most 200) and their status, from the queue's durable state.
async fn recent(AxState(at): AxState<At>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(e) = at.api.authorize(&headers) {
        return e.into_response();
    }
    let limit = query_param(uri.query().unwrap_or(""), "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 200);
    let queue = &at.api.queue;
    let requests = queue
        .recent(limit)
        .into_iter()
        .map(|e| summary(queue, &e))
        .collect();
    Json(crate::model::RecentRequests { requests }).into_response()
}

fn summary(queue: &Queue, entry: &Entry) -> crate::model::RequestSummary {
    // Asked before the record is locked: the queue takes its order lock first.
    let id = queue::lock(&entry.record).id.clone();
    let queue_position = queue.position(&id);
    let r = queue::lock(&entry.record);
    let input = |name: &str| {
        let value = r.input.get(name).and_then(Value::as_str);
        value
            .filter(|v| !v.starts_with("data:"))
            .map(str::to_string)
    };
    let outcome = r.outcome.as_ref();
    crate::model::RequestSummary {
        request_id: id,
        app: r.app.clone(),
        endpoint: r.endpoint.path(),
        status: status_name(r.state).into(),
        queue_position,
        error: outcome.and_then(|o| o.error.clone()),
        error_type: outcome.and_then(|o| o.error_type.clone()),
        submitted_at: queue::iso8601(r.submitted_at),
        started_at: r.started_at.map(queue::iso8601),
        finished_at: r.finished_at.map(queue::iso8601),
        video_url: input("video_url"),
        audio_url: input("audio_url"),
        rife_mode: input("rife_mode"),
    }
}

/// A state as fal's status endpoint names it.
fn status_name(state: State) -> &'static str {
    match state {
        State::Queued => "IN_QUEUE",
        State::Running => "IN_PROGRESS",
        State::Completed => "COMPLETED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_endpoints_with_or_without_the_app() {
        let e = |p: &str| endpoint_of(&p.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>());
        assert_eq!(e("/"), Some((Endpoint::Sync, String::new())));
        assert_eq!(e("/sync"), Some((Endpoint::Sync, String::new())));
        assert_eq!(
            e("/local/vantage"),
            Some((Endpoint::Sync, "local/vantage".into()))
        );
        assert_eq!(
            e("/local/vantage/diagnostic"),
            Some((Endpoint::Diagnostic, "local/vantage".into()))
        );
        assert_eq!(
            e("/pipelines/sync"),
            Some((Endpoint::Pipeline("sync".into()), String::new()))
        );
        assert_eq!(
            e("/me/app/pipelines/sync-vfr"),
            Some((Endpoint::Pipeline("sync-vfr".into()), "me/app".into()))
        );
        assert_eq!(e("/me/app/nothing"), None);
        let t =
            parse_target("https://queue.fal.run/local/vantage/requests/1/status?logs=1").unwrap();
        assert_eq!(
            (t.0, t.1.as_str(), t.2.as_str(), t.3.as_str()),
            (
                Target::Queue,
                "https://queue.fal.run",
                "/local/vantage/requests/1/status",
                "logs=1"
            )
        );
        assert_eq!(
            parse_target("https://rest.fal.ai/storage/upload/initiate")
                .unwrap()
                .0,
            Target::Rest
        );
    }
}
