//! What hookline's API functions (`ingest`, `subscriptions`) share.
//!
//! - [`ApiError`]: every error answer is `{"error": {"code", "message", "field"?}}` with the
//!   right status.
//! - [`Caller`]: who is calling, as the authorizer resolved the API key (tenant and scopes).
//! - [`route`]: the route is API Gateway's resource path (`/v1/subscriptions/{id}`), never the
//!   raw URI, which carries the stage name on AWS (`/prod/v1/...`).
//! - [`body`]: JSON bodies with a content-type check and a size limit.
//! - [`openapi`]: the API's OpenAPI 3.1 document, served at `GET /v1/openapi.json`.

pub mod body;
mod caller;
mod error;
pub mod openapi;
pub mod route;

pub use caller::{Caller, CallerContext};
pub use error::{ApiError, json_response};
