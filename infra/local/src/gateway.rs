//! API Gateway, played locally.
//!
//! Matches the request path against the routes `template.yaml` declares, resolves the API key
//! with the very authorizer the Lambda runs, builds the REST proxy event API Gateway would send
//! (resource template, path parameters, authorizer context) and calls the function's handler.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hookline_authorizer::AuthorizerError;
use hookline_http::{ApiError, CallerContext};
use lambda_http::Body as LambdaBody;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Handlers;

/// Lambda's synchronous payload limit.
const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// Which function serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Ingest,
    Subscriptions,
}

/// The routes of `template.yaml`: resource template and the function behind it.
const ROUTES: &[(&str, Function)] = &[
    ("/v1/events", Function::Ingest),
    ("/v1/event-types", Function::Ingest),
    ("/v1/subscriptions", Function::Subscriptions),
    ("/v1/subscriptions/{id}", Function::Subscriptions),
    ("/v1/subscriptions/{id}/rotate-secret", Function::Subscriptions),
    ("/v1/subscriptions/{id}/attempts", Function::Subscriptions),
];

/// Finds the route a path belongs to, with its path parameters.
fn match_route(path: &str) -> Option<(&'static str, Function, HashMap<String, String>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ROUTES.iter().find_map(|(template, function)| {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            return None;
        }
        let mut params = HashMap::new();
        for (part, segment) in parts.iter().zip(&segments) {
            match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !segment.is_empty() => {
                    params.insert(name.to_owned(), (*segment).to_owned());
                }
                Some(_) => return None,
                None if part == segment => {}
                None => return None,
            }
        }
        Some((*template, *function, params))
    })
}

pub(crate) async fn serve(listener: TcpListener, handlers: Arc<Handlers>, mut stop: watch::Receiver<bool>) {
    let app = Router::new().fallback(gateway).with_state(handlers);
    let shutdown = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %err, "the local API stopped");
    }
}

fn error(error: ApiError) -> Response {
    lambda_to_axum(error.into_response())
}

async fn gateway(State(handlers): State<Arc<Handlers>>, request: Request<AxumBody>) -> Response {
    let (parts, body) = request.into_parts();
    let Some((resource, function, params)) = match_route(parts.uri.path()) else {
        return error(ApiError::not_found("no such route"));
    };
    let authorization = parts.headers.get("authorization").and_then(|v| v.to_str().ok());
    let key = match handlers.authorizer.resolve(authorization).await {
        Ok(key) => key,
        Err(AuthorizerError::Unauthorized) => return error(ApiError::unauthorized()),
        Err(other) => {
            tracing::warn!(error = %other, "authorizer failed");
            return error(ApiError::unavailable());
        }
    };
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return error(ApiError::too_large(MAX_BODY_BYTES));
    };

    let mut authorizer = CallerContext::for_key(&key);
    authorizer.insert("principalId".into(), key.id.to_string().into());
    let (body, is_base64) = match std::str::from_utf8(&bytes) {
        Ok(text) => (serde_json::Value::String(text.to_owned()), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(&bytes).into(), true),
    };
    let (query, multi_query) = query_maps(parts.uri.query());
    let (headers, multi_headers) = header_maps(&parts.headers);
    let event = serde_json::json!({
        "resource": resource,
        "path": parts.uri.path(),
        "httpMethod": parts.method.as_str(),
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": if params.is_empty() { serde_json::Value::Null } else { serde_json::json!(params) },
        "stageVariables": null,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": parts.method.as_str(),
            "path": parts.uri.path(),
            "stage": "local",
            "requestId": hookline_core::ids::AttemptId::generate().to_string(),
            "accountId": "123456789012",
            "apiId": "local",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": authorizer,
        },
        "body": if bytes.is_empty() { serde_json::Value::Null } else { body },
        "isBase64Encoded": is_base64,
    });
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(err) => {
            tracing::error!(error = %err, "could not build the API Gateway event");
            return error(ApiError::internal());
        }
    };
    let response = match function {
        Function::Ingest => handlers.ingest.handle(request).await,
        Function::Subscriptions => handlers.subscriptions.handle(request).await,
    };
    lambda_to_axum(response)
}

fn query_maps(query: Option<&str>) -> (serde_json::Value, serde_json::Value) {
    let Some(query) = query else { return (serde_json::Value::Null, serde_json::Value::Null) };
    let mut single = serde_json::Map::new();
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        single.insert(name.to_string(), value.to_string().into());
        multi.entry(name.into_owned()).or_default().push(value.into_owned());
    }
    (single.into(), serde_json::json!(multi))
}

fn header_maps(headers: &HeaderMap) -> (serde_json::Value, serde_json::Value) {
    let mut single = serde_json::Map::new();
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        single.insert(name.as_str().to_owned(), value.clone().into());
        multi.entry(name.as_str().to_owned()).or_default().push(value);
    }
    (single.into(), serde_json::json!(multi))
}

fn lambda_to_axum(response: lambda_http::Response<LambdaBody>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        LambdaBody::Empty => Vec::new(),
        LambdaBody::Text(text) => text.into_bytes(),
        LambdaBody::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    let mut out = (StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), bytes)
        .into_response();
    for (name, value) in &parts.headers {
        out.headers_mut().insert(name.clone(), value.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_template_routes_with_their_parameters() {
        let (resource, function, params) = match_route("/v1/subscriptions/sub_1/attempts").expect("route");
        assert_eq!(resource, "/v1/subscriptions/{id}/attempts");
        assert_eq!(function, Function::Subscriptions);
        assert_eq!(params["id"], "sub_1");
        assert_eq!(match_route("/v1/events").map(|r| r.1), Some(Function::Ingest));
        assert!(match_route("/v1/subscriptions//attempts").is_none());
        assert!(match_route("/v2/events").is_none());
        assert!(match_route("/v1/subscriptions/a/b/c").is_none());
    }
}
