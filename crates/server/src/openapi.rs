//! `GET /openapi.json`: OpenAPI 3.1 for the direct API, its schemas
//! generated from the same types the handlers parse and answer with (plus
//! the `ui` field hints fal's playground reads, set on those types).

use crate::model::{
    BatchInput, BatchOutput, ErrorBody, Health, PipelineInput, PipelineOutput, RecentRequests,
    StreamEvent, SyncInput, SyncResult, ValidationErrors,
};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Value};

/// The document; `pipelines` are the names `/pipelines/{name}` accepts.
pub fn document(pipelines: &[&str]) -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "#/components/schemas".into();
    let mut gen = settings.into_generator();
    let sync_in = sub::<SyncInput>(&mut gen);
    let sync_out = sub::<SyncResult>(&mut gen);
    let batch_in = sub::<BatchInput>(&mut gen);
    let batch_out = sub::<BatchOutput>(&mut gen);
    let pipe_in = sub::<PipelineInput>(&mut gen);
    let pipe_out = sub::<PipelineOutput>(&mut gen);
    let event = sub::<StreamEvent>(&mut gen);
    let health = sub::<Health>(&mut gen);
    let recent = sub::<RecentRequests>(&mut gen);
    let invalid = sub::<ValidationErrors>(&mut gen);
    let failed = sub::<ErrorBody>(&mut gen);
    let errors = Errors { invalid, failed };
    let sync_doc = "Synchronise a video to a new narration: align the two audios word by word, re-time the picture, synthesise the frames that would repeat, mux the new audio.";
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/sync".into(),
        json!({"post": errors.op("sync", sync_doc, &sync_in, json_body(&sync_out))}),
    );
    paths.insert("/diagnostic".into(), json!({"post": errors.op("diagnostic", "A sync that always renders the diagnostic: the three-panel video, the warp plot and the report.", &sync_in, json_body(&sync_out))}));
    paths.insert("/batch".into(), json!({"post": errors.op("batch", "Several syncs with bounded concurrency; each input gets its own output or its own error, in order.", &batch_in, json_body(&batch_out))}));
    paths.insert("/stream".into(), json!({"post": errors.op("stream", "A sync that answers with server-sent events: progress while it runs, then the result (or the error) as the last event.", &sync_in, json!({"description": "progress events, then the result", "content": {"text/event-stream": {"schema": event}}}))}));
    let mut pipeline = errors.op(
        "pipeline",
        "Run a pipeline on the server's allow-list with inputs by URL and typed parameters.",
        &pipe_in,
        json_body(&pipe_out),
    );
    pipeline["parameters"] = json!([{"name": "name", "in": "path", "required": true, "description": "a pipeline on this server's allow-list", "schema": {"type": "string", "enum": pipelines}}]);
    pipeline["responses"]["404"] = json!({"description": "no such pipeline on this server", "content": {"application/json": {"schema": errors.failed}}});
    paths.insert("/pipelines/{name}".into(), json!({"post": pipeline}));
    paths.insert("/requests".into(), json!({"get": {
        "operationId": "recent_requests",
        "summary": "The queue's most recent requests, newest first, with their status",
        "parameters": [{"name": "limit", "in": "query", "required": false, "description": "how many (default 20, at most 200)", "schema": {"type": "integer", "minimum": 1, "maximum": 200}}],
        "responses": {"200": json_body(&recent), "401": {"description": "no key, or not one of the server's keys", "content": {"application/json": {"schema": errors.failed}}}},
    }}));
    paths.insert("/health".into(), json!({"get": {"operationId": "health", "summary": "Alive: 200 while the process runs", "security": [], "responses": {"200": json_body(&health)}}}));
    paths.insert("/health/ready".into(), json!({"get": {"operationId": "ready", "summary": "Ready: 200 once warm, 503 while draining", "security": [], "responses": {"200": json_body(&health), "503": json_body(&health)}}}));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Vantage",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Re-time a video so its picture follows a new audio track. The same endpoints answer under any /{owner}/{alias}/ prefix, and the queue listener speaks fal's queue protocol for them.",
        },
        "paths": paths,
        "components": {
            "schemas": gen.take_definitions(true),
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "Key <key>, when the server has --keys-file"}},
        },
        "security": [{"key": []}],
        "x-fal-order-paths": ["/sync", "/diagnostic", "/batch", "/stream", "/pipelines/{name}"],
    })
}

/// A `$ref` to `T`'s schema (added to the components).
fn sub<T: JsonSchema>(gen: &mut SchemaGenerator) -> Value {
    serde_json::to_value(gen.subschema_for::<T>()).unwrap_or(Value::Null)
}

fn json_body(schema: &Value) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
}

struct Errors {
    invalid: Value,
    failed: Value,
}

impl Errors {
    fn op(&self, id: &str, summary: &str, input: &Value, ok: Value) -> Value {
        let failed = |d: &str| json!({"description": d, "content": {"application/json": {"schema": self.failed}}});
        json!({
            "operationId": id,
            "summary": summary,
            "requestBody": {"required": true, "content": {"application/json": {"schema": input}}},
            "responses": {
                "200": ok,
                "401": failed("no key, or not one of the server's keys"),
                "413": failed("the body is over the server's limit (--max-body-mb)"),
                "422": {
                    "description": "the body does not fit the schema (FastAPI's shape), or the media cannot work (a message and an error type)",
                    "content": {"application/json": {"schema": {"anyOf": [self.invalid, self.failed]}}}
                },
                "499": failed("cancelled"),
                "500": failed("a failure of Vantage or the machine"),
            }
        })
    }
}
