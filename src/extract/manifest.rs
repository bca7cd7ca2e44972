//! MCPB / desktop-extension `manifest.json`: the `tools` list of `{name, description}` a
//! bundle declares. Only a file that looks like such a manifest is read (it has
//! `manifest_version` or `dxt_version` as a string, and a `server` object or a `tools`
//! list): browser-extension manifests (an integer `manifest_version`) and web-app
//! manifests share the file name and yield nothing.
//!
//! A manifest declares tools without schemas, and the server may list others at run time,
//! so these tools carry a lower confidence than ones read from source.

use serde_json::Value;

use super::{FileOutcome, SourceFile, Unresolved};
use crate::model::{ExtractionMethod, ToolDef};

/// How sure a manifest's declaration is: the bundle author wrote it by hand.
const CONFIDENCE: f64 = 0.8;

/// Cheap literal check run before parsing.
pub fn might_define_tools(text: &str) -> bool {
    (text.contains("\"manifest_version\"") || text.contains("\"dxt_version\""))
        && text.contains("\"tools\"")
}

pub fn extract(file: &SourceFile<'_>) -> FileOutcome {
    let mut outcome = FileOutcome::default();
    let value: Value = match serde_json::from_str(file.text) {
        Ok(value) => value,
        Err(error) => {
            outcome.syntax_error_row = Some(error.line().saturating_sub(1));
            return outcome;
        }
    };
    if !is_bundle_manifest(&value) {
        return outcome;
    }
    let Some(tools) = value.get("tools").and_then(Value::as_array) else {
        return outcome;
    };
    let mut search_from = 0usize;
    for entry in tools {
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            outcome.unresolved.push(Unresolved {
                location: file.location(0),
                method: ExtractionMethod::Manifest,
                reason: "a `tools` entry without a string `name`".to_owned(),
            });
            continue;
        };
        let description = entry
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut tool = ToolDef::new(name, description);
        tool.method = ExtractionMethod::Manifest;
        let (row, next) = name_row(file.text, name, search_from);
        search_from = next;
        tool.location = Some(file.location(row));
        tool.confidence = CONFIDENCE;
        outcome.tools.push(tool);
    }
    outcome
}

/// An MCPB (formerly DXT) manifest rather than any other `manifest.json`.
pub fn is_bundle_manifest(value: &Value) -> bool {
    let Some(object) = value.as_object() else {
        return false;
    };
    // MCPB and DXT spell their version as a string ("0.2"); browser extensions use an
    // integer `manifest_version` (2, 3).
    let versioned = ["manifest_version", "dxt_version"]
        .iter()
        .any(|key| object.get(*key).is_some_and(Value::is_string));
    versioned
        && (object.get("server").is_some_and(Value::is_object)
            || object.get("tools").is_some_and(Value::is_array))
}

/// The 0-based row of `"name": "<name>"` at or after byte `from`, and where to look for
/// the next tool; row 0 when the text spells it some other way (escapes).
fn name_row(text: &str, name: &str, from: usize) -> (usize, usize) {
    let Ok(quoted) = serde_json::to_string(name) else {
        return (0, from);
    };
    let mut offset = from;
    while let Some(found) = text.get(offset..).and_then(|rest| rest.find(&quoted)) {
        let at = offset + found;
        let before = text[..at].trim_end();
        if before.ends_with(':') && before[..before.len() - 1].trim_end().ends_with("\"name\"") {
            let row = text[..at].matches('\n').count();
            return (row, at + quoted.len());
        }
        offset = at + quoted.len();
    }
    (0, from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bundle_manifests_count() {
        let bundle: Value =
            serde_json::from_str(r#"{"manifest_version":"0.3","server":{},"tools":[]}"#).unwrap();
        assert!(is_bundle_manifest(&bundle));
        let browser: Value = serde_json::from_str(
            r#"{"manifest_version":3,"name":"x","permissions":[],"tools":["a"]}"#,
        )
        .unwrap();
        assert!(!is_bundle_manifest(&browser));
        let pwa: Value = serde_json::from_str(r#"{"name":"x","start_url":"/"}"#).unwrap();
        assert!(!is_bundle_manifest(&pwa));
    }

    #[test]
    fn tool_rows_are_found() {
        let text = "{\n \"name\": \"bundle\",\n \"tools\": [\n  {\"name\": \"a\"},\n  {\n   \"name\": \"b\"}]}";
        assert_eq!(name_row(text, "a", 0).0, 3);
        assert_eq!(name_row(text, "b", 0).0, 5);
        assert_eq!(name_row(text, "zzz", 0).0, 0);
    }
}
