//! AWS Signature Version 4 for S3: signed request headers, and presigned
//! query strings for GET URLs handed to clients.

use crate::time::Stamp;
use crate::Bucket;
use ring::hmac;
use std::time::Duration;

/// SHA-256 of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The headers to send: `x-amz-*`, `authorization` and the signed `extra`
/// ones (lower-case names). `host` is signed but left to the HTTP client.
pub fn headers(
    bucket: &Bucket,
    method: &str,
    host: &str,
    path: &str,
    payload_sha256: &str,
    extra: &[(&str, String)],
    at: Stamp,
) -> Vec<(String, String)> {
    let mut signed: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    signed.push(("host".into(), host.into()));
    signed.push(("x-amz-content-sha256".into(), payload_sha256.into()));
    signed.push(("x-amz-date".into(), at.amz_date()));
    if let Some(token) = &bucket.credentials.session_token {
        signed.push(("x-amz-security-token".into(), token.clone()));
    }
    signed.sort();
    let names: Vec<&str> = signed.iter().map(|(k, _)| k.as_str()).collect();
    let names = names.join(";");
    let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical = format!("{method}\n{path}\n\n{canonical_headers}\n{names}\n{payload_sha256}");
    let signature = signature(bucket, &canonical, at);
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={names}, Signature={signature}",
        bucket.credentials.access_key,
        scope(bucket, at)
    );
    let mut out: Vec<(String, String)> = signed.into_iter().filter(|(k, _)| k != "host").collect();
    out.push(("authorization".into(), authorization));
    out
}

/// The query string of a presigned request (only `host` signed, the body unsigned).
pub fn presigned_query(
    bucket: &Bucket,
    method: &str,
    host: &str,
    path: &str,
    expires: Duration,
    at: Stamp,
) -> String {
    let credential = format!("{}/{}", bucket.credentials.access_key, scope(bucket, at));
    let mut params = vec![
        ("X-Amz-Algorithm", ALGORITHM.to_string()),
        ("X-Amz-Credential", credential),
        ("X-Amz-Date", at.amz_date()),
        (
            "X-Amz-Expires",
            expires.as_secs().clamp(1, 604_800).to_string(),
        ),
        ("X-Amz-SignedHeaders", "host".to_string()),
    ];
    if let Some(token) = &bucket.credentials.session_token {
        params.push(("X-Amz-Security-Token", token.clone()));
    }
    params.sort();
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true)))
        .collect();
    let query = query.join("&");
    let canonical = format!("{method}\n{path}\n{query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD");
    format!(
        "{query}&X-Amz-Signature={}",
        signature(bucket, &canonical, at)
    )
}

fn scope(bucket: &Bucket, at: Stamp) -> String {
    format!("{}/{}/s3/aws4_request", at.date(), bucket.region)
}

fn signature(bucket: &Bucket, canonical_request: &str, at: Stamp) -> String {
    let hashed =
        hex(ring::digest::digest(&ring::digest::SHA256, canonical_request.as_bytes()).as_ref());
    let to_sign = format!(
        "{ALGORITHM}\n{}\n{}\n{hashed}",
        at.amz_date(),
        scope(bucket, at)
    );
    let secret = format!("AWS4{}", bucket.credentials.secret_key);
    let mut key = mac(secret.as_bytes(), at.date().as_bytes());
    for part in [bucket.region.as_str(), "s3", "aws4_request"] {
        key = mac(&key, part.as_bytes());
    }
    hex(&mac(&key, to_sign.as_bytes()))
}

fn mac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .to_vec()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters kept,
/// `/` kept too unless `slash`.
pub fn uri_encode(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn uri_encode_path(key: &str) -> String {
    uri_encode(key, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bucket, Credentials};

    /// The bucket and keys of the documentation's examples.
    fn example() -> Bucket {
        let creds = Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        Bucket::new(
            "https://s3.amazonaws.com",
            "us-east-1",
            "examplebucket",
            "",
            false,
            creds,
        )
        .expect("valid endpoint")
    }

    /// The presigned-URL example of the S3 SigV4 documentation
    /// ("Authenticating Requests: Using Query Parameters").
    #[test]
    fn presigned_url_matches_the_documented_example() {
        let bucket = example();
        let at = Stamp::from_unix(1369353600); // 2013-05-24T00:00:00Z
        let q = presigned_query(
            &bucket,
            "GET",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            Duration::from_secs(86400),
            at,
        );
        assert!(
            q.ends_with(
                "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            ),
            "{q}"
        );
    }

    /// The GET-object example of the same documentation (header signing).
    #[test]
    fn signed_get_matches_the_documented_example() {
        let bucket = example();
        let at = Stamp::from_unix(1369353600);
        let h = headers(
            &bucket,
            "GET",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            EMPTY_SHA256,
            &[("range", "bytes=0-9".into())],
            at,
        );
        let auth = h
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        assert!(
            auth.ends_with(
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"),
            "{auth}"
        );
    }
}
