//! The event catalogue: which event types exist and what their `data` must look like.
//!
//! The catalogue is data. Each event type is one JSON Schema file under `catalogue/`, embedded
//! at build time (listed in `SHIPPED_SCHEMAS`) and compiled once into a [`Catalogue`]. Adding an
//! event type means adding a schema file and its name to that list; no code changes.
//!
//! Validation uses a small, documented subset of JSON Schema (draft 2020-12 spelling), checked
//! by hand so that it is fast and allocates nothing on success:
//!
//! - assertions: `type` (one name or an array of names among `object`, `array`, `string`,
//!   `boolean`, `number`, `integer`, `null`), `properties`, `required`,
//!   `additionalProperties` (boolean only), `items` (one schema), `minLength`, `maxLength`
//!   (counted in characters), `maxItems`, `maxProperties`;
//! - annotations: `$schema`, `$id`, `title`, `description`, `examples`.
//!
//! Loading a schema that uses any other keyword fails, naming the keyword and the schema, so
//! that no rule is ever written down and then silently ignored.
//!
//! Errors name the first offending field as a path rooted at `data` (`data.addresses[2]`,
//! `data["odd key"]`). "First" is deterministic: required fields are checked first (in the order
//! `required` lists them), then declared properties (in the order the schema's `properties` map
//! yields them), then undeclared fields; array items in index order.

use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The JSON Schema dialect the shipped schemas declare; a `$schema` naming any other is refused.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Every keyword a schema may use. Anything else is refused when the schema is loaded.
const SUPPORTED_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minLength",
    "maxLength",
    "maxItems",
    "maxProperties",
    "$schema",
    "$id",
    "title",
    "description",
    "examples",
];

/// The longest event-type name, in characters (the same bound as subscription filters).
const MAX_NAME_LEN: usize = 128;

/// Embeds schema files from `catalogue/`, each with its file name.
macro_rules! embedded_schemas {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../catalogue/", $file)))),*]
    };
}

/// The schemas hookline ships with: (file name, contents). Register a new event type here.
const SHIPPED_SCHEMAS: &[(&str, &str)] = embedded_schemas![
    "client-management.legalentity-created.schema.json",
    "client-management.legalentity-updated.schema.json",
    "client-management.legalentity-deleted.schema.json",
    "client-management.user-assigned-to-legalentity.schema.json",
];

/// The known event types, each with its compiled schema.
pub struct Catalogue {
    /// Sorted by name.
    types: Vec<EventType>,
}

/// One event type of the catalogue.
pub struct EventType {
    name: String,
    description: String,
    schema: Value,
    root: Node,
}

impl EventType {
    /// The event type's name, e.g. `client-management.legalentity-created`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What happened, in a sentence or two (the schema's `description`).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The JSON Schema for this type's `data`, as written in its file.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    fn validate(&self, data: &Value) -> Result<(), ValidationError> {
        self.root.check(data, &Path::ROOT)
    }
}

impl fmt::Debug for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventType")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalogue").field("types", &self.names()).finish()
    }
}

impl Catalogue {
    /// The event types hookline ships with, compiled on first use.
    ///
    /// # Panics
    ///
    /// If a shipped schema is broken, which a unit test rules out.
    pub fn builtin() -> &'static Catalogue {
        static BUILTIN: OnceLock<Catalogue> = OnceLock::new();
        BUILTIN.get_or_init(|| match Self::shipped() {
            Ok(catalogue) => catalogue,
            Err(err) => panic!("a shipped event schema is broken: {err}"),
        })
    }

    fn shipped() -> Result<Catalogue, CatalogueError> {
        let schemas = SHIPPED_SCHEMAS
            .iter()
            .map(|(file, text)| {
                serde_json::from_str(text).map_err(|source| CatalogueError::Json { file: (*file).to_owned(), source })
            })
            .collect::<Result<Vec<Value>, _>>()?;
        Self::from_schemas(schemas)
    }

    /// Compiles a catalogue from JSON Schemas, one per event type. Each schema's `title` is the
    /// event type's name and its `description` says what happened; both are required, and the
    /// root must be `"type": "object"`.
    pub fn from_schemas<I: IntoIterator<Item = Value>>(schemas: I) -> Result<Catalogue, CatalogueError> {
        let mut types = Vec::new();
        for (index, schema) in schemas.into_iter().enumerate() {
            types.push(EventType::compile(schema, index)?);
        }
        types.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = types.windows(2).find(|pair| pair[0].name == pair[1].name) {
            return Err(CatalogueError::DuplicateEventType(pair[0].name.clone()));
        }
        Ok(Catalogue { types })
    }

    /// The event type of that exact name.
    pub fn get(&self, name: &str) -> Option<&EventType> {
        self.types.binary_search_by(|t| t.name.as_str().cmp(name)).ok().map(|i| &self.types[i])
    }

    /// Every event type, sorted by name.
    pub fn event_types(&self) -> impl Iterator<Item = &EventType> {
        self.types.iter()
    }

    /// Every event type's name, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.types.iter().map(|t| t.name.as_str()).collect()
    }

    /// Checks an event's `data` against its type's schema, naming the first offending field.
    pub fn validate(&self, event_type: &str, data: &Value) -> Result<(), ValidationError> {
        match self.get(event_type) {
            Some(t) => t.validate(data),
            None => Err(ValidationError::UnknownEventType {
                event_type: event_type.to_owned(),
                known: self.types.iter().map(|t| t.name.clone()).collect(),
            }),
        }
    }
}

/// Why an event's `data` was refused. Messages are written for the API user who sent it.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ValidationError {
    #[error("unknown event type `{event_type}`; known types: {}", known.join(", "))]
    UnknownEventType { event_type: String, known: Vec<String> },
    #[error("{path}: {message}")]
    Invalid {
        /// Where, rooted at `data`: `data.tenant`, `data.addresses[2]`, `data["odd key"]`.
        path: String,
        rule: Rule,
        message: String,
    },
}

impl ValidationError {
    /// The offending field's path, if the error concerns a field.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::UnknownEventType { .. } => None,
            Self::Invalid { path, .. } => Some(path),
        }
    }
}

/// The schema rule a value broke; each is named after its JSON Schema keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Type,
    Required,
    AdditionalProperties,
    MinLength,
    MaxLength,
    MaxItems,
    MaxProperties,
}

impl Rule {
    /// The JSON Schema keyword: `type`, `required`, `additionalProperties`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Type => "type",
            Self::Required => "required",
            Self::AdditionalProperties => "additionalProperties",
            Self::MinLength => "minLength",
            Self::MaxLength => "maxLength",
            Self::MaxItems => "maxItems",
            Self::MaxProperties => "maxProperties",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a set of schemas could not be loaded. `schema` is the schema's `title`, or its position
/// (`#0`, `#1`, ...) when it has none; `at` is a JSON pointer into the schema (`#/properties/x`).
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error(
        "schema `{schema}`: keyword `{keyword}` at `{at}` is not supported; supported keywords: {}",
        SUPPORTED_KEYWORDS.join(", ")
    )]
    UnsupportedKeyword { schema: String, at: String, keyword: String },
    #[error("schema `{schema}`: `{keyword}` at `{at}` {problem}")]
    InvalidKeyword { schema: String, at: String, keyword: String, problem: String },
    #[error("schema `{schema}`: {problem}")]
    InvalidSchema { schema: String, problem: String },
    #[error("event type `{0}` is defined by more than one schema")]
    DuplicateEventType(String),
    #[error("schema file `{file}` is not valid JSON: {source}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
}

// ---------------------------------------------------------------------------------------------
// Compiled schemas.

/// A set of JSON types, as a bit set.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Types(u8);

impl Types {
    /// In the order they are listed in messages.
    const OBJECT: u8 = 1;
    const ARRAY: u8 = 1 << 1;
    const STRING: u8 = 1 << 2;
    const BOOLEAN: u8 = 1 << 3;
    const NUMBER: u8 = 1 << 4;
    const INTEGER: u8 = 1 << 5;
    const NULL: u8 = 1 << 6;
    const ANY: Types = Types(0x7f);
    /// In the order they are listed in messages.
    const NAMES: [(&'static str, u8); 7] = [
        ("object", Self::OBJECT),
        ("array", Self::ARRAY),
        ("string", Self::STRING),
        ("boolean", Self::BOOLEAN),
        ("number", Self::NUMBER),
        ("integer", Self::INTEGER),
        ("null", Self::NULL),
    ];

    fn named(name: &str) -> Option<u8> {
        Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, bit)| *bit)
    }

    fn admits(self, value: &Value) -> bool {
        let has = |bit: u8| self.0 & bit != 0;
        match value {
            Value::Null => has(Self::NULL),
            Value::Bool(_) => has(Self::BOOLEAN),
            Value::Number(n) => has(Self::NUMBER) || (has(Self::INTEGER) && is_integer(n)),
            Value::String(_) => has(Self::STRING),
            Value::Array(_) => has(Self::ARRAY),
            Value::Object(_) => has(Self::OBJECT),
        }
    }
}

/// "string", "string or null", "object, array or null".
impl fmt::Display for Types {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Self::NAMES.iter().filter(|(_, bit)| self.0 & bit != 0).map(|(n, _)| *n).collect();
        match names.split_last() {
            None => f.write_str("nothing"),
            Some((last, [])) => f.write_str(last),
            Some((last, rest)) => write!(f, "{} or {last}", rest.join(", ")),
        }
    }
}

/// JSON Schema counts 1.0 as an integer.
fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One compiled (sub)schema. Keywords that do not apply to a value's type are ignored for it,
/// as in JSON Schema: `maxLength` constrains strings only, `properties` objects only.
#[derive(Default)]
struct Node {
    types: Option<Types>,
    /// In the order the schema's `properties` map yields them.
    properties: Vec<(String, Node)>,
    required: Vec<String>,
    /// `additionalProperties: false`.
    closed: bool,
    items: Option<Box<Node>>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    max_items: Option<usize>,
    max_properties: Option<usize>,
}

impl Node {
    fn check(&self, value: &Value, path: &Path<'_>) -> Result<(), ValidationError> {
        let types = self.types.unwrap_or(Types::ANY);
        if !types.admits(value) {
            return Err(path.invalid(Rule::Type, format!("expected {types}, got {}", kind_of(value))));
        }
        match value {
            Value::String(text) => self.check_string(text, path),
            Value::Array(items) => self.check_array(items, path),
            Value::Object(fields) => self.check_object(fields, path),
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        }
    }

    fn check_string(&self, text: &str, path: &Path<'_>) -> Result<(), ValidationError> {
        // A string never has more characters than bytes, so most strings are judged by their
        // byte length without counting characters.
        if let Some(min) = self.min_length
            && text.len() < min.saturating_mul(4)
            && text.chars().count() < min
        {
            let message = if min == 1 {
                "must not be empty".to_owned()
            } else {
                format!("shorter than {}", count(min, "character"))
            };
            return Err(path.invalid(Rule::MinLength, message));
        }
        if let Some(max) = self.max_length
            && text.len() > max
            && text.chars().count() > max
        {
            return Err(path.invalid(Rule::MaxLength, format!("longer than {}", count(max, "character"))));
        }
        Ok(())
    }

    fn check_array(&self, items: &[Value], path: &Path<'_>) -> Result<(), ValidationError> {
        if let Some(max) = self.max_items
            && items.len() > max
        {
            return Err(path.invalid(Rule::MaxItems, format!("more than {}", count(max, "item"))));
        }
        if let Some(schema) = &self.items {
            for (index, item) in items.iter().enumerate() {
                schema.check(item, &path.index(index))?;
            }
        }
        Ok(())
    }

    fn check_object(&self, fields: &Map<String, Value>, path: &Path<'_>) -> Result<(), ValidationError> {
        for name in &self.required {
            if !fields.contains_key(name) {
                return Err(path.key(name).invalid(Rule::Required, "required field is missing".to_owned()));
            }
        }
        if let Some(max) = self.max_properties
            && fields.len() > max
        {
            return Err(path.invalid(Rule::MaxProperties, format!("more than {}", count(max, "field"))));
        }
        let mut declared = 0;
        for (name, schema) in &self.properties {
            if let Some(value) = fields.get(name) {
                declared += 1;
                schema.check(value, &path.key(name))?;
            }
        }
        // Every field was a declared one: nothing left to look up.
        if self.closed && declared != fields.len() {
            for name in fields.keys() {
                if !self.properties.iter().any(|(declared, _)| declared == name) {
                    return Err(path.key(name).invalid(Rule::AdditionalProperties, self.unknown_field_message(name)));
                }
            }
        }
        Ok(())
    }

    fn unknown_field_message(&self, name: &str) -> String {
        if self.properties.is_empty() {
            return "unknown field; this object has no fields".to_owned();
        }
        let mut message = String::from("unknown field; ");
        // Names differ only in case (`customerGroupId` for `CustomerGroupId`): say so.
        if let Some((meant, _)) = self.properties.iter().find(|(declared, _)| declared.eq_ignore_ascii_case(name)) {
            let _ = write!(message, "did you mean `{meant}`? ");
        }
        message.push_str("allowed fields: ");
        let allowed: Vec<&str> = self.properties.iter().map(|(declared, _)| declared.as_str()).collect();
        message.push_str(&allowed.join(", "));
        message
    }
}

/// "1 character", "256 characters".
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

// ---------------------------------------------------------------------------------------------
// Paths: built on the stack while walking, written out only when something is wrong.

#[derive(Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

impl<'a> Path<'a> {
    const ROOT: Path<'static> = Path { parent: None, step: Step::Root };

    fn key(&'a self, name: &'a str) -> Path<'a> {
        Path { parent: Some(self), step: Step::Key(name) }
    }

    fn index(&'a self, index: usize) -> Path<'a> {
        Path { parent: Some(self), step: Step::Index(index) }
    }

    fn invalid(&self, rule: Rule, message: String) -> ValidationError {
        ValidationError::Invalid { path: self.to_string(), rule, message }
    }
}

/// `data.legalInfo`, `data.addresses[2]`, `data["we ird"]`.
impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            fmt::Display::fmt(parent, f)?;
        }
        match self.step {
            Step::Root => f.write_str("data"),
            Step::Index(index) => write!(f, "[{index}]"),
            Step::Key(name) if is_identifier(name) => write!(f, ".{name}"),
            Step::Key(name) => write!(f, "[{}]", Value::from(name)),
        }
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

// ---------------------------------------------------------------------------------------------
// Loading.

impl EventType {
    fn compile(schema: Value, index: usize) -> Result<EventType, CatalogueError> {
        let label = match schema.get("title") {
            Some(Value::String(title)) => title.clone(),
            _ => format!("#{index}"),
        };
        let invalid =
            |problem: &str| CatalogueError::InvalidSchema { schema: label.clone(), problem: problem.to_owned() };
        // Keywords first: an unsupported keyword is the error an author most needs to see.
        let node = Compiler { schema: &label }.node(&schema, "#")?;
        let name = match schema.get("title") {
            Some(Value::String(title)) => title.clone(),
            _ => return Err(invalid("the root needs a `title`: the event type's name")),
        };
        let valid_name = !name.is_empty()
            && name.chars().count() <= MAX_NAME_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid_name {
            return Err(invalid("the `title` must be 1 to 128 characters from A-Z, a-z, 0-9, '.', '_' and '-'"));
        }
        let description = match schema.get("description") {
            Some(Value::String(text)) if !text.trim().is_empty() => text.clone(),
            _ => return Err(invalid("the root needs a `description` saying what happened")),
        };
        if node.types != Some(Types(Types::OBJECT)) {
            return Err(invalid("the root must be `\"type\": \"object\"`: an event's data is an object"));
        }
        Ok(EventType { name, description, root: node, schema })
    }
}

/// Compiles one schema document; `schema` names it in errors.
struct Compiler<'a> {
    schema: &'a str,
}

impl Compiler<'_> {
    fn node(&self, value: &Value, at: &str) -> Result<Node, CatalogueError> {
        let Value::Object(keywords) = value else {
            return Err(CatalogueError::InvalidSchema {
                schema: self.schema.to_owned(),
                problem: format!("the schema at `{at}` must be a JSON object (boolean schemas are not supported)"),
            });
        };
        let mut node = Node::default();
        for (keyword, value) in keywords {
            let bad = |problem: &str| self.invalid(at, keyword, problem);
            match keyword.as_str() {
                "type" => node.types = Some(self.types(value, at)?),
                "properties" => {
                    let Value::Object(properties) = value else { return Err(bad("must be an object of schemas")) };
                    for (name, schema) in properties {
                        let child = self.node(schema, &format!("{at}/properties/{}", escape_pointer(name)))?;
                        node.properties.push((name.clone(), child));
                    }
                }
                "required" => {
                    let names = value.as_array().ok_or_else(|| bad("must be an array of field names"))?;
                    for name in names {
                        let name = name.as_str().ok_or_else(|| bad("must be an array of field names"))?;
                        if node.required.iter().any(|known| known == name) {
                            return Err(bad(&format!("lists `{name}` twice")));
                        }
                        node.required.push(name.to_owned());
                    }
                }
                "additionalProperties" => {
                    node.closed =
                        !value.as_bool().ok_or_else(|| bad("must be true or false (schemas are not supported)"))?;
                }
                "items" => node.items = Some(Box::new(self.node(value, &format!("{at}/items"))?)),
                "minLength" => node.min_length = Some(self.size(value, at, keyword)?),
                "maxLength" => node.max_length = Some(self.size(value, at, keyword)?),
                "maxItems" => node.max_items = Some(self.size(value, at, keyword)?),
                "maxProperties" => node.max_properties = Some(self.size(value, at, keyword)?),
                "$schema" if value.as_str() != Some(DIALECT) => return Err(bad(&format!("must be \"{DIALECT}\""))),
                "$id" | "title" | "description" if !value.is_string() => return Err(bad("must be a string")),
                "examples" if !value.is_array() => return Err(bad("must be an array")),
                "$schema" | "$id" | "title" | "description" | "examples" => {}
                _ => {
                    return Err(CatalogueError::UnsupportedKeyword {
                        schema: self.schema.to_owned(),
                        at: at.to_owned(),
                        keyword: keyword.clone(),
                    });
                }
            }
        }
        if let (Some(min), Some(max)) = (node.min_length, node.max_length)
            && min > max
        {
            return Err(self.invalid(at, "minLength", "is greater than `maxLength`: no string could match"));
        }
        if node.closed
            && let Some(name) = node.required.iter().find(|name| !node.properties.iter().any(|(p, _)| p == *name))
        {
            let problem =
                format!("lists `{name}`, which `properties` does not declare and `additionalProperties` forbids");
            return Err(self.invalid(at, "required", &problem));
        }
        Ok(node)
    }

    fn types(&self, value: &Value, at: &str) -> Result<Types, CatalogueError> {
        let problem = "must be a type name or an array of them: object, array, string, boolean, number, integer, null";
        let names: Vec<&Value> = match value {
            Value::Array(names) if !names.is_empty() => names.iter().collect(),
            Value::String(_) => vec![value],
            _ => return Err(self.invalid(at, "type", problem)),
        };
        let mut types = 0;
        for name in names {
            let bit = name.as_str().and_then(Types::named).ok_or_else(|| self.invalid(at, "type", problem))?;
            if types & bit != 0 {
                return Err(self.invalid(at, "type", "lists a type twice"));
            }
            types |= bit;
        }
        Ok(Types(types))
    }

    fn size(&self, value: &Value, at: &str, keyword: &str) -> Result<usize, CatalogueError> {
        value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.invalid(at, keyword, "must be a non-negative integer"))
    }

    fn invalid(&self, at: &str, keyword: &str, problem: &str) -> CatalogueError {
        CatalogueError::InvalidKeyword {
            schema: self.schema.to_owned(),
            at: at.to_owned(),
            keyword: keyword.to_owned(),
            problem: problem.to_owned(),
        }
    }
}

/// RFC 6901: `~` and `/` inside a pointer segment.
fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// The spec's field types (`spec/client-management-events.md`).
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Spec {
        Str,
        Obj,
        Map,
        Bool,
        Objs,
        Strs,
    }
    use Spec::*;

    struct SpecType {
        name: &'static str,
        fields: &'static [(&'static str, Spec)],
        required: &'static [&'static str],
    }

    const LEGAL_ENTITY: &[(&str, Spec)] = &[
        ("legalEntityId", Str),
        ("name", Str),
        ("type", Str),
        ("parentId", Str),
        ("legalInfo", Obj),
        ("accountLimit", Obj),
        ("CustomerGroupId", Str),
        ("customerGroups", Objs),
        ("addresses", Objs),
        ("documents", Strs),
        ("approvalGroup", Objs),
        ("mixins", Map),
        ("metadata", Obj),
        ("tenant", Str),
    ];

    const SPEC: [SpecType; 4] = [
        SpecType {
            name: "client-management.legalentity-created",
            fields: LEGAL_ENTITY,
            required: &["legalEntityId", "tenant", "name"],
        },
        SpecType {
            name: "client-management.legalentity-updated",
            fields: LEGAL_ENTITY,
            required: &["legalEntityId", "tenant"],
        },
        SpecType {
            name: "client-management.legalentity-deleted",
            fields: &[("tenant", Str), ("legalEntityId", Str), ("legalEntityParentId", Str)],
            required: &["tenant", "legalEntityId"],
        },
        SpecType {
            name: "client-management.user-assigned-to-legalentity",
            fields: &[
                ("tenant", Str),
                ("userId", Str),
                ("email", Str),
                ("legalEntityId", Str),
                ("type", Str),
                ("primary", Bool),
                ("assignmentId", Str),
            ],
            required: &["tenant", "userId", "legalEntityId", "assignmentId"],
        },
    ];

    fn catalogue_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalogue")
    }

    fn example(event_type: &str) -> Value {
        let path = catalogue_dir().join("examples").join(format!("{event_type}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }

    fn validate(event_type: &str, data: &Value) -> Result<(), ValidationError> {
        Catalogue::builtin().validate(event_type, data)
    }

    /// The error's (path, rule, message), or a panic naming what was expected.
    fn refusal(event_type: &str, data: &Value) -> (String, Rule, String) {
        match validate(event_type, data) {
            Err(ValidationError::Invalid { path, rule, message }) => (path, rule, message),
            other => panic!("{event_type}: expected a refusal of {data}, got {other:?}"),
        }
    }

    fn with(mut data: Value, field: &str, value: Value) -> Value {
        data[field] = value;
        data
    }

    fn schema(properties: Value) -> Value {
        json!({"title": "test.thing", "description": "A test event.", "type": "object", "properties": properties})
    }

    fn load_error(schemas: Vec<Value>) -> CatalogueError {
        match Catalogue::from_schemas(schemas) {
            Err(err) => err,
            Ok(catalogue) => panic!("expected a load error, got {catalogue:?}"),
        }
    }

    #[test]
    fn the_shipped_schemas_compile_into_the_four_spec_types() {
        assert!(Catalogue::shipped().is_ok(), "{:?}", Catalogue::shipped().err());
        let mut names: Vec<&str> = SPEC.iter().map(|t| t.name).collect();
        names.sort_unstable();
        assert_eq!(Catalogue::builtin().names(), names);
    }

    #[test]
    fn every_schema_file_is_registered_and_named_after_its_event_type() {
        let on_disk: BTreeSet<String> = std::fs::read_dir(catalogue_dir())
            .expect("catalogue dir")
            .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".schema.json"))
            .collect();
        let registered: BTreeSet<String> = SHIPPED_SCHEMAS.iter().map(|(file, _)| (*file).to_owned()).collect();
        assert_eq!(on_disk, registered, "every schema file is listed in SHIPPED_SCHEMAS and vice versa");
        for (file, text) in SHIPPED_SCHEMAS {
            let schema: Value = serde_json::from_str(text).expect("json");
            assert_eq!(format!("{}.schema.json", schema["title"].as_str().expect("title")), *file);
        }
    }

    #[test]
    fn the_schemas_declare_exactly_the_spec_fields_and_required_fields() {
        for spec in &SPEC {
            let schema = Catalogue::builtin().get(spec.name).expect("shipped").schema();
            let declared: BTreeSet<&str> =
                schema["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
            let expected: BTreeSet<&str> = spec.fields.iter().map(|(name, _)| *name).collect();
            assert_eq!(declared, expected, "{}", spec.name);
            let required: Vec<&str> =
                schema["required"].as_array().expect("required").iter().map(|v| v.as_str().expect("name")).collect();
            assert_eq!(required, spec.required, "{}", spec.name);
            assert_eq!(schema["additionalProperties"], json!(false), "{}", spec.name);
        }
    }

    #[test]
    fn every_example_is_full_and_valid() {
        let examples: BTreeSet<String> = std::fs::read_dir(catalogue_dir().join("examples"))
            .expect("examples dir")
            .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        let expected: BTreeSet<String> = SPEC.iter().map(|t| format!("{}.json", t.name)).collect();
        assert_eq!(examples, expected, "one example per event type, and no other");
        for spec in &SPEC {
            let data = example(spec.name);
            assert_eq!(validate(spec.name, &data), Ok(()), "{}", spec.name);
            for (field, kind) in spec.fields {
                let value = &data[*field];
                let full = match kind {
                    Str => value.as_str().is_some_and(|s| !s.is_empty()),
                    Bool => value.is_boolean(),
                    Obj | Map => value.as_object().is_some_and(|o| !o.is_empty()),
                    Objs => value
                        .as_array()
                        .is_some_and(|a| !a.is_empty() && a.iter().all(|i| !i.as_object().expect("object").is_empty())),
                    Strs => value.as_array().is_some_and(|a| !a.is_empty()),
                };
                assert!(full, "{}: example field `{field}` is filled", spec.name);
            }
        }
    }

    #[test]
    fn a_missing_required_field_is_named() {
        for spec in &SPEC {
            for field in spec.required {
                let mut data = example(spec.name);
                data.as_object_mut().expect("object").remove(*field);
                let (path, rule, message) = refusal(spec.name, &data);
                assert_eq!(path, format!("data.{field}"), "{}", spec.name);
                assert_eq!(rule, Rule::Required);
                assert_eq!(message, "required field is missing");
            }
        }
    }

    #[test]
    fn optional_fields_may_be_absent() {
        for spec in &SPEC {
            let mut data = example(spec.name);
            data.as_object_mut().expect("object").retain(|name, _| spec.required.contains(&name.as_str()));
            assert_eq!(validate(spec.name, &data), Ok(()), "{}", spec.name);
        }
    }

    #[test]
    fn a_wrong_type_is_named_for_every_field() {
        for spec in &SPEC {
            for (field, kind) in spec.fields {
                let (wrong, expected): (&[Value], &str) = match kind {
                    Str => (&[json!(42), json!(true), json!({"a": 1}), json!(["x"])], "string"),
                    Bool => (&[json!("yes"), json!(1), json!({}), json!([true])], "boolean"),
                    Obj | Map => (&[json!("text"), json!(3.5), json!(false), json!([{}])], "object"),
                    Objs | Strs => (&[json!("text"), json!(7), json!(true), json!({"0": {}})], "array"),
                };
                let expected =
                    if spec.required.contains(field) { expected.to_owned() } else { format!("{expected} or null") };
                for value in wrong {
                    let data = with(example(spec.name), field, value.clone());
                    let (path, rule, message) = refusal(spec.name, &data);
                    assert_eq!((path.as_str(), rule), (format!("data.{field}").as_str(), Rule::Type), "{}", spec.name);
                    assert_eq!(message, format!("expected {expected}, got {}", kind_of(value)));
                }
            }
        }
    }

    #[test]
    fn null_is_allowed_for_optional_fields_and_refused_for_required_ones() {
        for spec in &SPEC {
            for (field, _) in spec.fields {
                let data = with(example(spec.name), field, Value::Null);
                if spec.required.contains(field) {
                    let (path, rule, message) = refusal(spec.name, &data);
                    assert_eq!((path, rule), (format!("data.{field}"), Rule::Type));
                    assert!(message.ends_with("got null"), "{message}");
                } else {
                    assert_eq!(validate(spec.name, &data), Ok(()), "{}: `{field}` may be null", spec.name);
                }
            }
        }
    }

    #[test]
    fn unknown_fields_are_refused_by_path() {
        for spec in &SPEC {
            let data = with(example(spec.name), "colour", json!("blue"));
            let (path, rule, message) = refusal(spec.name, &data);
            assert_eq!((path.as_str(), rule), ("data.colour", Rule::AdditionalProperties));
            assert!(message.starts_with("unknown field; allowed fields: "), "{message}");
            for (field, _) in spec.fields {
                assert!(message.contains(field), "{message} lists {field}");
            }
        }
        let data = with(example("client-management.legalentity-deleted"), "we ird", json!(1));
        let (path, ..) = refusal("client-management.legalentity-deleted", &data);
        assert_eq!(path, r#"data["we ird"]"#);
    }

    #[test]
    fn customer_group_id_keeps_its_capital_c() {
        let name = "client-management.legalentity-created";
        let data = json!({"legalEntityId": "le-1", "tenant": "acme", "name": "Nordwind", "CustomerGroupId": "cg-1"});
        assert_eq!(validate(name, &data), Ok(()));
        let data = json!({"legalEntityId": "le-1", "tenant": "acme", "name": "Nordwind", "customerGroupId": "cg-1"});
        let (path, rule, message) = refusal(name, &data);
        assert_eq!((path.as_str(), rule), ("data.customerGroupId", Rule::AdditionalProperties));
        assert!(message.starts_with("unknown field; did you mean `CustomerGroupId`? allowed fields: "), "{message}");
    }

    #[test]
    fn a_bad_array_item_is_named_by_its_index() {
        let name = "client-management.legalentity-updated";
        let mut data = example(name);
        data["addresses"].as_array_mut().expect("addresses").push(json!("Große Elbstraße 145, Hamburg"));
        assert_eq!(
            refusal(name, &data),
            ("data.addresses[2]".to_owned(), Rule::Type, "expected object, got string".to_owned())
        );

        let data = with(example(name), "customerGroups", json!([null, {}]));
        assert_eq!(refusal(name, &data).0, "data.customerGroups[0]");
        let data = with(example(name), "documents", json!(["contract.pdf", 7, true]));
        assert_eq!(
            refusal(name, &data),
            ("data.documents[1]".to_owned(), Rule::Type, "expected string, got number".to_owned())
        );
        let data = with(example(name), "approvalGroup", json!([{}, {}, {}, ["x"]]));
        assert_eq!(refusal(name, &data).0, "data.approvalGroup[3]");
    }

    #[test]
    fn content_inside_object_and_map_fields_is_free() {
        let name = "client-management.legalentity-created";
        let mut data = example(name);
        data["legalInfo"] =
            json!({"taxId": 12345, "nested": {"deep": [1, "two", null, {"x": {}}]}, "we ird key": null});
        data["mixins"] = json!({"": "", "CustomerGroupId": 1, "a.b": [[]]});
        data["metadata"] = json!({});
        data["addresses"] = json!([{}, {"anything": ["goes", 1, null]}]);
        assert_eq!(validate(name, &data), Ok(()));
    }

    #[test]
    fn data_must_be_an_object() {
        for spec in &SPEC {
            for data in [json!([]), json!("text"), json!(null), json!(1), json!(true)] {
                let (path, rule, message) = refusal(spec.name, &data);
                assert_eq!((path.as_str(), rule), ("data", Rule::Type));
                assert_eq!(message, format!("expected object, got {}", kind_of(&data)));
            }
        }
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        let name = "client-management.legalentity-created";
        let base = example(name);
        let id = |text: String| with(base.clone(), "legalEntityId", json!(text));
        assert_eq!(validate(name, &id("é".repeat(256))), Ok(()), "512 bytes but 256 characters");
        assert_eq!(validate(name, &id("𝄞".repeat(256))), Ok(()), "1024 bytes but 256 characters");
        assert_eq!(validate(name, &id("a".repeat(256))), Ok(()));
        for text in ["é".repeat(257), "a".repeat(257), "𝄞".repeat(300)] {
            assert_eq!(
                refusal(name, &id(text)),
                ("data.legalEntityId".to_owned(), Rule::MaxLength, "longer than 256 characters".to_owned())
            );
        }
        assert_eq!(
            refusal(name, &id(String::new())),
            ("data.legalEntityId".to_owned(), Rule::MinLength, "must not be empty".to_owned())
        );
        assert_eq!(refusal(name, &with(base.clone(), "CustomerGroupId", json!(""))).1, Rule::MinLength);

        assert_eq!(validate(name, &with(base.clone(), "name", json!("ü".repeat(1024)))), Ok(()));
        assert_eq!(refusal(name, &with(base.clone(), "name", json!("ü".repeat(1025)))).1, Rule::MaxLength);
        let (path, rule, _) = refusal(name, &with(base, "documents", json!(["a.pdf", "x".repeat(1025)])));
        assert_eq!((path.as_str(), rule), ("data.documents[1]", Rule::MaxLength));
    }

    #[test]
    fn arrays_hold_at_most_a_thousand_items() {
        let name = "client-management.legalentity-created";
        let data = with(example(name), "addresses", Value::Array(vec![json!({}); 1000]));
        assert_eq!(validate(name, &data), Ok(()));
        let data = with(example(name), "addresses", Value::Array(vec![json!({}); 1001]));
        assert_eq!(
            refusal(name, &data),
            ("data.addresses".to_owned(), Rule::MaxItems, "more than 1000 items".to_owned())
        );
        let data = with(example(name), "documents", Value::Array(vec![json!("a.pdf"); 1001]));
        assert_eq!(refusal(name, &data).1, Rule::MaxItems);
    }

    #[test]
    fn required_fields_are_checked_before_anything_else() {
        let name = "client-management.legalentity-created";
        let data = json!({"name": 5, "legalEntityId": "le-1", "bogus": true});
        assert_eq!(
            refusal(name, &data),
            ("data.tenant".to_owned(), Rule::Required, "required field is missing".to_owned())
        );
        // `required` lists legalEntityId first.
        assert_eq!(refusal(name, &json!({})).0, "data.legalEntityId");
        // A declared field's type before an unknown field.
        let data = json!({"name": "n", "legalEntityId": "le-1", "tenant": 5, "aaa": true});
        assert_eq!(refusal(name, &data).0, "data.tenant");
    }

    #[test]
    fn an_unknown_event_type_lists_the_known_ones() {
        let err = validate("client-management.legalentity-exploded", &json!({})).expect_err("unknown");
        let mut known: Vec<String> = SPEC.iter().map(|t| t.name.to_owned()).collect();
        known.sort();
        assert_eq!(
            err,
            ValidationError::UnknownEventType {
                event_type: "client-management.legalentity-exploded".into(),
                known: known.clone()
            }
        );
        assert_eq!(err.path(), None);
        assert_eq!(
            err.to_string(),
            format!("unknown event type `client-management.legalentity-exploded`; known types: {}", known.join(", "))
        );
    }

    #[test]
    fn errors_read_as_path_and_message() {
        let data = json!({"tenant": 5, "legalEntityId": "le-1"});
        let err = validate("client-management.legalentity-deleted", &data).expect_err("refused");
        assert_eq!(err.path(), Some("data.tenant"));
        assert_eq!(err.to_string(), "data.tenant: expected string, got number");
    }

    #[test]
    fn rules_are_named_after_their_keywords() {
        let rules = [
            (Rule::Type, "type"),
            (Rule::Required, "required"),
            (Rule::AdditionalProperties, "additionalProperties"),
            (Rule::MinLength, "minLength"),
            (Rule::MaxLength, "maxLength"),
            (Rule::MaxItems, "maxItems"),
            (Rule::MaxProperties, "maxProperties"),
        ];
        for (rule, keyword) in rules {
            assert_eq!(rule.as_str(), keyword);
            assert_eq!(rule.to_string(), keyword);
            assert!(SUPPORTED_KEYWORDS.contains(&keyword));
        }
    }

    #[test]
    fn event_types_are_sorted_and_described() {
        let catalogue = Catalogue::builtin();
        let names: Vec<&str> = catalogue.event_types().map(EventType::name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(names, catalogue.names());
        for t in catalogue.event_types() {
            assert!(!t.description().is_empty());
            assert_eq!(catalogue.get(t.name()).map(EventType::name), Some(t.name()));
        }
        let created = catalogue.get("client-management.legalentity-created").expect("created");
        assert!(created.schema()["properties"]["CustomerGroupId"].is_object());
        assert!(catalogue.get("client-management.*").is_none());
        assert!(format!("{catalogue:?}").contains("client-management.legalentity-deleted"));
    }

    #[test]
    fn unsupported_keywords_are_refused_at_load() {
        let keywords =
            ["pattern", "enum", "const", "format", "minimum", "$ref", "oneOf", "minItems", "prefixItems", "default"];
        for keyword in keywords {
            let places = [
                (json!({"title": "test.thing", "description": "d", "type": "object", keyword: 1}), "#"),
                (schema(json!({"name": {"type": "string", keyword: 1}})), "#/properties/name"),
                (schema(json!({"list": {"type": "array", "items": {keyword: 1}}})), "#/properties/list/items"),
                (schema(json!({"a/b": {keyword: 1}})), "#/properties/a~1b"),
            ];
            for (schema, pointer) in places {
                let err = load_error(vec![schema]);
                let CatalogueError::UnsupportedKeyword { schema, at, keyword: named } = &err else {
                    panic!("{keyword}: expected UnsupportedKeyword, got {err:?}");
                };
                assert_eq!((schema.as_str(), at.as_str(), named.as_str()), ("test.thing", pointer, keyword));
                let text = err.to_string();
                assert!(text.contains(&format!("`{keyword}`")) && text.contains("test.thing"), "{text}");
            }
        }
        // A schema without a title is named by its position.
        let err = load_error(vec![schema(json!({})), json!({"type": "object", "if": {}})]);
        assert!(matches!(&err, CatalogueError::UnsupportedKeyword { schema, .. } if schema == "#1"), "{err:?}");
    }

    #[test]
    fn malformed_schemas_are_refused_at_load() {
        let cases = [
            (json!({"description": "d", "type": "object"}), "needs a `title`"),
            (json!({"title": "test.thing", "type": "object"}), "needs a `description`"),
            (json!({"title": "test thing", "description": "d", "type": "object"}), "the `title` must be"),
            (json!({"title": "test.thing", "description": "d", "type": ["object", "null"]}), "root must be"),
            (json!({"title": "test.thing", "description": "d"}), "root must be"),
            (json!(["not", "a", "schema"]), "must be a JSON object"),
            (schema(json!({"a": {"type": "str"}})), "`type` at `#/properties/a` must be a type name"),
            (schema(json!({"a": {"type": []}})), "must be a type name"),
            (schema(json!({"a": {"type": ["string", "string"]}})), "lists a type twice"),
            (schema(json!({"a": true})), "boolean schemas are not supported"),
            (schema(json!({"a": {"type": "object", "additionalProperties": {}}})), "must be true or false"),
            (
                schema(json!({"a": {"type": "string", "maxLength": -1}})),
                "`maxLength` at `#/properties/a` must be a non-negative",
            ),
            (schema(json!({"a": {"type": "string", "maxLength": 1.5}})), "must be a non-negative integer"),
            (schema(json!({"a": {"type": "string", "minLength": 5, "maxLength": 4}})), "no string could match"),
            (schema(json!({"a": {"type": "array", "items": [{}]}})), "must be a JSON object"),
            (schema(json!({"a": {"type": "object", "required": "b"}})), "must be an array of field names"),
            (schema(json!({"a": {"type": "object", "required": ["b", "b"]}})), "lists `b` twice"),
            (schema(json!({"a": {"description": 5}})), "must be a string"),
            (schema(json!({"a": {"examples": "x"}})), "must be an array"),
            (
                json!({"$schema": "http://json-schema.org/draft-07/schema#", "title": "test.thing", "description": "d", "type": "object"}),
                "draft/2020-12",
            ),
            (
                json!({"title": "test.thing", "description": "d", "type": "object", "additionalProperties": false, "required": ["a"]}),
                "`properties` does not declare",
            ),
        ];
        for (case, why) in cases {
            let text = load_error(vec![case.clone()]).to_string();
            assert!(text.contains(why), "{case}: `{text}` says {why:?}");
        }
        let err = load_error(vec![schema(json!({})), schema(json!({}))]);
        assert!(matches!(&err, CatalogueError::DuplicateEventType(name) if name == "test.thing"), "{err:?}");
    }

    #[test]
    fn the_supported_keywords_validate_as_documented() {
        let catalogue = Catalogue::from_schemas([json!({
            "$schema": DIALECT,
            "$id": "urn:test:order-placed",
            "title": "test.order-placed",
            "description": "An order was placed.",
            "examples": [{"code": "abc"}],
            "type": "object",
            "maxProperties": 3,
            "required": ["code"],
            "properties": {
                "code": {"type": "string", "minLength": 3, "maxLength": 5},
                "count": {"type": ["integer", "null"]},
                "total": {"type": "number"},
                "lines": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["sku"],
                        "additionalProperties": false,
                        "properties": {"sku": {"type": "string"}, "unit price": {"type": "number"}}
                    }
                },
            }
        })])
        .expect("loads");
        let check = |data: Value| catalogue.validate("test.order-placed", &data);
        let refused = |data: Value| match check(data) {
            Err(ValidationError::Invalid { path, rule, message }) => (path, rule, message),
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(check(json!({"code": "abc", "count": 2.0, "extra": "open object"})), Ok(()));
        assert_eq!(check(json!({"code": "abc", "total": 1.5})), Ok(()));
        assert_eq!(check(json!({"code": "abcde", "count": null, "lines": [{"sku": "s", "unit price": 2}]})), Ok(()));
        assert_eq!(
            refused(json!({"code": "ab"})),
            ("data.code".into(), Rule::MinLength, "shorter than 3 characters".into())
        );
        assert_eq!(
            refused(json!({"code": "abcdef"})),
            ("data.code".into(), Rule::MaxLength, "longer than 5 characters".into())
        );
        assert_eq!(
            refused(json!({"code": "abc", "count": 1.5})),
            ("data.count".into(), Rule::Type, "expected integer or null, got number".into())
        );
        assert_eq!(
            refused(json!({"code": "abc", "total": "1"})),
            ("data.total".into(), Rule::Type, "expected number, got string".into())
        );
        assert_eq!(
            refused(json!({"code": "abc", "a": 1, "b": 2, "c": 3})),
            ("data".into(), Rule::MaxProperties, "more than 3 fields".into())
        );
        assert_eq!(refused(json!({"code": "abc", "lines": [{"sku": "a"}, {}]})).0, "data.lines[1].sku");
        assert_eq!(
            refused(json!({"code": "abc", "lines": [{"sku": "a", "unit price": "2"}]})).0,
            r#"data.lines[0]["unit price"]"#
        );
        let (path, rule, message) = refused(json!({"code": "abc", "lines": [{"sku": "a", "SKU": "b"}]}));
        assert_eq!((path.as_str(), rule), ("data.lines[0].SKU", Rule::AdditionalProperties));
        assert!(message.contains("did you mean `sku`?"), "{message}");
    }

    /// Any JSON value, with keys that are sometimes real field names.
    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
            (0usize..1100).prop_map(|n| Value::String("x".repeat(n))),
        ];
        let field_names: Vec<&str> =
            LEGAL_ENTITY.iter().map(|(name, _)| *name).chain(["userId", "primary", "customerGroupId"]).collect();
        let key = prop_oneof![prop::sample::select(field_names).prop_map(str::to_owned), ".{0,8}"];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..16)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_data_is_judged_without_panicking_and_deterministically(data in arb_json(), which in 0usize..5) {
            let event_type = SPEC.get(which).map_or("no.such-type", |t| t.name);
            let first = validate(event_type, &data);
            prop_assert_eq!(&first, &validate(event_type, &data));
            if let Err(ValidationError::Invalid { path, .. }) = &first {
                prop_assert!(path.starts_with("data"));
            }
        }

        #[test]
        fn a_replaced_field_is_the_only_one_blamed(which in 0usize..4, index in any::<prop::sample::Index>(), value in arb_json()) {
            let spec = &SPEC[which];
            let (field, _) = spec.fields[index.index(spec.fields.len())];
            let data = with(example(spec.name), field, value);
            let first = validate(spec.name, &data);
            prop_assert_eq!(&first, &validate(spec.name, &data));
            if let Err(err) = first {
                let path = err.path().expect("a field error");
                let own = format!("data.{field}");
                let rest = path.strip_prefix(own.as_str());
                prop_assert!(matches!(rest, Some(rest) if rest.is_empty() || rest.starts_with('[')), "{} blamed for {}", path, field);
            }
        }
    }
}
