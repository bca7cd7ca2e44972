//! Unit tests for the TypeScript/JavaScript extractor: Zod conversion and the shapes
//! that are easy to get wrong.

use std::path::Path;

use serde_json::json;

use super::*;

fn extract_text(language: Language, text: &str) -> FileOutcome {
    let root = Path::new("/nonexistent-root");
    let path = root.join("src/index.ts");
    let file = SourceFile {
        root,
        path: &path,
        rel: "src/index.ts",
        text,
        language,
    };
    extract(&file)
}

fn tools(text: &str) -> Vec<ToolDef> {
    extract_text(Language::TypeScript, text).tools
}

#[test]
fn prefilter_keeps_every_registration_shape() {
    for text in [
        "server.tool('a', () => {})",
        "server.registerTool('a', {}, h)",
        "s.addTool({name: 'a'})",
        "server.setRequestHandler(ListToolsRequestSchema, h)",
        "e.setRequestHandler(\"tools/list\", h)",
    ] {
        assert!(might_define_tools(text), "{text}");
    }
    assert!(!might_define_tools("export const x = 1;\n"));
}
