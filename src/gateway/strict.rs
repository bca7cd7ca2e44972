//! Strict JSON for client messages: serde_json's grammar, plus a refusal of duplicate object
//! keys.
//!
//! Why: JSON leaves duplicate keys undefined. serde_json keeps the last, JavaScript's
//! `JSON.parse` keeps the last, others keep the first. A message like
//! `{"name": "read_file", "name": "delete_repo"}` could be judged as one tool and run as
//! another, so the gateway refuses any client message with a duplicate key, at any depth,
//! rather than guess which reading the upstream will make.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictError {
    /// Not JSON at all (the JSON-RPC parse error, -32700).
    Syntax(String),
    /// JSON with the same key twice in one object.
    DuplicateKey(String),
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictError::Syntax(why) => write!(f, "not valid JSON: {why}"),
            StrictError::DuplicateKey(key) => write!(f, "duplicate key `{key}` in one object"),
        }
    }
}

const DUPLICATE_MARKER: &str = "\u{0}mcpwarden-duplicate-key\u{0}";

/// Parses one JSON value, refusing duplicate keys.
pub fn parse(text: &str) -> Result<Value, StrictError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = StrictSeed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(classify)?;
    Ok(value)
}

/// Splits a JSON array into its elements' texts without judging them, so that one bad
/// element of a batch does not hide the ids of the others.
pub fn split_batch(text: &str) -> Result<Vec<&RawValue>, StrictError> {
    serde_json::from_str::<Vec<&RawValue>>(text).map_err(classify)
}

fn classify(error: serde_json::Error) -> StrictError {
    let message = error.to_string();
    match message.strip_prefix(DUPLICATE_MARKER) {
        Some(rest) => {
            // serde_json appends " at line L column C"; the key is what comes before it.
            let key = rest
                .rsplit_once(" at line ")
                .map_or(rest, |(key, _)| key)
                .to_owned();
            StrictError::DuplicateKey(key)
        }
        None => StrictError::Syntax(message),
    }
}

/// Reads the top-level `id` of an object message even when the message as a whole is
/// refused, so the refusal can be addressed. `None` when there is no single, unambiguous
/// `id` (absent, given twice, or the text is not an object).
pub fn lenient_id(text: &str) -> Option<Value> {
    struct Entries(Vec<(String, Box<RawValue>)>);
    impl<'de> de::Deserialize<'de> for Entries {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Entries, D::Error> {
            struct EntriesVisitor;
            impl<'de> Visitor<'de> for EntriesVisitor {
                type Value = Entries;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                    let mut entries = Vec::new();
                    while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                        entries.push(entry);
                    }
                    Ok(Entries(entries))
                }
            }
            deserializer.deserialize_map(EntriesVisitor)
        }
    }
    let Entries(entries) = serde_json::from_str(text).ok()?;
    let mut ids = entries.iter().filter(|(key, _)| key == "id");
    let (_, raw) = ids.next()?;
    if ids.next().is_some() {
        return None;
    }
    parse(raw.get()).ok()
}

struct StrictSeed;

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        StrictSeed.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(StrictSeed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("{DUPLICATE_MARKER}{key}")));
            }
            let value = map.next_value_seed(StrictSeed)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert_eq!(
            parse(r#"{"a":1,"a":2}"#),
            Err(StrictError::DuplicateKey("a".into()))
        );
        assert_eq!(
            parse(r#"{"p":{"x":[{"name":1,"name":2}]}}"#),
            Err(StrictError::DuplicateKey("name".into()))
        );
        // Escapes decode before the comparison: "\u0061" is "a".
        assert_eq!(
            parse(r#"{"a":1,"\u0061":2}"#),
            Err(StrictError::DuplicateKey("a".into()))
        );
        assert!(parse(r#"{"a":{"a":1}}"#).is_ok());
    }

    #[test]
    fn syntax_errors_and_trailing_text_are_refused() {
        assert!(matches!(parse("{"), Err(StrictError::Syntax(_))));
        assert!(matches!(parse("{} {}"), Err(StrictError::Syntax(_))));
        assert!(matches!(parse(r#""\ud800""#), Err(StrictError::Syntax(_))));
        assert_eq!(
            parse(" [1, 2.5, null] ").ok(),
            Some(serde_json::json!([1, 2.5, null]))
        );
    }

    #[test]
    fn the_id_is_read_only_when_unambiguous() {
        assert_eq!(lenient_id(r#"{"id":7,"a":1,"a":2}"#), Some(Value::from(7)));
        assert_eq!(lenient_id(r#"{"id":7,"id":8}"#), None);
        assert_eq!(lenient_id(r#"[1]"#), None);
    }
}
