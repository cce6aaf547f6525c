//! The web playground: one page, built into the binary, that does what the
//! old Gradio app did (drop a video and a narration, pick a mode, watch it
//! run, compare the result). It is a client of this server's own public
//! API and nothing else: uploads through `/storage/upload/initiate`, the
//! sync through fal's queue protocol (the proxy form the JS client uses in a
//! browser: `x-fal-target-url` on this origin), recent requests from
//! `GET /requests`. What the page cannot ask the API (installed models,
//! whether keys are needed, the upload limit) is written into it here.

use crate::routes::At;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

const PAGE: &str = include_str!("../playground/index.html");
const SCRIPT: &str = include_str!("../playground/app.js");
const STYLE: &str = include_str!("../playground/style.css");

/// Where the page's settings go (a JSON data block, not a script).
const CONFIG_SLOT: &str = "{/*config*/}";

/// The page may load media and frames from wherever outputs are published
/// (this server, S3, the fal CDN); it runs only its own script and talks
/// only to this origin.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src * data: blob:; media-src * blob:; frame-src *; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// `GET /` and `GET /playground`.
pub async fn page(State(at): State<At>) -> Response {
    let models: Vec<String> = at
        .api
        .weights
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter(|w| w.kind == vantage_weights::Kind::Whisper)
        .map(|w| w.name)
        .collect();
    let config = json!({
        "keys_required": !at.api.keys.is_empty(),
        "models": models,
        "max_upload_bytes": at.api.uploads.max_bytes,
        "version": env!("CARGO_PKG_VERSION"),
    });
    // `<` escaped: the JSON cannot close the element it sits in.
    let config = config.to_string().replace('<', "\\u003c");
    let html = PAGE.replacen(CONFIG_SLOT, &config, 1);
    respond("text/html; charset=utf-8", html)
}

/// `GET /playground/app.js`, `/playground/style.css`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => respond("text/javascript; charset=utf-8", SCRIPT.to_string()),
        "style.css" => respond("text/css; charset=utf-8", STYLE.to_string()),
        _ => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

fn respond(content_type: &'static str, body: String) -> Response {
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The page changes with the binary; never serve a stale one.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_its_config_slot_and_assets() {
        assert_eq!(PAGE.matches(CONFIG_SLOT).count(), 1);
        assert!(PAGE.contains("/playground/app.js"));
        assert!(PAGE.contains("/playground/style.css"));
    }
}
