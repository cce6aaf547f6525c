//! Webhooks: when a queued request with `fal_webhook` finishes, POST
//! `{request_id, gateway_request_id, status, payload, error}` to it, retrying
//! with doubling delays (10 attempts over about 2 hours by default) on a task
//! of its own, so a slow or dead receiver never holds up the queue.

use crate::queue::{Entry, Queue, Record};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const ATTEMPTS: u32 = 10;

#[derive(Clone)]
pub struct Webhooks {
    client: reqwest::Client,
    /// The delay before the second attempt; each later one doubles it.
    pub first_delay: Duration,
}

impl Webhooks {
    pub fn new(client: reqwest::Client, first_delay: Duration) -> Self {
        Webhooks {
            client,
            first_delay,
        }
    }

    /// Deliver `entry`'s webhook in the background.
    pub fn send(&self, queue: Arc<Queue>, entry: Arc<Entry>) {
        let this = self.clone();
        tokio::spawn(async move {
            let record = entry.snapshot();
            let Some(url) = record.webhook.clone() else {
                return;
            };
            let body = body(&record);
            let mut delay = this.first_delay;
            for attempt in 1..=ATTEMPTS {
                match this.post(&url, &record.id, &body).await {
                    Ok(()) => {
                        queue.webhook_delivered(&entry);
                        return;
                    }
                    Err(e) if attempt == ATTEMPTS => {
                        tracing::warn!(
                            "{}: webhook {url} failed {ATTEMPTS} times, giving up: {e}",
                            record.id
                        );
                        queue.webhook_delivered(&entry);
                        return;
                    }
                    Err(e) => tracing::info!(
                        "{}: webhook attempt {attempt}: {e}; again in {delay:?}",
                        record.id
                    ),
                }
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        });
    }

    async fn post(&self, url: &str, id: &str, body: &Value) -> Result<(), String> {
        let resp = self
            .client
            .post(url)
            .timeout(Duration::from_secs(15))
            .header("x-fal-webhook-request-id", id)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {}", resp.status()))
        }
    }
}

/// The body fal posts: `status` OK with the result as `payload`, or ERROR
/// with the message and the error body as `payload`.
fn body(record: &Record) -> Value {
    let outcome = record.outcome.as_ref();
    let ok = outcome.is_some_and(|o| o.status == 200);
    json!({
        "request_id": record.id,
        // The last attempt's id: the request's own unless a restart ran it again.
        "gateway_request_id": if record.attempts > 1 { format!("{}-{}", record.id, record.attempts) } else { record.id.clone() },
        "status": if ok { "OK" } else { "ERROR" },
        "payload": outcome.map(|o| crate::job::absolutize(&o.body, &record.base)),
        "error": if ok { Value::Null } else {
            json!(outcome.and_then(|o| o.error.clone()).unwrap_or_else(|| "the request did not finish".into()))
        },
    })
}
