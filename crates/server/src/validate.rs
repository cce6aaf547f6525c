//! Request bodies to typed inputs, or the 422 a FastAPI app would give:
//! every field error with its location, before any work starts.

use crate::model::{FieldError, SyncInput};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// Parse `body` (empty means `{}`: the JS client sends no body for `{}`).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Vec<FieldError>> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let mut loc = vec![json!("body")];
        loc.extend(e.path().iter().filter_map(segment));
        vec![field_error(loc, e.inner())]
    })
}

fn segment(s: &serde_path_to_error::Segment) -> Option<Value> {
    use serde_path_to_error::Segment::*;
    match s {
        Seq { index } => Some(json!(index)),
        Map { key } => Some(json!(key)),
        Enum { variant } => Some(json!(variant)),
        Unknown => None,
    }
}

/// Classify a serde error the way FastAPI/Pydantic name them.
fn field_error(mut loc: Vec<Value>, e: &serde_json::Error) -> FieldError {
    use serde_json::error::Category;
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    if matches!(
        e.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return FieldError::new(
            vec![json!("body"), json!(e.column())],
            format!("invalid JSON: {msg}"),
            "json_invalid",
        );
    }
    // The field a missing/unknown-field error is about, unless the path names it already.
    let quoted = msg
        .split('`')
        .nth(1)
        .map(|q| json!(q))
        .filter(|q| loc.last() != Some(q));
    let kind = if msg.starts_with("missing field") {
        loc.extend(quoted);
        "missing"
    } else if msg.starts_with("unknown field") {
        loc.extend(quoted);
        "extra_forbidden"
    } else if msg.starts_with("unknown variant") {
        "enum"
    } else if msg.starts_with("invalid type") {
        "type_error"
    } else {
        "value_error"
    };
    FieldError::new(loc, msg, kind)
}

/// The checks serde cannot make: URL schemes, and the shape of `fps` and
/// `whisper_model`. `at` is where the input sits in the body.
/// `own`: the bases whose `/files/...` URLs are this server's files.
pub fn sync_input(
    input: &SyncInput,
    at: &[Value],
    urls: &crate::fetch::Policy,
    own: &[String],
) -> Vec<FieldError> {
    let loc = |field: &str| {
        let mut l = vec![json!("body")];
        l.extend_from_slice(at);
        l.push(json!(field));
        l
    };
    let mut errors = Vec::new();
    for (field, url) in [
        ("video_url", &input.video_url),
        ("audio_url", &input.audio_url),
    ] {
        if let Err((msg, kind)) = urls.check_input(url, own) {
            errors.push(FieldError::new(loc(field), msg, kind));
        }
    }
    if let Some(fps) = &input.fps {
        if !valid_fps(fps) {
            errors.push(FieldError::new(
                loc("fps"),
                format!("'{fps}' is not a frame rate: use a positive number or a ratio such as 30000/1001"),
                "value_error",
            ));
        }
    }
    if let Some(model) = &input.whisper_model {
        let ok = model
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok {
            errors.push(FieldError::new(
                loc("whisper_model"),
                format!("'{model}' is not a model name: name an installed model such as tiny.en or base"),
                "value_error",
            ));
        }
    }
    errors
}

/// An installed model's name (never a path: a caller must not make the
/// server open files of its choosing).
pub fn model_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn valid_fps(fps: &str) -> bool {
    let positive = |s: &str| s.parse::<f64>().is_ok_and(|x| x.is_finite() && x > 0.0);
    match fps.split_once('/') {
        Some((n, d)) => positive(n) && positive(d),
        None => positive(fps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BatchInput;

    fn errors<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> Vec<(Vec<Value>, String)> {
        parse::<T>(body.as_bytes())
            .unwrap_err()
            .into_iter()
            .map(|e| (e.loc, e.kind))
            .collect()
    }

    #[test]
    fn errors_name_the_field_like_fastapi() {
        assert_eq!(
            errors::<SyncInput>(r#"{"audio_url": "https://a/b.wav"}"#),
            [(
                vec![json!("body"), json!("video_url")],
                "missing".to_string()
            )]
        );
        assert_eq!(
            errors::<SyncInput>(r#"{"video_url": "x", "audio_url": "y", "colour": 1}"#),
            [(
                vec![json!("body"), json!("colour")],
                "extra_forbidden".to_string()
            )]
        );
        assert_eq!(
            errors::<SyncInput>(r#"{"video_url": "x", "audio_url": "y", "rife_mode": "fast"}"#),
            [(vec![json!("body"), json!("rife_mode")], "enum".to_string())]
        );
        assert_eq!(
            errors::<BatchInput>(r#"{"inputs": [{"video_url": "x", "audio_url": 3}]}"#),
            [(
                vec![json!("body"), json!("inputs"), json!(0), json!("audio_url")],
                "type_error".to_string()
            )]
        );
        assert_eq!(errors::<SyncInput>("{nope")[0].1, "json_invalid");
        // The JS client sends no body for `{}`.
        assert_eq!(errors::<SyncInput>("")[0].1, "missing");
    }

    #[test]
    fn frame_rates() {
        for ok in ["24", "29.97", "30000/1001"] {
            assert!(valid_fps(ok), "{ok}");
        }
        for bad in ["0", "-24", "fast", "1/0", "inf", ""] {
            assert!(!valid_fps(bad), "{bad}");
        }
    }
}
