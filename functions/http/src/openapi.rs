//! The OpenAPI 3.1 document of the public API, `functions/http/openapi.json`, served at
//! `GET /v1/openapi.json` without a key.
//!
//! It is written by hand and kept honest by the end-to-end tests: every route the template and
//! the local gateway declare must be in it and the other way round, and real answers from the
//! local stack are validated against its schemas.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};

/// The route it is served on.
pub const PATH: &str = "/v1/openapi.json";

/// The document's text, exactly as committed.
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// `200` with the document; clients and caches may keep it for an hour.
pub fn response() -> Response<Body> {
    let mut response = Response::new(Body::Text(DOCUMENT.to_owned()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("public, max-age=3600"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_json_and_lists_its_own_route() {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        assert_eq!(document["openapi"], "3.1.0");
        assert!(document["paths"][PATH]["get"].is_object());
        assert_eq!(document["paths"][PATH]["get"]["security"], serde_json::json!([]), "served without a key");
        let response = response();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }
}
