//! Reading JSON request bodies: content-type, size limit, and a parse error that says where.

use lambda_http::Request;
use lambda_http::http::header;
use serde_json::Value;

use crate::ApiError;

/// The whole request body must be at most this many bytes (API Gateway's own cap is 10 MB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1_048_576;

/// Whether the content-type names JSON (`application/json`, optionally with parameters, or a
/// `+json` suffix type).
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses the body as JSON: 415 without a JSON content-type, 413 over `max_bytes`, 400 when
/// empty or malformed (with line and column).
pub fn json_body(request: &Request, max_bytes: usize) -> Result<Value, ApiError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !is_json(content_type) {
        return Err(ApiError::unsupported_media_type());
    }
    let bytes = request.body().as_ref();
    if bytes.len() > max_bytes {
        return Err(ApiError::too_large(max_bytes));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("invalid_json", "the request body is empty; a JSON document is expected"));
    }
    serde_json::from_slice(bytes).map_err(|err| {
        let reason = if err.is_eof() { "ends early" } else { "is not valid JSON" };
        ApiError::bad_request(
            "invalid_json",
            format!("the request body {reason} (line {}, column {}): {err}", err.line(), err.column()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    fn request(content_type: Option<&str>, body: &[u8]) -> Request {
        let mut builder = lambda_http::http::Request::builder().method("POST").uri("/v1/events");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        builder.body(Body::Binary(body.to_vec())).expect("request")
    }

    #[test]
    fn json_is_read_with_or_without_parameters() {
        let value = json_body(&request(Some("application/json; charset=utf-8"), br#"{"a":1}"#), 100).expect("json");
        assert_eq!(value["a"], 1);
        assert!(json_body(&request(Some("application/cloudevents+json"), b"[]"), 100).is_ok());
    }

    #[test]
    fn bad_bodies_get_the_right_status() {
        assert_eq!(json_body(&request(None, b"{}"), 100).expect_err("no type").status, 415);
        assert_eq!(json_body(&request(Some("text/plain"), b"{}"), 100).expect_err("text").status, 415);
        assert_eq!(json_body(&request(Some("application/json"), &[b' '; 101]), 100).expect_err("big").status, 413);
        assert_eq!(json_body(&request(Some("application/json"), b"  "), 100).expect_err("empty").status, 400);
        let broken = json_body(&request(Some("application/json"), b"{\"a\":"), 100).expect_err("eof");
        assert_eq!(broken.status, 400);
        assert!(broken.message.contains("line 1"), "{}", broken.message);
        assert_eq!(json_body(&request(Some("application/json"), &[0xff, 0xfe]), 100).expect_err("utf8").status, 400);
    }
}
