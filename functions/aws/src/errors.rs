//! Turning SDK errors into port errors, keeping the service's own words for the logs.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use hookline_core::error::PortError;

/// Any SDK failure that is not a lost condition: the service could not do it now.
///
/// Validation errors are the exception: retrying a request the service calls malformed
/// would loop forever, so those are `Invalid`.
pub(crate) fn port_error<E, R>(operation: &str, err: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.as_service_error().and_then(|e| e.code()).unwrap_or_default().to_owned();
    let text = format!("{operation}: {}", DisplayErrorContext(&err));
    match code.as_str() {
        "ValidationException" | "InvalidParameterValue" | "AWS.SimpleQueueService.BatchRequestTooLong" => {
            PortError::Invalid(text)
        }
        _ => PortError::Unavailable(text),
    }
}
