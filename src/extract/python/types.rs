//! Python type hints to JSON Schema, the way pydantic (and so FastMCP) renders them:
//! `str`, `int`, `float`, `bool`, `list[...]`, `dict[...]`, `Optional`, `Union`, `X | None`,
//! `Literal[...]`, `Annotated[..., Field(description=...)]`, enums and pydantic models
//! (classes with annotated fields) found in the file or one relative import away.
//!
//! A `(schema, complete)` pair comes back everywhere: `complete` is false when some part
//! of the hint named a type this cannot see, which lowers the tool's confidence.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Map, Value, json};
use tree_sitter::{Node, Tree};

use super::{literal, string_value};
use crate::extract::syntax::{self, Field as _, MAX_DEPTH};
use crate::extract::{Language, SourceFile};

/// How deep model fields may nest models before the rest is left as `{"type":"object"}`.
const MAX_MODEL_NESTING: usize = 8;

/// Classes that can type a parameter: pydantic models, dataclasses, TypedDicts and enums,
/// from the file itself and from the files it imports relatively.
#[derive(Default)]
pub struct Models {
    /// Text and syntax tree of each file read (the file itself first).
    sources: Vec<(String, Tree)>,
    classes: HashMap<String, ClassRef>,
    /// The relative modules the file imports from (`from .models import X`), in order.
    /// They are read and parsed on the first class lookup the file itself cannot
    /// answer: most tools take only builtin types, and a crawl reads many files whose
    /// imports would otherwise all be parsed for nothing.
    imports: Vec<String>,
    imported: OnceCell<Box<Models>>,
}

#[derive(Clone, Copy)]
struct ClassRef {
    source: usize,
    start: usize,
    end: usize,
}

/// What type conversion needs: the file (for relative reads) and the models it knows.
pub struct TypeContext<'a> {
    pub file: &'a SourceFile<'a>,
    pub models: &'a Models,
}

impl Models {
    /// Indexes the classes under `root` (the file being read) and, when `follow_imports`,
    /// those of every module imported with `from .module import Name`.
    pub fn read_classes(&mut self, file: &SourceFile<'_>, tree: &Tree, follow_imports: bool) {
        let index = self.sources.len();
        self.index_classes(index, tree.root_node(), file.text);
        self.add_source(file, tree, follow_imports);
    }

    /// [`Models::read_classes`] for a file whose class definitions the caller has already
    /// found (`classes`, in the order [`Models::index_classes`] would visit them), so
    /// the tree is not walked once more.
    pub(crate) fn read_found_classes(
        &mut self,
        file: &SourceFile<'_>,
        tree: &Tree,
        classes: &[Node<'_>],
    ) {
        let index = self.sources.len();
        for &class in classes {
            self.add_class(index, class, file.text);
        }
        self.add_source(file, tree, true);
    }

    /// Keeps `file`'s text and tree and, when `follow_imports`, notes the modules it
    /// imports relatively (read on the first lookup that needs them, [`Models::class`]).
    fn add_source(&mut self, file: &SourceFile<'_>, tree: &Tree, follow_imports: bool) {
        let root = tree.root_node();
        // Tree clones share the parsed tree; the text copy is only for files with tools.
        self.sources.push((file.text.to_owned(), tree.clone()));
        if !follow_imports {
            return;
        }
        for (_, module) in super::imports::from_imports(root) {
            let module = syntax::text(module, file.text);
            if module.starts_with('.') {
                self.imports.push(module.to_owned());
            }
        }
    }

    /// The classes of the relatively imported `modules` (each found next to `file`),
    /// indexed in import order; their own imports are not followed.
    fn read_modules(modules: &[String], file: &SourceFile<'_>) -> Models {
        let mut models = Models::default();
        for module in modules {
            for candidate in relative_module_paths(module) {
                let Some((_, text)) = file.read_relative(&candidate) else {
                    continue;
                };
                if let Some(tree) = syntax::parse(Language::Python, &text)
                    && !syntax::deeper_than(&tree, MAX_DEPTH)
                {
                    let index = models.sources.len();
                    models.index_classes(index, tree.root_node(), &text);
                    models.sources.push((text, tree));
                }
                break;
            }
        }
        models
    }

    fn index_classes(&mut self, source: usize, root: Node<'_>, text: &str) {
        let mut stack = vec![(root, 0usize)];
        while let Some((node, depth)) = stack.pop() {
            if depth > MAX_DEPTH {
                continue;
            }
            if node.kind() == "class_definition" {
                self.add_class(source, node, text);
            }
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                stack.push((child, depth + 1));
            }
        }
    }

    /// Indexes one `class_definition` node (the first definition of a name is kept).
    fn add_class(&mut self, source: usize, node: Node<'_>, text: &str) {
        if let Some(name) = node.field("name") {
            self.classes
                .entry(syntax::text(name, text).to_owned())
                .or_insert(ClassRef {
                    source,
                    start: node.start_byte(),
                    end: node.end_byte(),
                });
        }
    }

    /// The class node and its file's text: a class of the file itself, else of a module
    /// it imports relatively (read now, the first time one is needed).
    fn class(&self, name: &str, file: &SourceFile<'_>) -> Option<(Node<'_>, &str)> {
        if self.classes.contains_key(name) || self.imports.is_empty() {
            return self.own_class(name);
        }
        self.imported
            .get_or_init(|| Box::new(Models::read_modules(&self.imports, file)))
            .own_class(name)
    }

    /// A class indexed in this `Models` itself.
    fn own_class(&self, name: &str) -> Option<(Node<'_>, &str)> {
        let class = self.classes.get(name)?;
        let (text, tree) = self.sources.get(class.source)?;
        let node = tree
            .root_node()
            .descendant_for_byte_range(class.start, class.end)?;
        let node = ancestor_of_kind(node, "class_definition")?;
        Some((node, text.as_str()))
    }
}

fn ancestor_of_kind<'t>(mut node: Node<'t>, kind: &str) -> Option<Node<'t>> {
    loop {
        if node.kind() == kind {
            return Some(node);
        }
        node = node.parent()?;
    }
}

/// `.models` -> `models.py`, `models/__init__.py`; `..shared.types` -> `../shared/types.py`.
pub(crate) fn relative_module_paths(module: &str) -> Vec<PathBuf> {
    let dots = module.chars().take_while(|c| *c == '.').count();
    let rest = &module[dots..];
    let mut base = PathBuf::new();
    for _ in 1..dots {
        base.push("..");
    }
    if rest.is_empty() {
        return vec![base.join("__init__.py")];
    }
    let mut path = base;
    for part in rest.split('.') {
        path.push(part);
    }
    vec![path.with_extension("py"), path.join("__init__.py")]
}

/// The input schema of a function from its `parameters` node.
pub fn parameters_schema(parameters: Node<'_>, context: &TypeContext<'_>) -> (Value, bool) {
    let source = context.file.text;
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut complete = true;
    let mut cursor = parameters.walk();
    for (index, parameter) in parameters.named_children(&mut cursor).enumerate() {
        let (name, hint, default) = match parameter.kind() {
            "identifier" => (Some(parameter), None, None),
            "typed_parameter" => (
                parameter
                    .named_child(0)
                    .filter(|node| node.kind() == "identifier"),
                parameter.field("type"),
                None,
            ),
            "default_parameter" | "typed_default_parameter" => (
                parameter.field("name"),
                parameter.field("type"),
                parameter.field("value"),
            ),
            _ => continue, // *args, **kwargs, `*`, `/`
        };
        let Some(name) = name else { continue };
        let name = syntax::text(name, source);
        if index == 0 && matches!(name, "self" | "cls") {
            continue;
        }
        if hint.is_some_and(|hint| is_context(hint, source))
            || (hint.is_none() && matches!(name, "ctx" | "context"))
        {
            continue;
        }
        let (mut schema, known) = match hint {
            Some(hint) => type_schema(hint, source, context, 0),
            None => (json!({}), true),
        };
        complete &= known;
        let mut is_required = default.is_none();
        if let Some(default) = default {
            if let Some(field) = field_call(default, source) {
                apply_field(&mut schema, field, source);
                is_required = !field_has_default(field, source);
            } else if let Some(value) = literal(default, source, 0)
                && let Value::Object(object) = &mut schema
            {
                object.insert("default".to_owned(), value);
            }
        }
        properties.insert(name.to_owned(), schema);
        if is_required {
            required.push(Value::String(name.to_owned()));
        }
    }
    let mut schema = Map::new();
    schema.insert("type".to_owned(), json!("object"));
    schema.insert("properties".to_owned(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".to_owned(), Value::Array(required));
    }
    (Value::Object(schema), complete)
}

/// `Context`, `fastmcp.Context`, `Context[ServerSession, None]`: injected, not an input.
fn is_context(hint: Node<'_>, source: &str) -> bool {
    // `Context | None` and `Optional[Context]` too.
    syntax::text(hint, source).split('|').any(|member| {
        let member = member.trim();
        let member = member
            .strip_prefix("Optional[")
            .or_else(|| member.strip_prefix("typing.Optional["))
            .unwrap_or(member);
        let base = member.split('[').next().unwrap_or(member).trim();
        let last = base.rsplit('.').next().unwrap_or(base);
        last == "Context" || last == "RequestContext"
    })
}

/// `Field(...)` (also `pydantic.Field(...)`), when `node` is that call.
fn field_call<'t>(node: Node<'t>, source: &str) -> Option<Node<'t>> {
    if node.kind() != "call" {
        return None;
    }
    let function = node.field("function")?;
    let name = syntax::text(function, source);
    (name == "Field" || name.ends_with(".Field")).then_some(node)
}

fn keyword<'t>(call: Node<'t>, key: &str, source: &str) -> Option<Node<'t>> {
    let arguments = call.field("arguments")?;
    let mut cursor = arguments.walk();
    arguments
        .named_children(&mut cursor)
        .filter(|argument| argument.kind() == "keyword_argument")
        .find(|argument| {
            argument
                .field("name")
                .is_some_and(|name| syntax::text(name, source) == key)
        })
        .and_then(|argument| argument.field("value"))
}

/// Copies `description=` and literal `default=` of a `Field(...)` into the schema.
fn apply_field(schema: &mut Value, field: Node<'_>, source: &str) {
    let Value::Object(object) = schema else {
        return;
    };
    if let Some(description) =
        keyword(field, "description", source).and_then(|value| string_value(value, source))
    {
        object.insert("description".to_owned(), Value::String(description));
    }
    let default = keyword(field, "default", source).or_else(|| {
        let arguments = field.field("arguments")?;
        arguments
            .named_child(0)
            .filter(|first| first.kind() != "keyword_argument")
    });
    if let Some(value) = default.and_then(|value| literal(value, source, 0)) {
        object.insert("default".to_owned(), value);
    }
}

/// `Field(default=...)`, `Field(default_factory=...)` or `Field(<value>)` other than `...`.
fn field_has_default(field: Node<'_>, source: &str) -> bool {
    if keyword(field, "default", source).is_some()
        || keyword(field, "default_factory", source).is_some()
    {
        return true;
    }
    field
        .field("arguments")
        .and_then(|arguments| arguments.named_child(0))
        .is_some_and(|first| first.kind() != "keyword_argument" && first.kind() != "ellipsis")
}

/// The JSON Schema of one type hint.
pub fn type_schema(
    node: Node<'_>,
    source: &str,
    context: &TypeContext<'_>,
    depth: usize,
) -> (Value, bool) {
    if depth > MAX_DEPTH {
        return (json!({}), false);
    }
    match node.kind() {
        "type" | "parenthesized_expression" => match node.named_child(0) {
            Some(inner) => type_schema(inner, source, context, depth + 1),
            None => (json!({}), false),
        },
        "none" => (json!({"type": "null"}), true),
        "identifier" | "attribute" | "member_type" => {
            named_type(syntax::text(node, source), context, depth)
        }
        // A forward reference: `"Model"`.
        "string" => match string_value(node, source) {
            Some(name) => named_type(name.trim(), context, depth),
            None => (json!({}), false),
        },
        "binary_operator" | "union_type" => {
            let mut members = Vec::new();
            let complete = collect_union(node, source, context, depth, &mut members);
            (union(members), complete)
        }
        "generic_type" => {
            let base = node
                .named_child(0)
                .map(|base| syntax::text(base, source))
                .unwrap_or_default();
            let arguments: Vec<Node<'_>> = node
                .named_child(1)
                .map(|parameters| {
                    let mut cursor = parameters.walk();
                    parameters.named_children(&mut cursor).collect()
                })
                .unwrap_or_default();
            generic(base, &arguments, source, context, depth)
        }
        "subscript" => {
            let base = node
                .field("value")
                .map(|base| syntax::text(base, source))
                .unwrap_or_default();
            let mut cursor = node.walk();
            let arguments: Vec<Node<'_>> = node
                .children_by_field_name("subscript", &mut cursor)
                .flat_map(|argument| {
                    // `Dict[str, int]` parses as one tuple-less list of subscripts, but
                    // some versions give a single `expression_list`.
                    if argument.kind() == "expression_list" || argument.kind() == "tuple" {
                        let mut inner = argument.walk();
                        argument.named_children(&mut inner).collect::<Vec<_>>()
                    } else {
                        vec![argument]
                    }
                })
                .collect();
            generic(base, &arguments, source, context, depth)
        }
        _ => (json!({}), false),
    }
}

fn collect_union(
    node: Node<'_>,
    source: &str,
    context: &TypeContext<'_>,
    depth: usize,
    members: &mut Vec<Value>,
) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let node = if node.kind() == "type" {
        match node.named_child(0) {
            Some(inner) => inner,
            None => return false,
        }
    } else {
        node
    };
    if matches!(node.kind(), "binary_operator" | "union_type") {
        let mut complete = true;
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
        for child in children {
            complete &= collect_union(child, source, context, depth + 1, members);
        }
        return complete;
    }
    let (schema, complete) = type_schema(node, source, context, depth + 1);
    members.push(schema);
    complete
}

/// `anyOf` of the members, flattened; a single member stands alone.
fn union(members: Vec<Value>) -> Value {
    let mut flat = Vec::new();
    for member in members {
        match member.get("anyOf").and_then(Value::as_array) {
            Some(inner) if member.as_object().is_some_and(|object| object.len() == 1) => {
                flat.extend(inner.iter().cloned())
            }
            _ => flat.push(member),
        }
    }
    if flat.len() == 1 {
        return flat.pop().unwrap_or_else(|| json!({}));
    }
    json!({ "anyOf": flat })
}

fn last_segment(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name).trim()
}

fn generic(
    base: &str,
    arguments: &[Node<'_>],
    source: &str,
    context: &TypeContext<'_>,
    depth: usize,
) -> (Value, bool) {
    let argument = |index: usize| {
        arguments
            .get(index)
            .map(|node| type_schema(*node, source, context, depth + 1))
    };
    match last_segment(base) {
        "Optional" => {
            let (inner, complete) = argument(0).unwrap_or((json!({}), false));
            (union(vec![inner, json!({"type": "null"})]), complete)
        }
        "Union" => {
            let mut members = Vec::new();
            let mut complete = true;
            for index in 0..arguments.len() {
                if let Some((schema, known)) = argument(index) {
                    members.push(schema);
                    complete &= known;
                }
            }
            (union(members), complete)
        }
        "list" | "List" | "Sequence" | "MutableSequence" | "Iterable" | "set" | "Set"
        | "frozenset" | "FrozenSet" | "tuple" | "Tuple" => match argument(0) {
            Some((items, complete)) => (json!({"type": "array", "items": items}), complete),
            None => (json!({"type": "array"}), true),
        },
        "dict" | "Dict" | "Mapping" | "MutableMapping" => match argument(1) {
            Some((values, complete)) => (
                json!({"type": "object", "additionalProperties": values}),
                complete,
            ),
            None => (json!({"type": "object"}), true),
        },
        "Literal" => {
            let values: Option<Vec<Value>> = arguments
                .iter()
                .map(|node| {
                    let node = if node.kind() == "type" {
                        node.named_child(0)?
                    } else {
                        *node
                    };
                    literal(node, source, 0)
                })
                .collect();
            match values {
                Some(values) => (literal_schema(values), true),
                None => (json!({}), false),
            }
        }
        "Annotated" => {
            let (mut schema, complete) = argument(0).unwrap_or((json!({}), false));
            for metadata in arguments.iter().skip(1) {
                let metadata = if metadata.kind() == "type" {
                    metadata.named_child(0).unwrap_or(*metadata)
                } else {
                    *metadata
                };
                if let Some(field) = field_call(metadata, source) {
                    apply_field(&mut schema, field, source);
                }
            }
            (schema, complete)
        }
        _ => named_type(base, context, depth),
    }
}

/// `Literal["a", "b"]` -> `{"type": "string", "enum": ["a", "b"]}`.
fn literal_schema(values: Vec<Value>) -> Value {
    let kind = if values.iter().all(Value::is_string) {
        Some("string")
    } else if values.iter().all(|value| value.is_i64() || value.is_u64()) {
        Some("integer")
    } else if values.iter().all(Value::is_boolean) {
        Some("boolean")
    } else {
        None
    };
    let mut schema = Map::new();
    if let Some(kind) = kind {
        schema.insert("type".to_owned(), json!(kind));
    }
    schema.insert("enum".to_owned(), Value::Array(values));
    Value::Object(schema)
}

/// A bare type name: a builtin, a typing alias, or a class this file can see.
fn named_type(name: &str, context: &TypeContext<'_>, depth: usize) -> (Value, bool) {
    let schema = match last_segment(name) {
        "str" | "bytes" | "datetime" | "date" | "time" | "UUID" | "Path" | "AnyUrl" | "HttpUrl"
        | "EmailStr" => json!({"type": "string"}),
        "int" => json!({"type": "integer"}),
        "float" | "Decimal" => json!({"type": "number"}),
        "bool" => json!({"type": "boolean"}),
        "None" | "NoneType" => json!({"type": "null"}),
        "list" | "List" | "set" | "Set" | "tuple" | "Tuple" | "Sequence" => {
            json!({"type": "array"})
        }
        "dict" | "Dict" | "Mapping" => json!({"type": "object"}),
        "Any" | "object" => json!({}),
        other => {
            return match model_schema(other, context, depth) {
                Some(schema) => (schema, true),
                None => (json!({}), false),
            };
        }
    };
    (schema, true)
}

/// The schema of a class the file can see: an enum's values, or a model's annotated
/// fields as an object. `None` for classes it cannot see.
pub fn model_schema(name: &str, context: &TypeContext<'_>, depth: usize) -> Option<Value> {
    if depth > MAX_MODEL_NESTING * 4 {
        return Some(json!({"type": "object"}));
    }
    let (class, text) = context.models.class(last_segment(name), context.file)?;
    let superclasses = class
        .field("superclasses")
        .map(|node| syntax::text(node, text))
        .unwrap_or_default();
    let body = class.field("body")?;
    let mut cursor = body.walk();
    let assignments: Vec<Node<'_>> = body
        .named_children(&mut cursor)
        .filter(|statement| statement.kind() == "expression_statement")
        .filter_map(|statement| statement.named_child(0))
        .filter(|expression| expression.kind() == "assignment")
        .collect();
    if superclasses.contains("Enum") {
        let values: Vec<Value> = assignments
            .iter()
            .filter_map(|assignment| literal(assignment.field("right")?, text, 0))
            .collect();
        return Some(literal_schema(values));
    }
    let class_source = SourceFile {
        text,
        ..*context.file
    };
    let class_context = TypeContext {
        file: &class_source,
        models: context.models,
    };
    let mut properties = Map::new();
    let mut required = Vec::new();
    for assignment in assignments {
        let (Some(left), Some(hint)) = (assignment.field("left"), assignment.field("type")) else {
            continue;
        };
        if left.kind() != "identifier" {
            continue;
        }
        let field_name = syntax::text(left, text);
        if field_name.starts_with('_') || syntax::text(hint, text).starts_with("ClassVar") {
            continue;
        }
        let (mut schema, _) = type_schema(hint, text, &class_context, depth + 4);
        let mut is_required = true;
        if let Some(default) = assignment.field("right") {
            if let Some(field) = field_call(default, text) {
                apply_field(&mut schema, field, text);
                is_required = !field_has_default(field, text);
            } else {
                is_required = false;
                if let Some(value) = literal(default, text, 0)
                    && let Value::Object(object) = &mut schema
                {
                    object.insert("default".to_owned(), value);
                }
            }
        }
        properties.insert(field_name.to_owned(), schema);
        if is_required {
            required.push(Value::String(field_name.to_owned()));
        }
    }
    let mut schema = Map::new();
    schema.insert("type".to_owned(), json!("object"));
    schema.insert("properties".to_owned(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".to_owned(), Value::Array(required));
    }
    Some(Value::Object(schema))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    /// The input schema of the first function in `source`.
    fn schema_of(source: &str) -> (Value, bool) {
        let tree = syntax::parse(Language::Python, source).unwrap();
        let file = SourceFile {
            root: Path::new("."),
            path: Path::new("./server.py"),
            rel: "server.py",
            text: source,
            language: Language::Python,
        };
        let mut models = Models::default();
        models.read_classes(&file, &tree, false);
        let context = TypeContext {
            file: &file,
            models: &models,
        };
        let mut cursor = tree.root_node().walk();
        let function = tree
            .root_node()
            .named_children(&mut cursor)
            .find(|node| node.kind() == "function_definition")
            .unwrap();
        parameters_schema(function.field("parameters").unwrap(), &context)
    }

    fn property(schema: &Value, name: &str) -> Value {
        schema["properties"][name].clone()
    }

    #[test]
    fn builtin_hints_become_json_types() {
        let (schema, complete) =
            schema_of("def f(a: str, b: int, c: float, d: bool, e: bytes, f: Any): ...");
        assert!(complete);
        assert_eq!(property(&schema, "a"), json!({"type": "string"}));
        assert_eq!(property(&schema, "b"), json!({"type": "integer"}));
        assert_eq!(property(&schema, "c"), json!({"type": "number"}));
        assert_eq!(property(&schema, "d"), json!({"type": "boolean"}));
        assert_eq!(property(&schema, "e"), json!({"type": "string"}));
        assert_eq!(property(&schema, "f"), json!({}));
        assert_eq!(schema["required"], json!(["a", "b", "c", "d", "e", "f"]));
    }

    #[test]
    fn containers_unions_and_literals() {
        let (schema, _) = schema_of(
            "def f(a: list[str], b: Dict[str, int], c: Optional[int] = None,\n\
             d: str | None = None, e: Union[int, str] = 1, g: Literal['x', 'y'] = 'x',\n\
             h: typing.List[float] = []): ...",
        );
        assert_eq!(
            property(&schema, "a"),
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(
            property(&schema, "b"),
            json!({"type": "object", "additionalProperties": {"type": "integer"}})
        );
        assert_eq!(
            property(&schema, "c"),
            json!({"anyOf": [{"type": "integer"}, {"type": "null"}], "default": null})
        );
        assert_eq!(
            property(&schema, "d"),
            json!({"anyOf": [{"type": "string"}, {"type": "null"}], "default": null})
        );
        assert_eq!(
            property(&schema, "e"),
            json!({"anyOf": [{"type": "integer"}, {"type": "string"}], "default": 1})
        );
        assert_eq!(
            property(&schema, "g"),
            json!({"type": "string", "enum": ["x", "y"], "default": "x"})
        );
        assert_eq!(
            property(&schema, "h"),
            json!({"type": "array", "items": {"type": "number"}, "default": []})
        );
        assert_eq!(schema["required"], json!(["a", "b"]));
    }

    #[test]
    fn annotated_fields_and_field_defaults() {
        let (schema, _) = schema_of(
            "def f(a: Annotated[str, Field(description='The a')],\n\
             b: int = Field(description='The b'),\n\
             c: int = Field(5, description='The c'),\n\
             d: list[str] = Field(default_factory=list),\n\
             e: Annotated[int, Field(description='The e', ge=0)] = 3): ...",
        );
        assert_eq!(
            property(&schema, "a"),
            json!({"type": "string", "description": "The a"})
        );
        assert_eq!(
            property(&schema, "b"),
            json!({"type": "integer", "description": "The b"})
        );
        assert_eq!(
            property(&schema, "c"),
            json!({"type": "integer", "description": "The c", "default": 5})
        );
        assert_eq!(
            property(&schema, "e"),
            json!({"type": "integer", "description": "The e", "default": 3})
        );
        // `Field()` without a default leaves the parameter required, as pydantic does.
        assert_eq!(schema["required"], json!(["a", "b"]));
    }

    #[test]
    fn injected_and_receiver_parameters_are_not_inputs() {
        let (schema, _) = schema_of(
            "def f(self, query: str, ctx: Context, c2: Context[ServerSession, None] = None,\n\
             c3: Context | None = None, *args, **kwargs): ...",
        );
        assert_eq!(schema["properties"].as_object().unwrap().len(), 1);
        assert_eq!(schema["required"], json!(["query"]));
    }

    #[test]
    fn models_and_enums_in_the_file_are_expanded() {
        let (schema, complete) = schema_of(
            "class Color(str, Enum):\n    RED = 'red'\n    BLUE = 'blue'\n\n\
             class Item(BaseModel):\n    name: str\n    color: Color = Color.RED\n    tags: list[str] = []\n\n\
             def f(item: Item, items: list['Item'], other: Unknown): ...",
        );
        assert!(
            !complete,
            "`Unknown` is not visible, so the schema is incomplete"
        );
        assert_eq!(
            property(&schema, "item"),
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "color": {"type": "string", "enum": ["red", "blue"]},
                    "tags": {"type": "array", "items": {"type": "string"}, "default": []}
                },
                "required": ["name"]
            })
        );
        assert_eq!(property(&schema, "items")["items"]["type"], json!("object"));
        assert_eq!(property(&schema, "other"), json!({}));
    }

    #[test]
    fn relative_modules_map_to_files() {
        assert_eq!(
            relative_module_paths(".models"),
            vec![
                PathBuf::from("models.py"),
                PathBuf::from("models/__init__.py")
            ]
        );
        assert_eq!(
            relative_module_paths("..shared.types"),
            vec![
                PathBuf::from("../shared/types.py"),
                PathBuf::from("../shared/types/__init__.py")
            ]
        );
    }
}
