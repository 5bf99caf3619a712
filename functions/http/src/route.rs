//! Routing on API Gateway's resource path.
//!
//! On AWS the raw URI carries the stage (`/prod/v1/subscriptions/sub_…`), so routes are matched
//! on the resource template API Gateway resolved (`/v1/subscriptions/{id}`) and parameters are
//! read from its path parameters. The local stack fills in the same fields.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

/// The resource template of the request, e.g. `/v1/subscriptions/{id}`.
pub fn resource(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context.resource_path.clone(),
        // HTTP APIs name the route as `METHOD /path`.
        RequestContext::ApiGatewayV2(context) => {
            context.route_key.as_deref().and_then(|key| key.split_once(' ')).map(|(_, path)| path.to_owned())
        }
        _ => None,
    }
}

/// A path parameter by name (`id` in `/v1/subscriptions/{id}`).
pub fn path_param(request: &Request, name: &str) -> Option<String> {
    request.path_parameters_ref().and_then(|params| params.first(name)).map(str::to_owned)
}

/// A query-string parameter by name.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request.query_string_parameters_ref().and_then(|params| params.first(name)).map(str::to_owned)
}
