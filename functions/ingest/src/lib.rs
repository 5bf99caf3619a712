//! The ingest function: `POST /v1/events` and `GET /v1/event-types`.
//!
//! A publish is validated whole against the catalogue before anything is written (a batch is
//! all-or-nothing), stamped with ids and a time, written to the event log (for replay), and
//! enqueued on SQS. It answers 202 only after SQS has accepted every event; if the log or the
//! queue cannot be reached it answers 503 and the producer retries.

mod publish;

use hookline_core::catalogue::Catalogue;
use hookline_core::ports::{EventLog, EventQueue, IdempotencyStore};
use hookline_http::{ApiError, Caller, json_response, route};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

pub use publish::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, PublishLimits};

/// Ingest's configuration, read once at start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngestConfig {
    pub limits: PublishLimits,
}

impl IngestConfig {
    /// Nothing is configurable yet beyond the defaults; kept so `main` reads like its siblings.
    pub fn from_env() -> Result<Self, std::convert::Infallible> {
        Ok(Self::default())
    }
}

/// The handler, generic over where events are logged and queued and where idempotency keys
/// are remembered.
#[derive(Debug)]
pub struct Ingest<Q, L, I> {
    queue: Q,
    log: L,
    idempotency: I,
    catalogue: &'static Catalogue,
    config: IngestConfig,
}

impl<Q: EventQueue, L: EventLog, I: IdempotencyStore> Ingest<Q, L, I> {
    pub fn new(queue: Q, log: L, idempotency: I, config: IngestConfig) -> Self {
        Self { queue, log, idempotency, catalogue: Catalogue::builtin(), config }
    }

    /// Where idempotency keys are remembered (tests inspect the in-memory one).
    pub fn idempotency(&self) -> &I {
        &self.idempotency
    }

    /// The queue events are enqueued on (tests inspect the in-memory one).
    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// The event log (tests inspect the in-memory one).
    pub fn log(&self) -> &L {
        &self.log
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        match self.route(request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }

    async fn route(&self, request: Request) -> Result<Response<Body>, ApiError> {
        let resource = route::resource(&request);
        match (resource.as_deref(), request.method()) {
            (Some("/v1/events"), &Method::POST) => {
                let caller = Caller::from_request(&request)?;
                let ports = publish::Ports { queue: &self.queue, log: &self.log, idempotency: &self.idempotency };
                publish::publish(self.catalogue, ports, &self.config.limits, &caller, &request).await
            }
            (Some("/v1/event-types"), &Method::GET) => {
                Caller::from_request(&request)?;
                Ok(self.event_types())
            }
            (Some("/v1/events" | "/v1/event-types"), _) => Err(ApiError::method_not_allowed()),
            _ => Err(ApiError::not_found("no such route")),
        }
    }

    fn event_types(&self) -> Response<Body> {
        let items: Vec<_> = self
            .catalogue
            .event_types()
            .map(|t| serde_json::json!({"name": t.name(), "description": t.description(), "schema": t.schema()}))
            .collect();
        json_response(StatusCode::OK, &serde_json::json!({ "items": items }))
    }
}
