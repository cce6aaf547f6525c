//! Server-sent events: the queue's status stream (closed after COMPLETED,
//! a keep-alive comment every 15 s) and the direct `/stream` endpoint
//! (progress events, then the result or the error as the last event).

use crate::job::{Cancel, Endpoint, Job};
use crate::model::{ErrorBody, StreamEvent};
use crate::queue::Entry;
use crate::routes::{status_json, Api, Urls};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::Value;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use vantage_app::Event;

type Events = axum::response::Response;

fn sse<S: Stream<Item = Result<SseEvent, Infallible>> + Send + 'static>(s: S) -> Events {
    use axum::response::IntoResponse;
    Sse::new(s)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn data(v: &impl serde::Serialize) -> Result<SseEvent, Infallible> {
    Ok(SseEvent::default()
        .json_data(v)
        .unwrap_or_else(|_| SseEvent::default().data("{}")))
}

/// The request's status now and on every change; each event carries only
/// the log lines not sent before (the JS client accumulates them).
pub fn status(api: Arc<Api>, entry: Arc<Entry>, urls: Urls, with_logs: bool) -> Events {
    let changes = entry.changed.subscribe();
    let state = (api, entry, urls, changes, 0usize, Next::Now);
    sse(stream::unfold(
        state,
        move |(api, entry, urls, mut changes, sent, next)| async move {
            // Each event goes out as soon as it is made; the wait for the
            // next change comes after (a queued request may not change for minutes).
            let last = match next {
                Next::End => return None,
                Next::Now => false,
                Next::OnChange => changes.changed().await.is_err(),
            };
            changes.borrow_and_update();
            let (body, shown) = status_json(&api.queue, &entry, &urls, with_logs, sent);
            let next = if last || body["status"] == "COMPLETED" {
                Next::End
            } else {
                Next::OnChange
            };
            Some((data(&body), (api, entry, urls, changes, shown, next)))
        },
    ))
}

/// When the status stream sends its next event.
enum Next {
    Now,
    OnChange,
    End,
}

/// Cancels the job when the client goes away (the stream is dropped).
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Run a sync and stream its progress; the last event is the result.
pub fn sync(api: Arc<Api>, id: String, base: String, input: Value) -> Events {
    let (tx, rx) = mpsc::unbounded_channel::<StreamEvent>();
    let cancel = Cancel::default();
    let progress = tx.clone();
    let events: vantage_app::EventSink = Arc::new(move |e: &Event| {
        let event = match e {
            Event::Progress {
                stage,
                percent,
                message,
            } => StreamEvent::Progress {
                stage: stage.clone(),
                percent: *percent,
                message: message.clone(),
            },
            Event::Started { stage } | Event::Cached { stage } | Event::Done { stage, .. } => {
                StreamEvent::Progress {
                    stage: stage.clone(),
                    percent: if matches!(e, Event::Started { .. }) {
                        0.0
                    } else {
                        100.0
                    },
                    message: e.describe().unwrap_or_default(),
                }
            }
            _ => return,
        };
        let _ = progress.send(event);
    });
    let job_cancel = cancel.clone();
    tokio::spawn(async move {
        let _permit = api.ctx.running.acquire().await;
        let job = Job {
            ctx: &api.ctx,
            id,
            link_base: base.clone(),
            base,
            events,
            cancel: job_cancel,
        };
        let last = match job.execute(&Endpoint::Sync, &input).await {
            Ok(v) => serde_json::from_value(v)
                .map(|r| StreamEvent::Result(Box::new(r)))
                .unwrap_or_else(|e| {
                    StreamEvent::Error(ErrorBody {
                        detail: e.to_string(),
                        error_type: "internal_error".into(),
                        remedies: Vec::new(),
                    })
                }),
            Err(e) => StreamEvent::Error(e.to_body()),
        };
        let _ = tx.send(last);
    });
    let guard = CancelOnDrop(cancel);
    sse(stream::unfold(
        (rx, guard, false),
        |(mut rx, guard, done)| async move {
            if done {
                return None;
            }
            let event = rx.recv().await?;
            let last = !matches!(event, StreamEvent::Progress { .. });
            Some((data(&event), (rx, guard, last)))
        },
    ))
}
