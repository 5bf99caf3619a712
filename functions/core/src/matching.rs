//! Subscription event-type filters: which events a subscription receives.
//!
//! A filter is `*` (everything), a prefix wildcard such as `client-management.*`, or an exact
//! event-type name. Filters are validated when a subscription is saved; at fan-out time they are
//! matched leniently, so one bad stored filter cannot stop the others from matching.

use std::fmt;
use std::str::FromStr;

/// The longest filter accepted, in characters.
const MAX_LEN: usize = 128;
const WILDCARD: char = '*';

/// One entry of a subscription's `eventTypes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTypeFilter {
    /// `*`: every event type.
    All,
    /// The text before the trailing `*`, e.g. `client-management.`: every event type that
    /// starts with it.
    Prefix(String),
    /// One event type by its full name.
    Exact(String),
}

/// Why an event-type filter was refused. Messages are written for the tenant who sent it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FilterError {
    #[error("an event-type filter must not be empty")]
    Empty,
    #[error("an event-type filter is at most {MAX_LEN} characters long; this one has {len}")]
    TooLong { len: usize },
    #[error(
        "'*' may only end an event-type filter, as in \"client-management.*\" or \"*\"; \
         found one at character {position}"
    )]
    MisplacedWildcard {
        /// 1-based character position.
        position: usize,
    },
    #[error(
        "event-type filters may contain only letters, digits, '.', '_', '-' and a final '*'; \
         found {character:?} at character {position}"
    )]
    InvalidCharacter {
        character: char,
        /// 1-based character position.
        position: usize,
    },
}

impl FromStr for EventTypeFilter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let len = s.chars().count();
        if len == 0 {
            return Err(FilterError::Empty);
        }
        if len > MAX_LEN {
            return Err(FilterError::TooLong { len });
        }
        for (index, character) in s.chars().enumerate() {
            let position = index + 1;
            match character {
                WILDCARD if position == len => {}
                WILDCARD => return Err(FilterError::MisplacedWildcard { position }),
                c if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') => {}
                character => {
                    return Err(FilterError::InvalidCharacter { character, position });
                }
            }
        }
        // The checks above leave at most one '*', and only at the end; a lone "*" is All, so a
        // prefix is never empty.
        Ok(match s.strip_suffix(WILDCARD) {
            Some("") => Self::All,
            Some(prefix) => Self::Prefix(prefix.to_owned()),
            None => Self::Exact(s.to_owned()),
        })
    }
}

impl fmt::Display for EventTypeFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => write!(f, "{WILDCARD}"),
            Self::Prefix(prefix) => write!(f, "{prefix}{WILDCARD}"),
            Self::Exact(name) => f.write_str(name),
        }
    }
}

impl EventTypeFilter {
    /// Whether an event of type `event_type` passes this filter. Matching is case-sensitive,
    /// as event-type names are.
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Self::All => true,
            Self::Prefix(prefix) => event_type.starts_with(prefix.as_str()),
            Self::Exact(name) => name == event_type,
        }
    }
}

/// Whether any of a subscription's stored filters lets `event_type` through.
///
/// Filters are parsed leniently: one that does not parse matches nothing, rather than failing
/// the whole subscription (filters are validated on the way in, so this is only a safeguard).
pub fn matches_any<S: AsRef<str>>(filters: &[S], event_type: &str) -> bool {
    filters
        .iter()
        .any(|filter| filter.as_ref().parse::<EventTypeFilter>().is_ok_and(|filter| filter.matches(event_type)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CATALOGUE: [&str; 4] = [
        "client-management.legalentity-created",
        "client-management.legalentity-updated",
        "client-management.legalentity-deleted",
        "client-management.user-assigned-to-legalentity",
    ];

    fn filter(text: &str) -> EventTypeFilter {
        text.parse().expect("valid filter")
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(filter("*"), EventTypeFilter::All);
        assert_eq!(filter("client-management.*"), EventTypeFilter::Prefix("client-management.".to_owned()));
        assert_eq!(
            filter("client-management.legalentity-created"),
            EventTypeFilter::Exact("client-management.legalentity-created".to_owned())
        );
        assert_eq!(filter("a"), EventTypeFilter::Exact("a".to_owned()));
        assert_eq!(filter("a*"), EventTypeFilter::Prefix("a".to_owned()));
    }

    #[test]
    fn refuses_malformed_filters() {
        assert_eq!("".parse::<EventTypeFilter>(), Err(FilterError::Empty));
        assert_eq!("a".repeat(129).parse::<EventTypeFilter>(), Err(FilterError::TooLong { len: 129 }));
        assert!("a".repeat(128).parse::<EventTypeFilter>().is_ok());
        assert_eq!("**".parse::<EventTypeFilter>(), Err(FilterError::MisplacedWildcard { position: 1 }));
        assert_eq!("client-*.created".parse::<EventTypeFilter>(), Err(FilterError::MisplacedWildcard { position: 8 }));
        assert_eq!("*.created".parse::<EventTypeFilter>(), Err(FilterError::MisplacedWildcard { position: 1 }));
        for (text, character, position) in
            [("client management", ' ', 7), (" *", ' ', 1), ("a/b", '/', 2), ("é", 'é', 1), ("a?", '?', 2)]
        {
            assert_eq!(
                text.parse::<EventTypeFilter>(),
                Err(FilterError::InvalidCharacter { character, position }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn error_messages_say_what_is_wrong() {
        let message = "client-*.x".parse::<EventTypeFilter>().unwrap_err().to_string();
        assert!(message.contains("'*' may only end"), "{message}");
        let message = "a b".parse::<EventTypeFilter>().unwrap_err().to_string();
        assert!(message.contains("' '") && message.contains("character 2"), "{message}");
    }

    #[test]
    fn the_catalogue_wildcard_matches_all_four_types() {
        let wildcard = filter("client-management.*");
        for event_type in CATALOGUE {
            assert!(wildcard.matches(event_type), "{event_type}");
            assert!(filter("*").matches(event_type), "{event_type}");
        }
        assert!(!wildcard.matches("client-managementX.foo"));
        assert!(!wildcard.matches("client-management"));
        assert!(!wildcard.matches("Client-management.legalentity-created"));
    }

    #[test]
    fn exact_matches_only_itself() {
        let exact = filter("client-management.legalentity-created");
        let matched: Vec<_> = CATALOGUE.iter().filter(|t| exact.matches(t)).collect();
        assert_eq!(matched, [&"client-management.legalentity-created"]);
        assert!(!exact.matches("client-management.legalentity-created2"));
        assert!(!exact.matches("client-management.legalentity-create"));
    }

    #[test]
    fn matches_any_skips_unparsable_filters() {
        let event_type = "client-management.legalentity-created";
        assert!(!matches_any::<&str>(&[], event_type));
        assert!(!matches_any(&["client-*.legalentity-created"], event_type));
        assert!(matches_any(&["client-*.legalentity-created", "client-management.*"], event_type));
        assert!(matches_any(&[String::from("*")], event_type));
    }

    fn event_type() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z.-]{0,12}",
            "client-management\\.[a-z-]{0,20}",
            proptest::sample::select(CATALOGUE.to_vec()).prop_map(str::to_owned),
        ]
    }

    fn filter_text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("*".to_owned()),
            "[A-Za-z0-9._-]{1,127}\\*",
            "[A-Za-z0-9._-]{1,128}",
            "client-management\\.[a-z-]{0,10}\\*?",
        ]
    }

    proptest! {
        #[test]
        fn star_matches_everything(event_type in any::<String>()) {
            prop_assert!(EventTypeFilter::All.matches(&event_type));
        }

        #[test]
        fn prefix_matches_exactly_names_that_start_with_it(
            prefix in "[a-z.-]{1,6}",
            event_type in event_type(),
        ) {
            let filter = filter(&format!("{prefix}*"));
            prop_assert_eq!(filter.matches(&event_type), event_type.starts_with(&prefix));
            let longer = format!("{prefix}{event_type}");
            prop_assert!(filter.matches(&longer));
        }

        #[test]
        fn exact_matches_only_itself_prop(name in "[A-Za-z0-9._-]{1,40}", event_type in event_type()) {
            let filter = filter(&name);
            prop_assert!(filter.matches(&name));
            prop_assert_eq!(filter.matches(&event_type), event_type == name);
        }

        #[test]
        fn display_and_from_str_round_trip(text in filter_text()) {
            let parsed = filter(&text);
            prop_assert_eq!(parsed.to_string(), text);
            prop_assert_eq!(filter(&parsed.to_string()), parsed);
        }

        #[test]
        fn matches_any_is_the_or_of_matches(
            valid in proptest::collection::vec(filter_text(), 0..5),
            invalid in proptest::collection::vec("[a-z.]{0,5}[ */?][a-z.]{1,5}", 0..3),
            event_type in event_type(),
        ) {
            let expected = valid.iter().any(|text| filter(text).matches(&event_type));
            let mut all = invalid.clone();
            all.extend(valid.iter().cloned());
            prop_assert_eq!(matches_any(&all, &event_type), expected);
            prop_assert!(!matches_any(&invalid, &event_type));
        }

        #[test]
        fn anything_with_an_inner_star_is_refused(
            head in "[a-z.]{0,10}",
            tail in "[a-z.*]{1,10}",
        ) {
            let text = format!("{head}*{tail}");
            prop_assert!(text.parse::<EventTypeFilter>().is_err(), "{}", text);
        }
    }
}
