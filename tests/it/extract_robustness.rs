//! Bad input is skipped with a reason, never a panic, and never costs the tools found in
//! the good files of the same tree: binary files, files over the size limit, invalid
//! UTF-8, syntax errors, symbolic-link loops and deeply nested code.

use std::path::Path;

use mcpwarden::extract::{Extraction, Options, SkipReason, extract_dir};

/// A small FastMCP server that every tree below also holds, so each test can check that
/// the good file still yields its tool.
const GOOD_SERVER: &str = r#"from mcp.server.fastmcp import FastMCP

mcp = FastMCP("good")


@mcp.tool()
def refund_payment(payment_id: str, amount_cents: int | None = None) -> str:
    """Refund a payment."""
    return "ok"
"#;

fn tree_with_good_server() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"bad-input\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("server.py"), GOOD_SERVER).unwrap();
    dir
}

fn reason_for<'a>(extraction: &'a Extraction, path: &str) -> Option<&'a SkipReason> {
    extraction
        .skipped
        .iter()
        .find(|skipped| skipped.path == path)
        .map(|skipped| &skipped.reason)
}

fn assert_good_tool_found(extraction: &Extraction) {
    let names: Vec<&str> = extraction.tools().map(|tool| tool.name.as_str()).collect();
    assert_eq!(
        names,
        ["refund_payment"],
        "the good file's tool is still found"
    );
}

fn extract(root: &Path) -> Extraction {
    extract_dir(root, &Options::default()).expect("extraction of a readable tree succeeds")
}

#[test]
fn binary_file_is_skipped() {
    let dir = tree_with_good_server();
    let mut bytes = b"@mcp.tool()\ndef x(): pass\n".to_vec();
    bytes.extend_from_slice(&[0, 159, 146, 150, 0, 1, 2, 3]);
    std::fs::write(dir.path().join("blob.py"), bytes).unwrap();
    let extraction = extract(dir.path());
    assert_eq!(
        reason_for(&extraction, "blob.py"),
        Some(&SkipReason::Binary)
    );
    assert_good_tool_found(&extraction);
}

#[test]
fn file_over_the_size_limit_is_noted() {
    let dir = tree_with_good_server();
    let mut big = String::from("from mcp.server.fastmcp import FastMCP\nmcp = FastMCP('big')\n");
    let line = "@mcp.tool()\ndef generated_tool(): \"\"\"Generated.\"\"\"\n";
    while big.len() < 3 * 1024 * 1024 {
        big.push_str(line);
    }
    std::fs::write(dir.path().join("generated.py"), &big).unwrap();
    // The default limit (64 MB) reads it; a lower one skips it, and says so.
    assert!(reason_for(&extract(dir.path()), "generated.py").is_none());
    let options = Options {
        max_file_bytes: 2 * 1024 * 1024,
        ..Options::default()
    };
    let extraction = extract_dir(dir.path(), &options).unwrap();
    match reason_for(&extraction, "generated.py") {
        Some(SkipReason::TooLarge { bytes, limit }) => {
            assert_eq!(*bytes, big.len() as u64);
            assert_eq!(*limit, 2 * 1024 * 1024);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let reason = reason_for(&extraction, "generated.py").unwrap().to_string();
    assert!(reason.contains("over the 2 MB limit"), "{reason}");
    assert_good_tool_found(&extraction);
}

#[test]
fn invalid_utf8_is_skipped_with_its_offset() {
    let dir = tree_with_good_server();
    let mut bytes = b"# caf".to_vec();
    bytes.push(0xE9); // Latin-1 e-acute: not UTF-8
    bytes.extend_from_slice(b"\n@mcp.tool()\ndef latin(): pass\n");
    std::fs::write(dir.path().join("latin1.py"), bytes).unwrap();
    let extraction = extract(dir.path());
    assert_eq!(
        reason_for(&extraction, "latin1.py"),
        Some(&SkipReason::InvalidUtf8 { offset: 5 })
    );
    assert_good_tool_found(&extraction);
}

#[test]
fn syntax_error_without_tools_is_skipped_with_its_line() {
    let dir = tree_with_good_server();
    std::fs::write(
        dir.path().join("broken.py"),
        "from mcp.server.fastmcp import FastMCP\nmcp = FastMCP('x')\nmcp.tool(\ndef (:\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.go"),
        "package main\n\nfunc main() {\n\ttool := mcp.NewTool(\n",
    )
    .unwrap();
    let extraction = extract(dir.path());
    assert!(
        matches!(
            reason_for(&extraction, "broken.py"),
            Some(SkipReason::SyntaxError { .. })
        ),
        "{:?}",
        extraction.skipped
    );
    assert!(
        matches!(
            reason_for(&extraction, "broken.go"),
            Some(SkipReason::SyntaxError { .. })
        ),
        "{:?}",
        extraction.skipped
    );
    assert_good_tool_found(&extraction);
}

#[test]
fn tools_around_a_syntax_error_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("server.py"),
        "from mcp.server.fastmcp import FastMCP\nmcp = FastMCP('x')\n\n\
         @mcp.tool()\ndef before(a: str) -> str:\n    \"\"\"Before the error.\"\"\"\n    return a\n\n\
         x = (1,\n\n\
         @mcp.tool()\ndef after(b: int) -> int:\n    \"\"\"After the error.\"\"\"\n    return b\n",
    )
    .unwrap();
    let extraction = extract(dir.path());
    let names: Vec<&str> = extraction.tools().map(|tool| tool.name.as_str()).collect();
    assert!(names.contains(&"before"), "{names:?}");
    assert!(extraction.skipped.is_empty(), "{:?}", extraction.skipped);
}

#[cfg(unix)]
#[test]
fn symlink_loop_is_skipped() {
    let dir = tree_with_good_server();
    let nested = dir.path().join("pkg");
    std::fs::create_dir(&nested).unwrap();
    std::os::unix::fs::symlink(dir.path(), nested.join("loop")).unwrap();
    let extraction = extract(dir.path());
    assert!(
        extraction
            .skipped
            .iter()
            .any(|skipped| skipped.reason == SkipReason::SymlinkLoop),
        "{:?}",
        extraction.skipped
    );
    assert_good_tool_found(&extraction);
}

#[test]
fn deeply_nested_python_and_typescript_are_skipped_as_too_deep() {
    let dir = tree_with_good_server();
    let depth = 10_000;
    let python = format!(
        "from mcp.server.fastmcp import FastMCP\nmcp = FastMCP('deep')\n\n\
         @mcp.tool()\ndef deep() -> list:\n    \"\"\"Deep.\"\"\"\n    return {}1{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    std::fs::write(dir.path().join("deep.py"), python).unwrap();
    let typescript = format!(
        "server.tool(\"deep\", \"Deep.\", {{}}, async () => {}1{});\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    std::fs::write(dir.path().join("deep.ts"), typescript).unwrap();
    let go = format!(
        "package main\n\nvar t = mcp.NewTool(\"deep\", mcp.WithDescription({}\"x\"{}))\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    std::fs::write(dir.path().join("deep.go"), go).unwrap();
    let rust = format!(
        "#[tool_router]\nimpl S {{\n    #[tool]\n    fn deep(&self) -> u8 {{ {}1{} }}\n}}\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    std::fs::write(dir.path().join("deep.rs"), rust).unwrap();

    let extraction = extract(dir.path());
    for file in ["deep.py", "deep.go", "deep.rs"] {
        assert_eq!(
            reason_for(&extraction, file),
            Some(&SkipReason::TooDeep),
            "{file}: {:?}",
            extraction.skipped
        );
    }
    // The TypeScript extractor belongs to another module; whatever it decides, it must
    // not panic, and a skip must carry a reason.
    if let Some(reason) = reason_for(&extraction, "deep.ts") {
        assert!(!reason.to_string().is_empty());
    }
    assert!(
        extraction.tools().any(|tool| tool.name == "refund_payment"),
        "the good file's tool is still found"
    );
}

#[test]
fn a_manifest_that_is_not_json_does_not_stop_the_rest() {
    let dir = tree_with_good_server();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    std::fs::write(
        bundle.join("manifest.json"),
        "{\"manifest_version\": \"0.2\", \"tools\": [ {\"name\": \"x\"",
    )
    .unwrap();
    let extraction = extract(dir.path());
    assert!(
        matches!(
            reason_for(&extraction, "bundle/manifest.json"),
            Some(SkipReason::SyntaxError { line: 1 })
        ),
        "{:?}",
        extraction.skipped
    );
    assert_good_tool_found(&extraction);
}

/// The SDK's own package mentions itself everywhere; it is a library, so it gets no
/// "could not read" marker, while a package that uses it does.
#[test]
fn the_sdk_package_itself_is_not_marked_unread() {
    let dir = tempfile::tempdir().unwrap();
    let sdk = dir.path().join("sdk");
    std::fs::create_dir_all(sdk.join("dist")).unwrap();
    std::fs::write(
        sdk.join("package.json"),
        r#"{"name": "@modelcontextprotocol/sdk", "version": "1.20.0"}"#,
    )
    .unwrap();
    std::fs::write(
        sdk.join("dist/index.js"),
        "export * from \"@modelcontextprotocol/sdk/types.js\";\n",
    )
    .unwrap();
    let user = dir.path().join("user");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(user.join("package.json"), r#"{"name": "uses-the-sdk"}"#).unwrap();
    std::fs::write(
        user.join("index.js"),
        "import { Server } from \"@modelcontextprotocol/sdk/server/index.js\";\n",
    )
    .unwrap();
    let extraction =
        mcpwarden::extract::extract_dir(dir.path(), &mcpwarden::extract::Options::default())
            .unwrap();
    let marked: Vec<&str> = extraction
        .servers
        .iter()
        .filter(|server| server.unread.is_some())
        .map(|server| server.name.as_str())
        .collect();
    assert_eq!(marked, ["uses-the-sdk"]);
}

/// A package that presents itself as an MCP server (name, keyword or dependency) but
/// whose source registers nothing readable is "could not read", with the dependencies
/// its tools may live in; an unrelated package with no tools is not a server at all, and
/// an SDK is a library.
#[test]
fn an_mcp_package_with_nothing_read_says_so_and_names_its_dependencies() {
    let extract = |manifest: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package.json"), manifest).unwrap();
        std::fs::write(
            dir.path().join("cli.js"),
            "const { program } = require('playwright/lib/program');\nprogram.parse(process.argv);\n",
        )
        .unwrap();
        mcpwarden::extract::extract_dir(dir.path(), &mcpwarden::extract::Options::default())
            .unwrap()
    };
    let wrapper = extract(r#"{"name": "@acme/mcp", "dependencies": {"playwright": "1.0.0"}}"#);
    assert_eq!(wrapper.servers.len(), 1);
    let unread = wrapper.servers[0].unread.as_ref().expect("marked unread");
    assert!(unread.reason.contains("`@acme/mcp`"), "{}", unread.reason);
    assert!(unread.reason.contains("(playwright)"), "{}", unread.reason);
    assert_eq!(unread.location, "package.json");

    let by_keyword = extract(r#"{"name": "browser-bridge", "keywords": ["mcp-server"]}"#);
    assert!(by_keyword.servers[0].unread.is_some());

    assert!(extract(r#"{"name": "left-pad"}"#).servers.is_empty());
    assert!(
        extract(r#"{"name": "@modelcontextprotocol/sdk"}"#)
            .servers
            .is_empty()
    );
}
