//! Reading create and patch bodies: which fields exist, their JSON types, and the rules on their
//! values that need no network (the target URL's addresses are checked in [`crate::target`]).
//!
//! An unknown field is a 400 (the client speaks another API); a known field with the wrong type
//! or an unacceptable value is a 422. Both name the field.

use std::collections::BTreeMap;

use hookline_core::catalogue::Catalogue;
use hookline_core::matching::EventTypeFilter;
use hookline_http::ApiError;
use serde_json::{Map, Value};

const URL: &str = "url";
const EVENT_TYPES: &str = "eventTypes";
const DESCRIPTION: &str = "description";
const ENABLED: &str = "enabled";
const METADATA: &str = "metadata";
const FIELDS: [&str; 5] = [URL, EVENT_TYPES, DESCRIPTION, ENABLED, METADATA];

pub const MAX_EVENT_TYPES: usize = 32;
pub const MAX_DESCRIPTION_CHARS: usize = 512;
pub const MAX_METADATA_ENTRIES: usize = 16;
pub const MAX_METADATA_KEY_CHARS: usize = 64;
pub const MAX_METADATA_VALUE_CHARS: usize = 512;

/// The fields a body set. `None` means absent; for `description`, `Some(None)` means `null`
/// (clear it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// The URL text as sent; [`crate::target`] parses and checks it.
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub metadata: Option<BTreeMap<String, String>>,
}

impl Fields {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A create body: `url` and `eventTypes` are required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub metadata: BTreeMap<String, String>,
}

pub fn create(body: Value, catalogue: &Catalogue) -> Result<NewSubscription, ApiError> {
    let fields = fields(body, catalogue)?;
    let required = |field: &str| ApiError::invalid_field(field, format!("`{field}` is required"));
    Ok(NewSubscription {
        url: fields.url.ok_or_else(|| required(URL))?,
        event_types: fields.event_types.ok_or_else(|| required(EVENT_TYPES))?,
        description: fields.description.flatten(),
        enabled: fields.enabled.unwrap_or(true),
        metadata: fields.metadata.unwrap_or_default(),
    })
}

/// A patch body: any subset of the fields.
pub fn patch(body: Value, catalogue: &Catalogue) -> Result<Fields, ApiError> {
    fields(body, catalogue)
}

fn fields(body: Value, catalogue: &Catalogue) -> Result<Fields, ApiError> {
    let Value::Object(object) = body else {
        return Err(ApiError::bad_request("invalid_request", "the request body must be a JSON object"));
    };
    if let Some(unknown) = object.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(ApiError::bad_request(
            "unknown_field",
            format!("unknown field `{}`; the fields are {}", truncated(unknown), FIELDS.join(", ")),
        )
        .with_field(truncated(unknown)));
    }
    Ok(Fields {
        url: object.get(URL).map(url).transpose()?,
        event_types: object.get(EVENT_TYPES).map(|value| event_types(value, catalogue)).transpose()?,
        description: object.get(DESCRIPTION).map(description).transpose()?,
        enabled: object.get(ENABLED).map(enabled).transpose()?,
        metadata: object.get(METADATA).map(metadata).transpose()?,
    })
}

fn url(value: &Value) -> Result<String, ApiError> {
    value.as_str().map(str::to_owned).ok_or_else(|| wrong_type(URL, "a string", value))
}

fn event_types(value: &Value, catalogue: &Catalogue) -> Result<Vec<String>, ApiError> {
    let Value::Array(items) = value else {
        return Err(wrong_type(EVENT_TYPES, "an array of event-type filters", value));
    };
    if items.is_empty() {
        return Err(ApiError::invalid_field(EVENT_TYPES, "`eventTypes` must name at least one event type (or \"*\")"));
    }
    if items.len() > MAX_EVENT_TYPES {
        return Err(ApiError::invalid_field(
            EVENT_TYPES,
            format!("`eventTypes` holds at most {MAX_EVENT_TYPES} filters; this one has {}", items.len()),
        ));
    }
    let mut filters = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let field = format!("{EVENT_TYPES}[{index}]");
        let text = item.as_str().ok_or_else(|| wrong_type(&field, "a string", item))?;
        let filter = event_type_filter(text, catalogue).map_err(|message| ApiError::invalid_field(&field, message))?;
        // The same filter twice changes nothing; keep the first.
        if !filters.contains(&filter) {
            filters.push(filter);
        }
    }
    Ok(filters)
}

/// One filter, which must reach at least one event type of the catalogue.
fn event_type_filter(text: &str, catalogue: &Catalogue) -> Result<String, String> {
    let filter: EventTypeFilter = text.parse().map_err(|error| format!("`{}`: {error}", truncated(text)))?;
    let known = || catalogue.names().join(", ");
    match &filter {
        EventTypeFilter::All => {}
        EventTypeFilter::Exact(name) if catalogue.get(name).is_none() => {
            return Err(format!("unknown event type `{name}`; known types: {}", known()));
        }
        EventTypeFilter::Exact(_) => {}
        EventTypeFilter::Prefix(_) if !catalogue.names().iter().any(|name| filter.matches(name)) => {
            return Err(format!("`{filter}` matches no known event type; known types: {}", known()));
        }
        EventTypeFilter::Prefix(_) => {}
    }
    Ok(filter.to_string())
}

fn description(value: &Value) -> Result<Option<String>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.chars().count() > MAX_DESCRIPTION_CHARS => Err(ApiError::invalid_field(
            DESCRIPTION,
            format!("`description` is at most {MAX_DESCRIPTION_CHARS} characters long"),
        )),
        Value::String(text) => Ok(Some(text.clone())),
        other => Err(wrong_type(DESCRIPTION, "a string or null", other)),
    }
}

fn enabled(value: &Value) -> Result<bool, ApiError> {
    value.as_bool().ok_or_else(|| wrong_type(ENABLED, "true or false", value))
}

fn metadata(value: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    let entries: &Map<String, Value> = match value {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(entries) => entries,
        other => return Err(wrong_type(METADATA, "an object of string values", other)),
    };
    if entries.len() > MAX_METADATA_ENTRIES {
        return Err(ApiError::invalid_field(
            METADATA,
            format!("`metadata` holds at most {MAX_METADATA_ENTRIES} entries; this one has {}", entries.len()),
        ));
    }
    let mut metadata = BTreeMap::new();
    for (key, value) in entries {
        let key_chars = key.chars().count();
        if key_chars == 0 || key_chars > MAX_METADATA_KEY_CHARS {
            return Err(ApiError::invalid_field(
                METADATA,
                format!(
                    "`metadata` keys are 1 to {MAX_METADATA_KEY_CHARS} characters long; `{}` is not",
                    truncated(key)
                ),
            ));
        }
        let field = format!("{METADATA}.{key}");
        let text = value.as_str().ok_or_else(|| wrong_type(&field, "a string", value))?;
        if text.chars().count() > MAX_METADATA_VALUE_CHARS {
            return Err(ApiError::invalid_field(
                &field,
                format!("`{field}` is at most {MAX_METADATA_VALUE_CHARS} characters long"),
            ));
        }
        metadata.insert(key.clone(), text.to_owned());
    }
    Ok(metadata)
}

fn wrong_type(field: &str, expected: &str, found: &Value) -> ApiError {
    ApiError::invalid_field(field, format!("`{field}` must be {expected}, not {}", json_type(found)))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Client text echoed in a message, cut short so a huge key cannot make a huge answer.
fn truncated(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;

    fn set(filters: &[String]) -> BTreeSet<&str> {
        filters.iter().map(String::as_str).collect()
    }

    fn catalogue() -> &'static Catalogue {
        Catalogue::builtin()
    }

    fn error(body: Value) -> ApiError {
        create(body, catalogue()).expect_err("refused")
    }

    #[test]
    fn a_minimal_body_takes_the_defaults() {
        let new = create(json!({"url": "https://example.com/h", "eventTypes": ["*"]}), catalogue()).expect("valid");
        assert_eq!(new.url, "https://example.com/h");
        assert_eq!(new.event_types, ["*"]);
        assert!(new.enabled);
        assert_eq!(new.description, None);
        assert!(new.metadata.is_empty());
    }

    #[test]
    fn unknown_fields_are_400_and_wrong_types_422_naming_the_field() {
        let unknown = error(json!({"url": "https://x.test", "eventTypes": ["*"], "tenant": "globex"}));
        assert_eq!((unknown.status.as_u16(), unknown.field.as_deref()), (400, Some("tenant")));
        for (body, field) in [
            (json!({"url": 1, "eventTypes": ["*"]}), "url"),
            (json!({"url": "https://x.test", "eventTypes": "*"}), "eventTypes"),
            (json!({"url": "https://x.test", "eventTypes": ["*", 7]}), "eventTypes[1]"),
            (json!({"url": "https://x.test", "eventTypes": ["*"], "enabled": "yes"}), "enabled"),
            (json!({"url": "https://x.test", "eventTypes": ["*"], "description": 3}), "description"),
            (json!({"url": "https://x.test", "eventTypes": ["*"], "metadata": []}), "metadata"),
            (json!({"url": "https://x.test", "eventTypes": ["*"], "metadata": {"a": 1}}), "metadata.a"),
        ] {
            let error = error(body.clone());
            assert_eq!((error.status.as_u16(), error.field.as_deref()), (422, Some(field)), "{body}");
        }
        assert_eq!(error(json!(["not", "an", "object"])).status, 400);
    }

    #[test]
    fn required_fields_are_named() {
        assert_eq!(error(json!({"eventTypes": ["*"]})).field.as_deref(), Some("url"));
        assert_eq!(error(json!({"url": "https://x.test"})).field.as_deref(), Some("eventTypes"));
    }

    #[test]
    fn event_types_must_reach_the_catalogue() {
        let unknown = error(json!({"url": "https://x.test", "eventTypes": ["client-management.nope"]}));
        assert_eq!(unknown.field.as_deref(), Some("eventTypes[0]"));
        assert!(unknown.message.contains("client-management.legalentity-created"), "{}", unknown.message);
        let prefix = error(json!({"url": "https://x.test", "eventTypes": ["*", "billing.*"]}));
        assert_eq!(prefix.field.as_deref(), Some("eventTypes[1]"));
        assert!(prefix.message.contains("billing.*"), "{}", prefix.message);
        let malformed = error(json!({"url": "https://x.test", "eventTypes": ["client-*.created"]}));
        assert_eq!(malformed.field.as_deref(), Some("eventTypes[0]"));
        assert_eq!(error(json!({"url": "https://x.test", "eventTypes": []})).field.as_deref(), Some("eventTypes"));
        let many: Vec<String> = (0..33).map(|_| "*".to_owned()).collect();
        assert_eq!(error(json!({"url": "https://x.test", "eventTypes": many})).field.as_deref(), Some("eventTypes"));

        let new = create(
            json!({"url": "https://x.test", "eventTypes": [
                "client-management.*", "client-management.legalentity-created", "client-management.*"
            ]}),
            catalogue(),
        )
        .expect("valid");
        assert_eq!(
            set(&new.event_types),
            BTreeSet::from(["client-management.*", "client-management.legalentity-created"])
        );
        assert_eq!(new.event_types.len(), 2, "duplicates are dropped");
    }

    #[test]
    fn description_and_metadata_are_bounded() {
        let base = |extra: Value| {
            let mut body = json!({"url": "https://x.test", "eventTypes": ["*"]});
            for (k, v) in extra.as_object().expect("object") {
                body[k] = v.clone();
            }
            body
        };
        assert!(create(base(json!({"description": "d".repeat(512)})), catalogue()).is_ok());
        assert_eq!(error(base(json!({"description": "d".repeat(513)}))).field.as_deref(), Some("description"));
        let sixteen: Map<String, Value> = (0..16).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(create(base(json!({"metadata": sixteen})), catalogue()).is_ok());
        let seventeen: Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_eq!(error(base(json!({"metadata": seventeen}))).field.as_deref(), Some("metadata"));
        let long_key = json!({"metadata": {"k".repeat(65): "v"}});
        assert_eq!(error(base(long_key)).field.as_deref(), Some("metadata"));
        let long_value = json!({"metadata": {"team": "v".repeat(513)}});
        assert_eq!(error(base(long_value)).field.as_deref(), Some("metadata.team"));
        let ok = create(base(json!({"metadata": {"k".repeat(64): "v".repeat(512)}})), catalogue()).expect("bounds");
        assert_eq!(ok.metadata.len(), 1);
    }

    #[test]
    fn a_patch_may_set_any_subset_and_null_clears_the_description() {
        assert!(patch(json!({}), catalogue()).expect("empty").is_empty());
        let fields = patch(json!({"description": null, "enabled": false}), catalogue()).expect("valid");
        assert_eq!(fields.description, Some(None));
        assert_eq!(fields.enabled, Some(false));
        assert_eq!(fields.url, None);
        assert_eq!(patch(json!({"id": "sub_x"}), catalogue()).expect_err("unknown").status, 400);
        assert_eq!(patch(json!({"url": null}), catalogue()).expect_err("null url").status, 422);
    }
}
