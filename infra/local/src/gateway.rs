//! API Gateway, played locally.
//!
//! Matches the request path against the routes `template.yaml` declares, resolves the API key
//! with the very authorizer the Lambda runs, builds the REST proxy event API Gateway would send
//! (resource template, path parameters, authorizer context) and calls the function's handler.

use std::collections::HashMap;
use std::sync::Arc;

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::Router;
use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use futures::FutureExt;
use hookline_authorizer::AuthorizerError;
use hookline_core::model::ApiKey;
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

/// The routes of the design's API (`template.yaml` declares the same): resource template and the
/// function behind it.
const ROUTES: &[(&str, Function)] = &[
    ("/v1/events", Function::Ingest),
    ("/v1/event-types", Function::Ingest),
    ("/v1/subscriptions", Function::Subscriptions),
    ("/v1/subscriptions/{id}", Function::Subscriptions),
    ("/v1/subscriptions/{id}/rotate-secret", Function::Subscriptions),
    ("/v1/subscriptions/{id}/attempts", Function::Subscriptions),
    ("/v1/subscriptions/{id}/replay", Function::Subscriptions),
    (hookline_http::openapi::PATH, Function::Subscriptions),
];

/// Routes served without an API key (`Auth: Authorizer: NONE` in the template).
const PUBLIC: &[&str] = &[hookline_http::openapi::PATH];

/// The resource templates of every route the local API serves.
pub(crate) fn routes() -> impl Iterator<Item = &'static str> {
    ROUTES.iter().map(|(template, _)| *template)
}

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

/// What every request needs: the handlers, and whether to log one line per request.
#[derive(Clone)]
pub(crate) struct Gateway {
    pub(crate) handlers: Arc<Handlers>,
    pub(crate) quiet: bool,
}

pub(crate) async fn serve(listener: TcpListener, gateway: Gateway, mut stop: watch::Receiver<bool>) {
    let app = Router::new().fallback(access_log).with_state(gateway);
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

/// Answers one request and logs it (method, path, status, time; never bodies or keys).
async fn access_log(State(gateway): State<Gateway>, request: Request<AxumBody>) -> Response {
    let started = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = answer(&gateway.handlers, request).await;
    let (status, elapsed_ms) = (response.status().as_u16(), started.elapsed().as_millis());
    if gateway.quiet {
        tracing::debug!(%method, path, status, elapsed_ms, "api");
    } else {
        tracing::info!(%method, path, status, elapsed_ms, "api");
    }
    response
}

/// What API Gateway does: route, authorize, build the proxy event, invoke, map the answer back.
async fn answer(handlers: &Handlers, request: Request<AxumBody>) -> Response {
    let (parts, body) = request.into_parts();
    let Some((resource, function, params)) = match_route(parts.uri.path()) else {
        return error(ApiError::not_found("no such route"));
    };
    let key = if PUBLIC.contains(&resource) {
        None
    } else {
        let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        match handlers.authorizer.resolve(authorization).await {
            Ok(key) => Some(key),
            Err(AuthorizerError::Unauthorized) => return error(ApiError::unauthorized()),
            Err(other) => {
                tracing::warn!(error = %other, "authorizer failed");
                return error(ApiError::unavailable());
            }
        }
    };
    let declared_length =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > MAX_BODY_BYTES) {
        return error(ApiError::too_large(MAX_BODY_BYTES));
    }
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return error(ApiError::too_large(MAX_BODY_BYTES));
    };

    let event = proxy_event(&parts, resource, &params, key.as_ref(), &bytes);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(err) => {
            tracing::error!(error = %err, "could not build the API Gateway event");
            return error(ApiError::internal());
        }
    };
    let invocation = match function {
        Function::Ingest => AssertUnwindSafe(handlers.ingest.handle(request)).catch_unwind().await,
        Function::Subscriptions => AssertUnwindSafe(handlers.subscriptions.handle(request)).catch_unwind().await,
    };
    match invocation {
        Ok(response) => lambda_to_axum(response),
        // A crashed invocation: API Gateway answers 502.
        Err(_) => {
            tracing::error!(resource, "the function panicked");
            error(ApiError::new(StatusCode::BAD_GATEWAY, "bad_gateway", "the function failed; see the stack's log"))
        }
    }
}

/// The REST API proxy event API Gateway sends, with the authorizer's context.
fn proxy_event(
    parts: &Parts,
    resource: &str,
    params: &HashMap<String, String>,
    key: Option<&ApiKey>,
    bytes: &[u8],
) -> serde_json::Value {
    // A route without an authorizer gets no authorizer context, as on API Gateway.
    let authorizer = key.map(|key| {
        let mut context = CallerContext::for_key(key);
        context.insert("principalId".into(), key.id.to_string().into());
        context
    });
    let (body, is_base64) = match std::str::from_utf8(bytes) {
        Ok(text) => (serde_json::Value::String(text.to_owned()), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(bytes).into(), true),
    };
    let (query, multi_query) = query_maps(parts.uri.query());
    let (headers, multi_headers) = header_maps(&parts.headers);
    serde_json::json!({
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
            "requestId": ulid::Ulid::generate().to_string(),
            "requestTimeEpoch": time::OffsetDateTime::now_utc().unix_timestamp() * 1000,
            "accountId": "123456789012",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": authorizer,
        },
        "body": if bytes.is_empty() { serde_json::Value::Null } else { body },
        "isBase64Encoded": is_base64,
    })
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

/// The function's answer as the client gets it: status, every header (repeated ones too), body.
fn lambda_to_axum(response: lambda_http::Response<LambdaBody>) -> Response {
    let (parts, body) = response.into_parts();
    let mut out = Response::new(AxumBody::from(body.as_ref().to_vec()));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
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
