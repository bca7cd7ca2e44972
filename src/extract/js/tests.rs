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

fn only(text: &str) -> ToolDef {
    let mut found = tools(text);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

fn schema_of(shape: &str) -> serde_json::Value {
    only(&format!(
        "server.registerTool('t', {{ inputSchema: {shape} }}, h);"
    ))
    .input_schema
}

#[test]
fn zod_primitives_bounds_and_descriptions() {
    let schema = schema_of(
        "{ s: z.string().min(2).max(9).describe('text'), n: z.number().int().gte(1).lte(5), \
         b: z.boolean(), e: z.string().email(), u: z.url() }",
    );
    assert_eq!(
        schema,
        json!({"type": "object", "properties": {
            "s": {"type": "string", "minLength": 2, "maxLength": 9, "description": "text"},
            "n": {"type": "integer", "minimum": 1, "maximum": 5},
            "b": {"type": "boolean"},
            "e": {"type": "string", "format": "email"},
            "u": {"type": "string", "format": "uri"}},
         "required": ["s", "n", "b", "e", "u"]})
    );
}

#[test]
fn zod_required_leaves_out_optional_default_and_nullish() {
    let schema = schema_of(
        "z.object({ a: z.string(), b: z.string().optional(), c: z.number().default(3), \
         d: z.string().nullish(), e: z.string().nullable() })",
    );
    assert_eq!(schema["required"], json!(["a", "e"]));
    assert_eq!(
        schema["properties"]["c"],
        json!({"type": "number", "default": 3})
    );
    assert_eq!(
        schema["properties"]["e"],
        json!({"type": ["string", "null"]})
    );
}

#[test]
fn zod_composites() {
    let schema = schema_of(
        "{ list: z.array(z.object({ id: z.string(), tag: z.string().optional() })).min(1), \
         kind: z.enum(['a', 'b']), one: z.literal('x'), either: z.union([z.string(), z.number()]), \
         map: z.record(z.string(), z.number()), words: z.string().array() }",
    );
    let properties = &schema["properties"];
    assert_eq!(
        properties["list"],
        json!({"type": "array", "minItems": 1, "items": {"type": "object",
            "properties": {"id": {"type": "string"}, "tag": {"type": "string"}},
            "required": ["id"]}})
    );
    assert_eq!(
        properties["kind"],
        json!({"type": "string", "enum": ["a", "b"]})
    );
    assert_eq!(properties["one"], json!({"type": "string", "const": "x"}));
    assert_eq!(
        properties["either"],
        json!({"anyOf": [{"type": "string"}, {"type": "number"}]})
    );
    assert_eq!(
        properties["map"],
        json!({"type": "object", "additionalProperties": {"type": "number"}})
    );
    assert_eq!(
        properties["words"],
        json!({"type": "array", "items": {"type": "string"}})
    );
}

#[test]
fn zod_native_enum_extend_pick_partial() {
    let text = "enum Color { Red = 'red', Blue = 'blue' }\n\
        const Base = z.object({ a: z.string(), b: z.number(), c: z.boolean() });\n\
        server.registerTool('x', { inputSchema: Base.extend({ color: z.nativeEnum(Color) }) }, h);\n\
        server.registerTool('y', { inputSchema: Base.pick({ a: true, b: true }).partial() }, h);\n";
    let found = tools(text);
    assert_eq!(
        found[0].input_schema["properties"]["color"],
        json!({"type": "string", "enum": ["red", "blue"]})
    );
    assert_eq!(
        found[0].input_schema["required"],
        json!(["a", "b", "c", "color"])
    );
    let y = &found[1].input_schema;
    assert_eq!(y["properties"].as_object().unwrap().len(), 2);
    assert!(y.get("required").is_none());
}

#[test]
fn compiled_receivers_are_not_matched_by_name() {
    let text = "const zod_1 = require(\"zod\");\n\
        const s = { q: zod_1.z.string().describe(\"query\") };\n\
        (0, thing_1.register)(x);\n\
        e.tool(\"find\", \"Find things\", s, async () => ({}));\n";
    let tool = extract_text(Language::JavaScript, text).tools.remove(0);
    assert_eq!(tool.name, "find");
    assert_eq!(tool.description, "Find things");
    assert_eq!(
        tool.input_schema["properties"]["q"],
        json!({"type": "string", "description": "query"})
    );
}

#[test]
fn shadowed_names_in_handlers_do_not_leak() {
    // The handler's own `name` must not be taken for the registration's.
    let text = "const name = 'outer';\n\
        const f = (server) => { server.registerTool(name, { description: 'd' }, async (args) => {\n\
          const { name } = args; return name; }); };\n";
    assert_eq!(only(text).name, "outer");
}

#[test]
fn parameters_and_run_time_names_are_unresolved_not_invented() {
    let text = "function reg(server, toolName) { server.tool(toolName, 'd', {}, h); }\n\
        server.tool(process.env.TOOL_NAME, 'd', h);\n\
        server.tool(`tool_${suffix}`, 'd', h);\n";
    let outcome = extract_text(Language::TypeScript, text);
    assert!(outcome.tools.is_empty(), "{:?}", outcome.tools);
    assert_eq!(outcome.unresolved.len(), 3, "{:?}", outcome.unresolved);
    assert!(
        outcome.unresolved[0]
            .reason
            .contains("`toolName` is a function parameter")
    );
}

#[test]
fn descriptions_fold_concatenation_templates_and_joins() {
    let text = "const A = 'Alpha. ';\n\
        server.tool('a', A + 'Beta ' + 2 + '.', h);\n\
        server.tool('b', `Line one\\nline two`, h);\n\
        server.tool('c', ['x', 'y'].join(' + '), h);\n\
        server.tool('d', `With ${A.trim()} inside`, h);\n";
    let descriptions: Vec<String> = tools(text).into_iter().map(|t| t.description).collect();
    assert_eq!(
        descriptions,
        [
            "Alpha. Beta 2.",
            "Line one\nline two",
            "x + y",
            "With Alpha. inside"
        ]
    );
}

#[test]
fn loops_over_literal_arrays_expand_and_run_time_arrays_do_not() {
    let text = "const DEFS = [{ name: 'a', d: 'A' }, { name: 'b', d: 'B' }];\n\
        for (const def of DEFS) server.tool(def.name, def.d, h);\n\
        DEFS.forEach(({ name, d }) => server.tool(name + '_v2', d, h));\n\
        for (const def of await load()) server.tool(def.name, def.d, h);\n";
    let outcome = extract_text(Language::TypeScript, text);
    let names: Vec<&str> = outcome.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "a_v2", "b_v2"]);
    assert_eq!(outcome.unresolved.len(), 1);
}

#[test]
fn unreadable_schema_lowers_confidence() {
    let tool = only("server.tool('t', 'd', buildShape(), h);");
    assert!(
        tool.confidence < 1.0 && tool.confidence >= 0.5,
        "{}",
        tool.confidence
    );
    let tool = only("server.tool('t', 'd', { a: z.string().superSecret() }, h);");
    assert!((tool.confidence - 0.9).abs() < 1e-9, "{}", tool.confidence);
    let tool = only("server.tool('t', 'd', { a: z.string() }, h);");
    assert_eq!(tool.confidence, 1.0);
}

#[test]
fn annotations_are_declared_only_when_written() {
    let with = only("server.tool('t', 'd', {}, { readOnlyHint: true }, h);");
    assert_eq!(with.annotation_source, AnnotationSource::Declared);
    assert_eq!(with.annotations, Some(json!({"readOnlyHint": true})));
    let without = only("server.tool('t', 'd', {}, h);");
    assert_eq!(without.annotation_source, AnnotationSource::Absent);
    assert_eq!(without.annotations, None);
}

#[test]
fn list_handler_reads_inline_tools_and_reports_computed_lists() {
    let text = "server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [\n\
          { name: 'a', description: 'A', inputSchema: { type: 'object', properties: { x: { type: 'string' } } } },\n\
          ...EXTRA,\n\
        ] }));\n\
        const EXTRA = [{ name: 'b', description: 'B', inputSchema: z.toJSONSchema(z.object({ y: z.number() })) }];\n\
        other.setRequestHandler('tools/list', async () => ({ tools: registry.list() }));\n";
    let outcome = extract_text(Language::TypeScript, text);
    let names: Vec<&str> = outcome.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(outcome.tools[1].input_schema["required"], json!(["y"]));
    assert_eq!(outcome.unresolved.len(), 1);
}

#[test]
fn the_sdks_own_list_handler_is_not_a_registration() {
    let text = "class McpServer { setToolRequestHandlers() {\n\
        this.server.setRequestHandler(ListToolsRequestSchema, () => ({\n\
          tools: Object.entries(this._registeredTools).map(([name, tool]) => ({ name })) })); } }\n";
    let outcome = extract_text(Language::JavaScript, text);
    assert!(outcome.tools.is_empty() && outcome.unresolved.is_empty());
}

#[test]
fn cyclic_constants_end() {
    let outcome = extract_text(
        Language::TypeScript,
        "const a = b; const b = a; server.tool(a, 'd', h);",
    );
    assert!(outcome.tools.is_empty());
    assert_eq!(outcome.unresolved.len(), 1);
}

#[test]
fn hostile_nesting_gives_up_without_overflowing() {
    let deep = format!(
        "server.tool('t', {}1{}, h);",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let outcome = extract_text(Language::TypeScript, &deep);
    assert_eq!(outcome.gave_up, Some(crate::extract::SkipReason::TooDeep));
    // Just under the syntax limit: folded or not, it must return.
    let nested = format!(
        "server.tool('t', 'd', {}1{}, h);",
        "[".repeat(120),
        "]".repeat(120)
    );
    let outcome = extract_text(Language::TypeScript, &nested);
    assert_eq!(outcome.gave_up, None);
    assert_eq!(outcome.tools.len(), 1);
}

#[test]
fn syntax_errors_keep_the_tools_around_them() {
    let outcome = extract_text(
        Language::TypeScript,
        "server.tool('good', 'd', h);\nconst broken = ;\n",
    );
    assert_eq!(outcome.syntax_error_row, Some(1));
    assert_eq!(outcome.tools.len(), 1);
}

#[test]
fn one_argument_tool_calls_of_other_libraries_are_ignored() {
    assert!(
        extract_text(Language::TypeScript, "agent.tool(myFunction);")
            .unresolved
            .is_empty()
    );
}

#[test]
fn list_handler_by_name_and_tools_built_with_map() {
    let text = "const DEFS = [\n\
          { name: 'run_query', summary: 'Run a query', schema: z.object({ sql: z.string() }) },\n\
          { name: 'list_tables', summary: 'List tables', schema: z.object({}) },\n\
        ];\n\
        async function listTools() {\n\
          return { tools: DEFS.map((d) => ({ name: d.name, description: d.summary, inputSchema: zodToJsonSchema(d.schema) })) };\n\
        }\n\
        server.setRequestHandler(ListToolsRequestSchema, listTools);\n";
    let outcome = extract_text(Language::TypeScript, text);
    let names: Vec<&str> = outcome.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["run_query", "list_tables"],
        "{:?}",
        outcome.unresolved
    );
    assert_eq!(outcome.tools[0].description, "Run a query");
    assert_eq!(outcome.tools[0].input_schema["required"], json!(["sql"]));
}

#[test]
fn dedent_tagged_descriptions() {
    let text = "server.tool('t', dedent`\n    First line.\n      Indented.\n    `, h);\n";
    assert_eq!(only(text).description, "First line.\n  Indented.");
}

/// Reading through windows must equal reading the whole file: checked on every TS/JS file
/// of the fixture corpus (windows forced, whatever the file's size).
#[test]
fn windows_read_every_fixture_file_as_the_whole_file_does() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/servers");
    let mut windowed = 0usize;
    let mut fell_back = 0usize;
    for entry in walkdir::WalkDir::new(&corpus) {
        let entry = entry.unwrap();
        let path = entry.path();
        let Some(language) = Language::of(path) else {
            continue;
        };
        if !matches!(
            language,
            Language::TypeScript | Language::Tsx | Language::JavaScript
        ) || path
            .components()
            .any(|part| part.as_os_str() == "node_modules")
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        if !might_define_tools(&text) {
            continue;
        }
        // The fixture server's folder is the root, as the corpus test extracts it.
        let root = path
            .ancestors()
            .find(|dir| dir.parent() == Some(corpus.as_path()))
            .unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let file = SourceFile {
            root,
            path,
            rel: &rel,
            text: &text,
            language,
        };
        let whole = extract_whole(&file);
        match extract_windowed_with(&file, 1.0) {
            Some(outcome) => {
                windowed += 1;
                assert_eq!(outcome.tools, whole.tools, "{}", path.display());
                assert_eq!(outcome.unresolved, whole.unresolved, "{}", path.display());
            }
            None => fell_back += 1,
        }
    }
    println!("windowed: {windowed}, whole file: {fell_back}");
    assert!(
        windowed >= 3 * fell_back && windowed > 20,
        "windows were used for {windowed} files and given up for {fell_back}"
    );
}

/// A big file whose registration uses a constant, a schema, an import and a named
/// handler defined far away: windows grow to take them in, and find what the whole-file
/// reading finds.
#[test]
fn windows_grow_to_the_declarations_a_registration_uses() {
    let mut text =
        String::from("import { z } from \"zod\";\nimport { helper } from \"./helper.js\";\n");
    text.push_str("const TOOL_NAME = \"far_away\";\n");
    text.push_str("const Shape = { path: z.string().describe(\"Where\") };\n");
    text.push_str("const TOOLS = [{ name: \"listed\", description: \"From a list\", inputSchema: { type: \"object\" } }];\n");
    for index in 0..2_000 {
        text.push_str(&format!(
            "function filler{index}(a, b) {{\n  const out = [a, b].map((x) => x * {index});\n  return out.length > 1 ? /[{{]/.test(String(a)) : `t ${{a}} }}`;\n}}\n"
        ));
    }
    text.push_str("async function listTools() {\n  return { tools: TOOLS };\n}\n");
    text.push_str("server.tool(TOOL_NAME, \"A tool\", Shape, async () => ({}));\n");
    text.push_str("low.setRequestHandler(ListToolsRequestSchema, listTools);\n");
    assert!(text.len() > WINDOW_MIN_BYTES);
    let root = Path::new("/nonexistent-root");
    let path = root.join("dist/index.js");
    let file = SourceFile {
        root,
        path: &path,
        rel: "dist/index.js",
        text: &text,
        language: Language::JavaScript,
    };
    let whole = extract_whole(&file);
    let windowed = extract_windowed(&file).expect("read through windows");
    assert_eq!(windowed.tools, whole.tools);
    assert_eq!(windowed.unresolved, whole.unresolved);
    let names: Vec<&str> = windowed
        .tools
        .iter()
        .map(|tool| tool.name.as_str())
        .collect();
    assert_eq!(names, ["far_away", "listed"]);
    assert_eq!(
        windowed.tools[0].input_schema["properties"]["path"]["description"],
        "Where"
    );
    assert_eq!(extract(&file).tools, whole.tools);
}

/// Extracts `files[0]` of a tree written to a temporary folder (the other files are
/// there to be imported).
fn extract_tree(files: &[(&str, &str)]) -> FileOutcome {
    let folder = tempfile::tempdir().expect("tempdir");
    for (rel, text) in files {
        let path = folder.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    let (rel, text) = files[0];
    let path = folder.path().join(rel);
    let language = if rel.ends_with(".ts") {
        Language::TypeScript
    } else {
        Language::JavaScript
    };
    let file = SourceFile {
        root: folder.path(),
        path: &path,
        rel,
        text,
        language,
    };
    extract(&file)
}

fn names(outcome: &FileOutcome) -> Vec<String> {
    let mut names: Vec<String> = outcome.tools.iter().map(|tool| tool.name.clone()).collect();
    names.sort();
    names
}

#[test]
fn definitions_several_imports_away_through_barrels_and_commonjs() {
    // ESM: entry -> barrel (`export *`, `export { x as y } from`) -> tool files -> schema.
    let outcome = extract_tree(&[
        (
            "src/index.ts",
            "import { Server } from '@modelcontextprotocol/sdk/server/index.js';\n\
             import { alphaTool, betaTool } from './tools/index.js';\n\
             const server = new Server({}, {});\n\
             server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [alphaTool, betaTool] }));\n",
        ),
        (
            "src/tools/index.ts",
            "export * from './alpha/tool.js';\nexport { beta as betaTool } from './beta.js';\n",
        ),
        (
            "src/tools/alpha/tool.ts",
            "import { AlphaInput } from '../schemas.js';\n\
             export const alphaTool = { name: 'alpha', description: 'A', inputSchema: AlphaInput };\n",
        ),
        (
            "src/tools/schemas.ts",
            "export const AlphaInput = { type: 'object', properties: { q: { type: 'string' } } };\n",
        ),
        (
            "src/tools/beta.ts",
            "export const beta = { name: 'beta', inputSchema: { type: 'object' } };\n",
        ),
    ]);
    assert_eq!(
        names(&outcome),
        ["alpha", "beta"],
        "{:?}",
        outcome.unresolved
    );
    let alpha = &outcome.tools[0];
    assert_eq!(alpha.input_schema["properties"]["q"]["type"], "string");

    // CommonJS as tsc writes it: `Object.defineProperty(exports, ...)` getters, a namespace
    // enumerated with `Object.values`.
    let outcome = extract_tree(&[
        (
            "build/server.js",
            "const types_js_1 = require('@modelcontextprotocol/sdk/types.js');\n\
             const Charts = __importStar(require('./charts/index.js'));\n\
             server.setRequestHandler(types_js_1.ListToolsRequestSchema, async () => ({\n\
               tools: Object.values(Charts).map((chart) => chart.tool) }));\n",
        ),
        (
            "build/charts/index.js",
            "exports.pie = exports.bar = void 0;\n\
             var bar_1 = require('./bar.js');\n\
             Object.defineProperty(exports, 'bar', { enumerable: true, get: function () { return bar_1.bar; } });\n\
             __exportStar(require('./pie.js'), exports);\n",
        ),
        (
            "build/charts/bar.js",
            "exports.bar = void 0;\nexports.bar = { tool: { name: 'bar_chart' } };\n",
        ),
        (
            "build/charts/pie.js",
            "exports.pie = { tool: { name: 'pie_chart' } };\n",
        ),
    ]);
    assert_eq!(
        names(&outcome),
        ["bar_chart", "pie_chart"],
        "{:?}",
        outcome.unresolved
    );
}

#[test]
fn import_cycles_and_hop_limits_end_unknown() {
    let outcome = extract_tree(&[
        (
            "a.ts",
            "import { x } from './b.js';\nserver.registerTool(x, {}, h);\n",
        ),
        ("b.ts", "export { x } from './a.js';\n"),
    ]);
    assert!(outcome.tools.is_empty());
    assert_eq!(outcome.unresolved.len(), 1);
}

#[test]
fn list_handlers_read_lists_built_by_functions_fields_and_constructors() {
    // `this.enabled` set from a constructor parameter the module fills, filtered.
    let found = tools(
        "const all = [{ name: 'one' }, { name: 'two' }];\n\
         class S {\n\
           constructor(initial = []) { this.available = [...initial]; this.enabled = []; this.load(); }\n\
           load() { let chosen = [...this.available];\n\
             if (cfg) { chosen = this.available.filter((t) => cfg.has(t.name)); }\n\
             this.enabled = chosen; }\n\
           setup() { this.server.setRequestHandler(ListToolsRequestSchema, async () => ({\n\
             tools: this.enabled.map((t) => ({ name: t.name, inputSchema: {} })) })); }\n\
         }\n\
         new S(all);\n",
    );
    let mut found: Vec<String> = found.into_iter().map(|tool| tool.name).collect();
    found.sort();
    assert_eq!(found, ["one", "two"]);

    // A function whose result is cached in a module variable, chosen by a condition.
    let found = tools(
        "let cache = null;\n\
         const base = [{ name: 'a' }];\n\
         function enabled() { if (cache) return cache;\n\
           cache = off.length === 0 ? base : base.filter((t) => !off.includes(t.name));\n\
           return cache; }\n\
         server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: enabled().concat([{ name: 'b' }]) }));\n",
    );
    let found: Vec<String> = found.into_iter().map(|tool| tool.name).collect();
    assert_eq!(found, ["a", "b"]);

    // A parameter filled by the one caller; a list pushed to in a loop.
    let found = tools(
        "const extra = ['x', 'y'];\n\
         const list = [];\n\
         for (const n of extra) list.push({ name: 'tool_' + n });\n\
         function serve(options) { const { tools } = options;\n\
           s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools })); }\n\
         serve({ tools: list });\n",
    );
    let found: Vec<String> = found.into_iter().map(|tool| tool.name).collect();
    assert_eq!(found, ["tool_x", "tool_y"]);
}

#[test]
fn run_time_lists_stay_unknown() {
    // A parameter no call of this file gives, a pushed run-time value, a run-time branch.
    for text in [
        "function serve(tools) { s.setRequestHandler(ListToolsRequestSchema, () => ({ tools })); }",
        "const l = []; l.push(load()); s.setRequestHandler(ListToolsRequestSchema, () => ({ tools: l }));",
        "s.setRequestHandler(ListToolsRequestSchema, () => ({ tools: flag ? [{ name: 'a' }] : fetched() }));",
    ] {
        let outcome = extract_text(Language::TypeScript, text);
        assert!(outcome.tools.is_empty(), "{text}: {:?}", outcome.tools);
        assert_eq!(outcome.unresolved.len(), 1, "{text}");
    }
}

#[test]
fn helpers_that_take_the_name_are_read_at_each_call() {
    let found = tools(
        "const tool = (name, description, shape, cb) => {\n\
           server.registerTool(name, { description, inputSchema: shape }, cb);\n\
         };\n\
         tool('first', 'First', { a: z.string() }, h);\n\
         tool('second', 'Second', {}, h);\n\
         for (const n of ['third']) tool(n, 'Third', {}, h);\n",
    );
    let found: Vec<(String, String)> = found
        .into_iter()
        .map(|tool| (tool.name, tool.description))
        .collect();
    assert_eq!(
        found,
        [
            ("first".to_owned(), "First".to_owned()),
            ("second".to_owned(), "Second".to_owned()),
            ("third".to_owned(), "Third".to_owned())
        ]
    );
    // A helper called with a run-time name stays unresolved, with its reason.
    let outcome = extract_text(
        Language::TypeScript,
        "function add(name) { server.tool(name, 'd', {}, h); }\nadd(process.env.NAME);\n",
    );
    assert!(outcome.tools.is_empty());
    assert_eq!(outcome.unresolved.len(), 1);
}

#[test]
fn parameters_of_exported_functions_are_read_at_calls_in_other_modules() {
    // ESM: the server module takes its list as a parameter; the entry point gives it.
    let outcome = extract_tree(&[
        (
            "src/server.ts",
            "export function serve(tools) {\n\
               s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));\n\
             }\n",
        ),
        (
            "src/main.ts",
            "import { serve as start } from './server.js';\n\
             import { LIST } from './list.js';\n\
             start(LIST);\n",
        ),
        (
            "src/list.ts",
            "export const LIST = [{ name: 'from_main' }];\n",
        ),
    ]);
    assert_eq!(names(&outcome), ["from_main"], "{:?}", outcome.unresolved);

    // CommonJS as tsc writes it, with a class built in the exported function.
    let outcome = extract_tree(&[
        (
            "build/runtime.js",
            "exports.start = start;\n\
             class Runtime { constructor({ tools }) { this.list = tools; }\n\
               setup() { this.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: this.list })); } }\n\
             function start({ tools }) { const r = new Runtime({ tools }); r.setup(); }\n",
        ),
        (
            "build/bin/a.js",
            "const runtime_1 = require('../runtime.js');\n\
             (0, runtime_1.start)({ tools: [{ name: 'a_tool' }] });\n",
        ),
        (
            "build/bin/b.js",
            "const runtime_1 = require('../runtime.js');\n\
             (0, runtime_1.start)({ tools: [{ name: 'b_tool' }] });\n",
        ),
    ]);
    assert_eq!(
        names(&outcome),
        ["a_tool", "b_tool"],
        "{:?}",
        outcome.unresolved
    );

    // A function nobody exports or calls stays unknown.
    let outcome = extract_tree(&[
        (
            "src/server.ts",
            "function serve(tools) { s.setRequestHandler(ListToolsRequestSchema, () => ({ tools })); }\n",
        ),
        ("src/main.ts", "serve([{ name: 'not_this_one' }]);\n"),
    ]);
    assert!(outcome.tools.is_empty());
    assert_eq!(outcome.unresolved.len(), 1);
}

#[test]
fn maps_filled_with_set_and_functions_imported_from_other_modules() {
    let found = tools(
        "const DEFS = [{ name: 'one', description: 'First' }, { name: 'two' }];\n\
         class S {\n\
           tools = new Map();\n\
           init() { for (const d of DEFS) { this.tools.set(d.name, { name: d.name, description: d.description }); } }\n\
           setup() { this.server.setRequestHandler(ListToolsRequestSchema, async () => ({\n\
             tools: Array.from(this.tools.entries()).map(([id, t]) => ({ id, ...t })) })); }\n\
         }\n",
    );
    let found: Vec<String> = found.into_iter().map(|tool| tool.name).collect();
    assert_eq!(found, ["one", "two"]);

    // A list converted by a function another module exports, passed by name or called.
    let outcome = extract_tree(&[
        (
            "src/index.ts",
            "import { convert, make } from './convert.js';\n\
             const defs = [{ title: 'alpha' }, { title: 'beta' }];\n\
             const listed = defs.map(convert);\n\
             s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [...listed, make('gamma')] }));\n",
        ),
        (
            "src/convert.ts",
            "export * from './make.js';\n\
             export function convert(def) { return { name: def.title, inputSchema: { type: 'object' } }; }\n",
        ),
        (
            "src/make.ts",
            "export const make = (name) => ({ name, description: 'made' });\n",
        ),
    ]);
    assert_eq!(
        names(&outcome),
        ["alpha", "beta", "gamma"],
        "{:?}",
        outcome.unresolved
    );

    // `list.map(f)` over a run-time list is not Zod's `z.map`: it stays unknown.
    let outcome = extract_text(
        Language::TypeScript,
        "function serve(config) { const l = config.tools.map(convert);\n\
           s.setRequestHandler(ListToolsRequestSchema, () => ({ tools: l })); }\n",
    );
    assert!(outcome.tools.is_empty());
    assert!(
        outcome.unresolved[0]
            .reason
            .contains("not known statically"),
        "{:?}",
        outcome.unresolved
    );
}

#[test]
fn a_list_narrowed_in_place_and_an_element_found_in_it_are_read_as_their_candidates() {
    // `let x = ...; x = x.filter(...)` keeps some of x; `list.find(...)` pushed back is one
    // of list's elements: both read as a superset of the known elements, never unknown.
    let found = tools(
        "const all = [{ name: 'a' }, { name: 'b' }, { name: 'meta' }];\n\
         let chosen = mode ? all.filter((t) => t.name !== 'meta') : [...all];\n\
         if (hidden) { chosen = chosen.filter((t) => !hidden.has(t.name)); }\n\
         const meta = all.find((t) => t.name === 'meta');\n\
         if (meta) chosen.push(meta);\n\
         server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: chosen }));\n",
    );
    let found: Vec<String> = found.into_iter().map(|tool| tool.name).collect();
    assert_eq!(found, ["a", "b", "meta"]);

    // A reassignment that is not a narrowing of the same list still decides.
    let outcome = extract_text(
        Language::TypeScript,
        "let chosen = [{ name: 'a' }];\n\
         chosen = load();\n\
         server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: chosen }));\n",
    );
    assert!(outcome.tools.is_empty());
    assert_eq!(outcome.unresolved.len(), 1);
}

#[test]
fn a_bundled_module_namespace_holds_its_getters_values() {
    // esbuild's shape for `import * as drive from "./drive"` in a bundle.
    let found = tools(
        "var __export = (target, all) => { for (var name in all) __defProp(target, name, { get: all[name] }); };\n\
         var drive_exports = {};\n\
         __export(drive_exports, { toolDefinitions: () => toolDefinitions, handle: () => handle });\n\
         var toolDefinitions = [{ name: 'search_drive' }, { name: 'read_file' }];\n\
         var docs_exports = {};\n\
         __export(docs_exports, { toolDefinitions: () => toolDefinitions2 });\n\
         var toolDefinitions2 = [{ name: 'create_doc' }];\n\
         var modules = [drive_exports, docs_exports];\n\
         server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: modules.flatMap((m) => m.toolDefinitions) }));\n",
    );
    let found: Vec<String> = found.into_iter().map(|tool| tool.name).collect();
    assert_eq!(found, ["search_drive", "read_file", "create_doc"]);
}

#[test]
fn a_factory_that_returns_a_thunk_gives_its_object_when_the_thunk_is_called() {
    let found = tools(
        "const makeTool = (name, description, schema, handler) => () => ({ name, description, schema, handler });\n\
         const ListAccounts = makeTool('list-accounts', 'Lists accounts.', {}, async () => ({}));\n\
         const GetInvoice = makeTool('get-invoice', 'Gets one invoice.', { id: z.string() }, async () => ({}));\n\
         const all = [ListAccounts, GetInvoice];\n\
         all.map((tool) => tool()).forEach((tool) => server.tool(tool.name, tool.description, tool.schema, tool.handler));\n",
    );
    let summary: Vec<(String, String)> = found
        .into_iter()
        .map(|tool| (tool.name, tool.description))
        .collect();
    assert_eq!(
        summary,
        [
            ("list-accounts".to_owned(), "Lists accounts.".to_owned()),
            ("get-invoice".to_owned(), "Gets one invoice.".to_owned())
        ]
    );
}

#[test]
fn a_function_passed_as_a_value_is_called_where_it_is_called() {
    // A registry of creator functions, each called with the client in a flatMap.
    let found = tools(
        "function campaignTools(client) { return [{ name: 'get_campaign' }, { name: 'send_campaign' }]; }\n\
         function listTools(client) { return [{ name: 'get_lists' }]; }\n\
         const CREATORS = [{ category: 'Campaigns', creator: campaignTools }, { category: 'Lists', creator: listTools }];\n\
         function allTools(client) { return CREATORS.flatMap(({ creator }) => creator(client)); }\n\
         const tools = allTools(c);\n\
         server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));\n",
    );
    let found: Vec<String> = found.into_iter().map(|tool| tool.name).collect();
    assert_eq!(found, ["get_campaign", "send_campaign", "get_lists"]);
}

#[test]
fn tool_class_instances_registered_into_a_map_from_another_module() {
    let outcome = extract_tree(&[
        (
            "index.js",
            "import { getTools } from './tools/index.js';\nimport './tools/registry.js';\n\
             server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: getTools() }));\n",
        ),
        (
            "tools/index.js",
            "const toolMap = new Map();\n\
             export function registerTool(tool) { const toolName = tool.tool.name; toolMap.set(toolName, tool); return tool; }\n\
             export const getTools = () => Array.from(toolMap.values()).map(impl => impl.tool);\n",
        ),
        (
            "tools/base.js",
            "export class BaseTool { schema; tool; constructor(schema, tool) { this.schema = schema; this.tool = tool; } }\n",
        ),
        (
            "tools/list.js",
            "import { BaseTool } from './base.js';\n\
             const ToolDefinition = { name: 'list-objects', description: 'Lists objects.', inputSchema: {} };\n\
             export class ListTool extends BaseTool { constructor() { super({}, ToolDefinition); } }\n",
        ),
        (
            "tools/registry.js",
            "import { registerTool } from './index.js';\nimport { ListTool } from './list.js';\n\
             registerTool(new ListTool());\n",
        ),
    ]);
    assert_eq!(
        names(&outcome),
        ["list-objects"],
        "{:?}",
        outcome.unresolved
    );
}

#[test]
fn bundled_lazy_module_initialisers_set_the_variables_they_declare() {
    // esbuild's __esm shape: variables declared empty, assigned in an init function.
    let found = tools(
        "var __esm = (fn, res) => function __init() { return fn && (res = (0, fn[Object.keys(fn)[0]])(fn = 0)), res; };\n\
         var listPages, newPage;\n\
         var init_pages = __esm({ \"src/tools/pages.ts\"() {\n\
           \"use strict\";\n\
           listPages = { name: \"list_pages\", description: \"List tabs.\" };\n\
           newPage = { name: \"new_page\", description: \"Open a tab.\" };\n\
         } });\n\
         var allTools;\n\
         var init_tools = __esm({ \"src/tools/index.ts\"() { init_pages(); allTools = [listPages, newPage]; } });\n\
         server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: allTools }));\n",
    );
    let found: Vec<String> = found.into_iter().map(|tool| tool.name).collect();
    assert_eq!(found, ["list_pages", "new_page"]);
}

#[test]
fn a_base_class_method_registers_each_instance_it_is_called_on() {
    // Read from the base class's file, where the registration is written; the method is
    // called in a loop over subclass instances, and on an instance of another class.
    let outcome = extract_tree(&[
        (
            "tools/BaseTool.js",
            "export class BaseTool {\n\
               constructor(params) { this.inputSchema = params.inputSchema; }\n\
               installTo(server) {\n\
                 return server.registerTool(this.name, { description: this.description, inputSchema: this.inputSchema }, (a) => this.run(a));\n\
               }\n\
             }\n",
        ),
        (
            "index.js",
            "import { ALL_TOOLS } from './tools/registry.js';\n\
             class Resource { name = 'not_a_tool'; installTo(server) { server.registerResource(this.name); } }\n\
             const resources = [new Resource()];\n\
             ALL_TOOLS.forEach((tool) => { tool.installTo(server); });\n\
             resources.forEach((resource) => resource.installTo(server));\n",
        ),
        (
            "tools/AreaTool.js",
            "import { BaseTool } from './BaseTool.js';\n\
             export class AreaTool extends BaseTool {\n\
               name = 'area_tool';\n\
               description = 'Area of a polygon.';\n\
               constructor() { super({ inputSchema: { type: 'object', properties: { geometry: { type: 'array' } } } }); }\n\
             }\n",
        ),
        (
            "tools/registry.js",
            "import { AreaTool } from './AreaTool.js';\nexport const ALL_TOOLS = [new AreaTool()];\n",
        ),
    ]);
    assert_eq!(names(&outcome), ["area_tool"], "{:?}", outcome.unresolved);
    assert_eq!(outcome.tools[0].description, "Area of a polygon.");
    assert_eq!(
        outcome.tools[0].input_schema["properties"]["geometry"],
        json!({"type": "array"})
    );
}

#[test]
fn functions_made_in_place_are_called_where_a_loop_calls_them() {
    // Tool definitions as functions of the server's settings, some wrapped by a helper
    // that returns another function (a closure over the definition), called in a loop.
    let found = tools(
        "function defineTool(definition) { return definition; }\n\
         function definePageTool(definition) { return (args) => ({ ...definition(args), page: true }); }\n\
         const listPages = defineTool((args) => { return { name: 'list_pages', description: 'List pages.' }; });\n\
         const closePage = definePageTool(() => ({ name: 'close_page', description: 'Close a page.' }));\n\
         const createTools = (args) => { const tools = []; for (const tool of [listPages, closePage]) { tools.push(tool(args)); } return tools; };\n\
         for (const tool of createTools({})) { server.registerTool(tool.name, { description: tool.description }, tool.handler); }\n",
    );
    let summary: Vec<(String, String)> = found
        .into_iter()
        .map(|tool| (tool.name, tool.description))
        .collect();
    assert_eq!(
        summary,
        [
            ("list_pages".to_owned(), "List pages.".to_owned()),
            ("close_page".to_owned(), "Close a page.".to_owned())
        ]
    );
}
