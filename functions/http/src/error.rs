//! JSON error answers.

use hookline_core::error::PortError;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

/// An error answer: status, a stable machine-readable code, a message for people, and the
/// request field at fault when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400: the request cannot be read (bad JSON, wrong shape).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422: the request is well-formed but a field's value is not acceptable.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", message).with_field(field)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid API key is required: `Authorization: Bearer hk_…`")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this method is not allowed on this path")
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the request body is over {limit} bytes"))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON: `content-type: application/json`",
        )
    }

    /// 503: a dependency (SQS, DynamoDB) is unreachable; nothing was accepted, try again.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "hookline could not reach its queue or store; nothing was accepted, retry shortly",
        )
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an unexpected error occurred")
    }

    pub fn into_response(self) -> Response<Body> {
        let mut error = serde_json::json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = serde_json::Value::String(field);
        }
        let mut response = json_response(self.status, &serde_json::json!({ "error": error }));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<PortError> for ApiError {
    fn from(err: PortError) -> Self {
        match err {
            PortError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "dependency unavailable");
                Self::unavailable()
            }
            PortError::Conflict(_) => Self::conflict("the resource changed meanwhile; read it again and retry"),
            PortError::Invalid(detail) => Self::bad_request("invalid_request", detail),
            PortError::Corrupt(detail) => {
                tracing::error!(error = %detail, "stored record unreadable");
                Self::internal()
            }
        }
    }
}

/// A JSON answer with the given status.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).expect("json")
    }

    #[test]
    fn errors_render_as_json_naming_the_field() {
        let response = ApiError::invalid_field("data.tenant", "expected string").into_response();
        assert_eq!(response.status(), 422);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            body_json(&response),
            serde_json::json!({"error": {"code": "validation_failed", "message": "expected string", "field": "data.tenant"}})
        );
    }

    #[test]
    fn an_unreachable_dependency_is_a_503_with_retry_after() {
        let response =
            ApiError::from(PortError::Unavailable("SendMessageBatch: connection refused".into())).into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let text = String::from_utf8(response.body().to_vec()).expect("utf-8");
        assert!(!text.contains("connection refused"), "internal detail stays in the logs: {text}");
    }
}
