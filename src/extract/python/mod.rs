//! Python: FastMCP-style decorators (`@mcp.tool`, on any receiver, SDK 1.x `FastMCP`,
//! SDK 2.x `MCPServer` and the standalone `fastmcp` package), `add_tool(...)` with a
//! function, `Tool.from_function(...)` (given to `add_tool` or `FastMCP(tools=[...])`),
//! and low-level servers that list `Tool(...)` objects from a `@server.list_tools()`
//! handler or a `Server(on_list_tools=...)` one.
//!
//! Descriptions: the `description=` keyword, else the function's docstring as the SDK
//! that registers it derives one (`docstring`: the MCP SDK sends it as written, fastmcp
//! cleans it and, from 3.x, cuts an `Args:` section off). Which SDK that is comes from the
//! file's imports, else from the package's requirements.
//!
//! Input schemas are built from the parameters and their type hints (`types`), the way
//! pydantic would: a parameter with a default is not required, `self`/`cls` and `Context`
//! parameters are not part of the schema, and a pydantic model becomes an object schema
//! read from its class (in this file or one relative import away).

pub mod docstring;
mod imports;
pub mod types;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use serde_json::{Map, Value, json};
use tree_sitter::Node;

use super::syntax::{self, Field as _, MAX_DEPTH};
use super::{FileOutcome, SourceFile, Unresolved};
use crate::model::{AnnotationSource, ExtractionMethod, ToolDef};
use docstring::DocStyle;
use types::{Models, TypeContext};

/// Cheap literal check run before parsing: every shape read here spells one of these.
pub fn might_define_tools(text: &str) -> bool {
    text.contains(".tool")
        || text.contains(".mount(")
        || text.contains(".import_server(")
        || text.contains("list_tools")
        || text.contains("Tool(")
        || text.contains("add_tool")
        || text.contains("from_function")
}

pub fn extract(file: &SourceFile<'_>) -> FileOutcome {
    // The depth check is made on `Module::index`'s walk, which visits every node anyway.
    let parsed = syntax::parse_unchecked_depth(super::Language::Python, file.text);
    let (tree, syntax_error_row) = match parsed {
        Ok(parsed) => parsed,
        Err(reason) => {
            return FileOutcome {
                gave_up: Some(reason),
                ..FileOutcome::default()
            };
        }
    };
    let Some((module, candidates)) = Module::index(file, &tree) else {
        return FileOutcome {
            gave_up: Some(super::SkipReason::TooDeep),
            ..FileOutcome::default()
        };
    };
    let mut outcome = FileOutcome {
        syntax_error_row,
        ..FileOutcome::default()
    };
    let mut reader = Reader {
        file,
        module: &module,
        outcome: &mut outcome,
        doc_style: doc_style(file),
        this_file: None,
    };
    for node in candidates {
        match node.kind() {
            "decorated_definition" => reader.decorated(node),
            _ => reader.call(node),
        }
    }
    outcome
}

/// What a file defines at any level, by name: functions, classes, string constants.
pub(crate) struct Module<'t> {
    functions: HashMap<String, Node<'t>>,
    /// `NAME = "x"` and class constants `Names.FETCH = "fetch"` (also enum members).
    constants: HashMap<String, String>,
    /// Right-hand sides of `NAME = <expression>`, for values held in constants
    /// (`annotations=READ_ONLY`).
    assigned: HashMap<String, Node<'t>>,
    /// Classes defined in the file, by name, for `self.name` in their methods.
    classes: HashMap<String, Node<'t>>,
    /// Calls of a plain name (`register(mcp, tool)`), by that name: the callers that fill
    /// a helper's parameters.
    calls: HashMap<String, Vec<Node<'t>>>,
    /// Whether `Tool(...)` calls are tool definitions: the file has a low-level list-tools
    /// handler, or imports the MCP SDK's types (`from mcp.types import Tool`, `import
    /// mcp.types as types`, `from mcp import types`), whose `Tool` is only ever a tool
    /// definition for a list-tools handler elsewhere in the package.
    lists_tools: bool,
    pub(crate) models: Models,
}

impl<'t> Module<'t> {
    /// Indexes the file in one walk of its tree, which also finds what may register a
    /// tool (decorated definitions and calls, returned in source order) and checks the
    /// depth: `None` when the tree nests deeper than [`MAX_DEPTH`] (what
    /// [`syntax::deeper_than`] would say).
    fn index(
        file: &SourceFile<'_>,
        tree: &'t tree_sitter::Tree,
    ) -> Option<(Module<'t>, Vec<Node<'t>>)> {
        let root = tree.root_node();
        let mut module = Module {
            functions: HashMap::new(),
            constants: HashMap::new(),
            assigned: HashMap::new(),
            classes: HashMap::new(),
            calls: HashMap::new(),
            lists_tools: file.text.contains("mcp.types") || file.text.contains("from mcp import"),
            models: Models::default(),
        };
        let mut classes = Vec::new();
        let mut candidates = Vec::new();
        let mut cursor = root.walk();
        let mut children = Vec::new();
        // The enclosing class's name, borrowed from the text: no allocation per node.
        let mut stack = vec![(root, 0usize, None::<&str>)];
        while let Some((node, depth, class)) = stack.pop() {
            if syntax::too_deep_at(node, depth) {
                return None;
            }
            if node.kind() == "call"
                && let Some(function) = node.field("function")
                && function.kind() == "identifier"
            {
                let calls = module
                    .calls
                    .entry(syntax::text(function, file.text).to_owned())
                    .or_default();
                if calls.len() < MAX_HELPER_CALLS {
                    calls.push(node);
                }
            }
            match node.kind() {
                "decorated_definition" | "call" => candidates.push(node),
                "class_definition" => {
                    classes.push(node);
                    if let Some(name) = node.field("name") {
                        module
                            .classes
                            .entry(syntax::text(name, file.text).to_owned())
                            .or_insert(node);
                    }
                }
                _ => {}
            }
            match node.kind() {
                "function_definition" => {
                    if let Some(name) = node.field("name") {
                        module
                            .functions
                            .entry(syntax::text(name, file.text).to_owned())
                            .or_insert(node);
                    }
                }
                "assignment" => {
                    if let (Some(left), Some(right)) = (node.field("left"), node.field("right"))
                        && left.kind() == "identifier"
                    {
                        if class.is_none() {
                            module
                                .assigned
                                .entry(syntax::text(left, file.text).to_owned())
                                .or_insert(right);
                        }
                        if let Some(value) = string_value(right, file.text) {
                            let name = syntax::text(left, file.text);
                            let key = match class {
                                Some(class) => format!("{class}.{name}"),
                                None => name.to_owned(),
                            };
                            module.constants.insert(key, value);
                        }
                    }
                }
                "keyword_argument"
                    if node
                        .field("name")
                        .is_some_and(|name| syntax::text(name, file.text) == "on_list_tools") =>
                {
                    module.lists_tools = true;
                }
                "decorator" if decorator_method(node, file.text) == Some("list_tools") => {
                    module.lists_tools = true;
                }
                _ => {}
            }
            let class_name = if node.kind() == "class_definition" {
                node.field("name").map(|name| syntax::text(name, file.text))
            } else if node.kind() == "function_definition" {
                None
            } else {
                class
            };
            children.clear();
            syntax::named_children_into(&mut cursor, node, &mut children);
            stack.extend(children.iter().map(|&child| (child, depth + 1, class_name)));
        }
        module.models.read_found_classes(file, tree, &classes);
        // The walk above pops the last child first; readers go in source order, outer
        // node before the nodes it contains.
        candidates.sort_by_key(|node| (node.start_byte(), std::cmp::Reverse(node.end_byte())));
        Some((module, candidates))
    }

    /// A name the source spells as a string, an identifier bound to a string constant, or
    /// a class / enum member (`Names.FETCH`, `Names.FETCH.value`).
    fn resolve_string(&self, node: Node<'_>, source: &str) -> Option<String> {
        if let Some(value) = string_value(node, source) {
            return Some(value);
        }
        let text = syntax::text(node, source);
        let text = text.strip_suffix(".value").unwrap_or(text);
        match node.kind() {
            "identifier" | "attribute" => {
                let key = text.rsplit('.').take(2).collect::<Vec<_>>();
                let key = match key.as_slice() {
                    [member, class] => format!("{class}.{member}"),
                    [name] => (*name).to_owned(),
                    _ => return None,
                };
                if let Some(value) = self.constants.get(&key) {
                    return Some(value.clone());
                }
                // `self.name` in a method: the class's own value for it.
                let object = node
                    .field("object")
                    .filter(|_| node.kind() == "attribute")?;
                if !matches!(syntax::text(object, source), "self" | "cls") {
                    return None;
                }
                let member = syntax::text(node.field("attribute")?, source);
                let class = enclosing_class(node)?;
                self.class_member(
                    syntax::text(class.field("name")?, source),
                    member,
                    source,
                    0,
                )
            }
            _ => None,
        }
    }

    /// The string a class of this file gives `self.<member>`: a class attribute
    /// (`name = "shell_execute"`), `self.<member> = "x"` in its `__init__`, a value its
    /// `__init__` passes to a base class's `__init__` that stores it there
    /// (`super().__init__(TOOL_NAME)` with `def __init__(self, tool_name): self.name =
    /// tool_name`), or a base class's attribute. Bounded in depth.
    fn class_member(
        &self,
        class: &str,
        member: &str,
        source: &str,
        depth: usize,
    ) -> Option<String> {
        if depth > 4 {
            return None;
        }
        if let Some(value) = self.constants.get(&format!("{class}.{member}")) {
            return Some(value.clone());
        }
        let node = *self.classes.get(class)?;
        let bases = class_bases(node, source);
        if let Some(init) = class_init(node, source) {
            for statement in body_statements(init) {
                if let Some((target, value)) = self_assignment(statement, source)
                    && target == member
                    && let Some(value) = self.plain_string(value, source)
                {
                    return Some(value);
                }
                if let Some(arguments) = super_init_arguments(statement, source) {
                    for base in &bases {
                        if let Some(value) =
                            self.member_from_init_arguments(base, member, arguments, source)
                        {
                            return Some(value);
                        }
                    }
                }
            }
        }
        bases
            .iter()
            .find_map(|base| self.class_member(base, member, source, depth + 1))
    }

    /// `class`'s `__init__` stores parameter `p` as `self.<member>`: the value `arguments`
    /// (a call of that `__init__`, `self` not among them) give `p`.
    fn member_from_init_arguments(
        &self,
        class: &str,
        member: &str,
        arguments: Node<'_>,
        source: &str,
    ) -> Option<String> {
        let init = class_init(*self.classes.get(class)?, source)?;
        let parameter = body_statements(init).find_map(|statement| {
            let (target, value) = self_assignment(statement, source)?;
            (target == member && value.kind() == "identifier").then(|| syntax::text(value, source))
        })?;
        let parameters = parameter_names(init, source);
        let index = parameters
            .iter()
            .skip(1) // self
            .position(|name| *name == parameter)?;
        let mut cursor = arguments.walk();
        let keyword = arguments.named_children(&mut cursor).find(|argument| {
            argument.kind() == "keyword_argument"
                && argument
                    .field("name")
                    .is_some_and(|name| syntax::text(name, source) == parameter)
        });
        let value = keyword
            .and_then(|argument| argument.field("value"))
            .or_else(|| positional(arguments, index))?;
        self.plain_string(value, source)
    }

    /// [`Self::resolve_string`] without the `self.` lookup: a literal or a constant.
    fn plain_string(&self, node: Node<'_>, source: &str) -> Option<String> {
        if node.kind() == "attribute"
            && node
                .field("object")
                .is_some_and(|object| matches!(syntax::text(object, source), "self" | "cls"))
        {
            return None;
        }
        self.resolve_string(node, source)
    }
}

/// The class a node is inside, if any (the nearest).
fn enclosing_class(node: Node<'_>) -> Option<Node<'_>> {
    let mut node = node.parent()?;
    loop {
        if node.kind() == "class_definition" {
            return Some(node);
        }
        node = node.parent()?;
    }
}

/// The names of a class's bases as written, last dotted part (`ToolHandler`, `base.Tool`
/// → `Tool`).
fn class_bases<'s>(class: Node<'_>, source: &'s str) -> Vec<&'s str> {
    let Some(bases) = class.field("superclasses") else {
        return Vec::new();
    };
    let mut cursor = bases.walk();
    bases
        .named_children(&mut cursor)
        .filter(|base| matches!(base.kind(), "identifier" | "attribute"))
        .map(|base| {
            let text = syntax::text(base, source);
            text.rsplit('.').next().unwrap_or(text)
        })
        .collect()
}

/// A class's `def __init__`, defined directly in its body.
fn class_init<'t>(class: Node<'t>, source: &str) -> Option<Node<'t>> {
    let body = class.field("body")?;
    let mut cursor = body.walk();
    body.named_children(&mut cursor).find_map(|child| {
        let function = match child.kind() {
            "decorated_definition" => child.field("definition")?,
            _ => child,
        };
        (function.kind() == "function_definition"
            && function
                .field("name")
                .is_some_and(|name| syntax::text(name, source) == "__init__"))
        .then_some(function)
    })
}

/// The top-level statements of a function's body.
fn body_statements<'t>(function: Node<'t>) -> impl Iterator<Item = Node<'t>> {
    let body = function.field("body");
    let mut statements = Vec::new();
    if let Some(body) = body {
        let mut cursor = body.walk();
        statements.extend(body.named_children(&mut cursor));
    }
    statements.into_iter()
}

/// `self.<target> = <value>` (annotated or not) as `(target, value)`.
fn self_assignment<'t, 's>(statement: Node<'t>, source: &'s str) -> Option<(&'s str, Node<'t>)> {
    let assignment = statement
        .named_child(0)
        .filter(|_| statement.kind() == "expression_statement")?;
    if assignment.kind() != "assignment" {
        return None;
    }
    let left = assignment.field("left")?;
    let right = assignment.field("right")?;
    if left.kind() != "attribute" || syntax::text(left.field("object")?, source) != "self" {
        return None;
    }
    Some((syntax::text(left.field("attribute")?, source), right))
}

/// The arguments of a `super().__init__(...)` statement (the `Base.__init__(self, ...)`
/// spelling is not read).
fn super_init_arguments<'t>(statement: Node<'t>, source: &str) -> Option<Node<'t>> {
    let call = statement
        .named_child(0)
        .filter(|_| statement.kind() == "expression_statement")?;
    if call.kind() != "call" {
        return None;
    }
    let function = call.field("function")?;
    if function.kind() != "attribute"
        || syntax::text(function.field("attribute")?, source) != "__init__"
        || !syntax::text(function.field("object")?, source).starts_with("super(")
    {
        return None;
    }
    call.field("arguments")
}

/// A function's parameter names in order (`self` included).
fn parameter_names<'s>(function: Node<'_>, source: &'s str) -> Vec<&'s str> {
    let Some(parameters) = function.field("parameters") else {
        return Vec::new();
    };
    let mut cursor = parameters.walk();
    parameters
        .named_children(&mut cursor)
        .filter_map(|parameter| match parameter.kind() {
            "identifier" => Some(syntax::text(parameter, source)),
            "typed_parameter" => parameter
                .named_child(0)
                .filter(|name| name.kind() == "identifier")
                .map(|name| syntax::text(name, source)),
            "default_parameter" | "typed_default_parameter" => parameter
                .field("name")
                .map(|name| syntax::text(name, source)),
            _ => None,
        })
        .collect()
}

struct Reader<'a, 't> {
    file: &'a SourceFile<'a>,
    module: &'a Module<'t>,
    outcome: &'a mut FileOutcome,
    /// How this file's docstrings become descriptions.
    doc_style: DocStyle,
    /// This file's canonical path, once a server object defined here was named.
    this_file: Option<PathBuf>,
}

/// A server object as the source names it: the module file that assigns it and the
/// variable (`jira_mcp = FastMCP(...)` in `servers/jira.py`), wherever it is used from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerObject {
    file: PathBuf,
    variable: String,
}

/// `parent.mount(child, prefix="p")` (also `namespace=`, the older `mount("p", child)`
/// and `import_server`): standalone fastmcp lists the child's tools as `p_<name>`.
#[derive(Debug, Clone)]
pub struct Mount {
    parent: ServerObject,
    child: ServerObject,
    prefix: String,
}

/// Renames the tools registered on a mounted server as the parent lists them: each
/// mount, innermost first, puts its prefix and `_` before the name. Tools on servers that
/// are not mounted, or whose server object is not known, keep their names.
pub fn apply_mounts(tools: &mut [ToolDef], owners: &[(usize, ServerObject)], mounts: &[Mount]) {
    if mounts.is_empty() {
        return;
    }
    let mut parents: HashMap<&ServerObject, (&ServerObject, &str)> = HashMap::new();
    for mount in mounts {
        parents
            .entry(&mount.child)
            .or_insert((&mount.parent, mount.prefix.as_str()));
    }
    for (index, owner) in owners {
        let Some(tool) = tools.get_mut(*index) else {
            continue;
        };
        let mut server = owner;
        // Bounded: a mount cycle (a server mounted into itself) must not loop.
        for _ in 0..8 {
            let Some(&(parent, prefix)) = parents.get(server) else {
                break;
            };
            tool.name = format!("{prefix}_{}", tool.name);
            server = parent;
        }
    }
}

/// How a file's docstrings become descriptions: by the SDK its imports name, else the
/// one its package requires; the MCP SDK's raw `__doc__` is the 3.13 compiler's when
/// the package needs Python 3.13.
fn doc_style(file: &SourceFile<'_>) -> DocStyle {
    let (package_style, python_313) = package_facts(file);
    match docstring::style_of_imports(file.text).unwrap_or(package_style) {
        DocStyle::Raw if python_313 => DocStyle::Compiled,
        style => style,
    }
}

/// [`docstring::style_of_package`] and [`docstring::requires_python_313`] of the file's
/// extraction root, read once per root.
fn package_facts(file: &SourceFile<'_>) -> (DocStyle, bool) {
    static FACTS: LazyLock<Mutex<HashMap<PathBuf, (DocStyle, bool)>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    if let Some(facts) = FACTS
        .lock()
        .ok()
        .and_then(|facts| facts.get(file.root).copied())
    {
        return facts;
    }
    let facts = (
        docstring::style_of_package(file.root),
        docstring::requires_python_313(file.root),
    );
    if let Ok(mut cache) = FACTS.lock() {
        cache.insert(file.root.to_path_buf(), facts);
    }
    facts
}

impl<'t> Reader<'_, 't> {
    /// `@<anything>.tool`, `@<anything>.tool(...)` on a function.
    fn decorated(&mut self, node: Node<'_>) {
        let Some(function) = node.field("definition") else {
            return;
        };
        if function.kind() != "function_definition" {
            return;
        }
        let mut cursor = node.walk();
        for decorator in node.named_children(&mut cursor) {
            if decorator.kind() != "decorator" {
                continue;
            }
            if decorator_method(decorator, self.file.text) != Some("tool")
                && !self.is_fastmcp_tool_decorator(decorator)
            {
                continue;
            }
            let arguments = decorator
                .named_child(0)
                .filter(|expression| expression.kind() == "call")
                .and_then(|call| call.field("arguments"));
            let options = arguments
                .map(|arguments| self.options(arguments, 0))
                .unwrap_or_default();
            let before = self.outcome.tools.len();
            self.tool_from_function(function, options, decorator);
            self.record_owner(before, decorator_receiver(decorator));
        }
    }

    /// A bare `@tool` / `@tool(...)` whose `tool` is fastmcp's standalone decorator
    /// (`from fastmcp.tools import tool`, also under another name or from a vendored
    /// copy): it marks a function, often a method, that is then added to a server.
    fn is_fastmcp_tool_decorator(&self, decorator: Node<'_>) -> bool {
        let Some(mut expression) = decorator.named_child(0) else {
            return false;
        };
        if expression.kind() == "call"
            && let Some(function) = expression.field("function")
        {
            expression = function;
        }
        if expression.kind() != "identifier" {
            return false;
        }
        imports::handler_module(expression, self.file.text).is_some_and(|(module, original)| {
            original == "tool" && module.split('.').any(|part| part == "fastmcp")
        })
    }

    /// Notes the server object the tools pushed since `before` were registered on.
    fn record_owner(&mut self, before: usize, receiver: Option<Node<'_>>) {
        if self.outcome.tools.len() == before {
            return;
        }
        let Some(owner) = receiver.and_then(|receiver| self.server_object(receiver)) else {
            return;
        };
        for index in before..self.outcome.tools.len() {
            self.outcome.owners.push((index, owner.clone()));
        }
    }

    /// The server object an expression names: a variable assigned at this file's top
    /// level, or one imported from a module of the package (`from .server import mcp`,
    /// `server.mcp` with `from . import server`).
    fn server_object(&mut self, expression: Node<'_>) -> Option<ServerObject> {
        if expression.kind() == "identifier" {
            let variable = syntax::text(expression, self.file.text);
            if self.module.assigned.contains_key(variable) {
                if self.this_file.is_none() {
                    self.this_file = Some(
                        self.file
                            .path
                            .canonicalize()
                            .unwrap_or_else(|_| self.file.path.to_path_buf()),
                    );
                }
                return Some(ServerObject {
                    file: self.this_file.clone()?,
                    variable: variable.to_owned(),
                });
            }
        }
        let (module, variable) = imports::handler_module(expression, self.file.text)?;
        let (file, _) = imports::read_module(self.file, &module)?;
        Some(ServerObject { file, variable })
    }

    /// `parent.mount(child, prefix="p")`, `parent.mount(child, namespace="p")`,
    /// `parent.mount("p", child)` and the same with `import_server`.
    fn mount(&mut self, function: Node<'_>, arguments: Node<'_>) {
        let mut prefix = None;
        let mut child = None;
        let mut cursor = arguments.walk();
        for argument in arguments.named_children(&mut cursor) {
            match argument.kind() {
                "keyword_argument" => {
                    let (Some(key), Some(value)) =
                        (argument.field("name"), argument.field("value"))
                    else {
                        continue;
                    };
                    match syntax::text(key, self.file.text) {
                        "prefix" | "namespace" => {
                            prefix = self.module.resolve_string(value, self.file.text)
                        }
                        "server" => child = Some(value),
                        _ => {}
                    }
                }
                "comment" => {}
                _ => match string_value(argument, self.file.text) {
                    Some(text) if prefix.is_none() => prefix = Some(text),
                    Some(_) => {}
                    None if child.is_none() => child = Some(argument),
                    None => {}
                },
            }
        }
        let (Some(prefix), Some(child)) = (prefix.filter(|prefix| !prefix.is_empty()), child)
        else {
            return;
        };
        let Some(parent) = function.field("object") else {
            return;
        };
        if let (Some(parent), Some(child)) = (self.server_object(parent), self.server_object(child))
        {
            self.outcome.mounts.push(Mount {
                parent,
                child,
                prefix,
            });
        }
    }

    fn call(&mut self, call: Node<'_>) {
        let Some(function) = call.field("function") else {
            return;
        };
        let Some(arguments) = call.field("arguments") else {
            return;
        };
        match function.kind() {
            "attribute" => {
                let method = function
                    .field("attribute")
                    .map(|name| syntax::text(name, self.file.text));
                match method {
                    Some("add_tool") => {
                        let before = self.outcome.tools.len();
                        self.add_tool(call, arguments);
                        self.record_owner(before, function.field("object"));
                    }
                    Some("mount" | "import_server") => self.mount(function, arguments),
                    // `Tool.from_function(fn, name=...)`, given to `add_tool` or to
                    // `FastMCP(tools=[...])`.
                    Some("from_function") if is_from_function(function, self.file.text) => {
                        let options = self.options(arguments, 1);
                        self.register_function_argument(call, arguments, 0, options);
                    }
                    Some("Tool") if self.module.lists_tools => self.tool_object(call, arguments),
                    _ => {}
                }
            }
            "identifier"
                if self.module.lists_tools && syntax::text(function, self.file.text) == "Tool" =>
            {
                self.tool_object(call, arguments);
            }
            // `mcp.tool(name="x")(handler)`: the decorator applied by hand.
            "call" => {
                let applies_tool = function
                    .field("function")
                    .filter(|inner| inner.kind() == "attribute")
                    .and_then(|inner| inner.field("attribute"))
                    .is_some_and(|name| syntax::text(name, self.file.text) == "tool");
                if !applies_tool {
                    return;
                }
                let options = function
                    .field("arguments")
                    .map(|inner| self.options(inner, 0))
                    .unwrap_or_default();
                let before = self.outcome.tools.len();
                self.register_function_argument(call, arguments, 0, options);
                let receiver = function
                    .field("function")
                    .and_then(|inner| inner.field("object"));
                self.record_owner(before, receiver);
            }
            _ => {}
        }
    }

    /// `server.add_tool(fn, name=..., description=...)` (SDK FastMCP) and
    /// `server.add_tool(Tool.from_function(fn, name=..., ...))` (standalone fastmcp).
    fn add_tool(&mut self, call: Node<'_>, arguments: Node<'_>) {
        let Some(first) = positional(arguments, 0) else {
            return;
        };
        if first.kind() == "call"
            && first
                .field("function")
                .is_some_and(|function| is_from_function(function, self.file.text))
        {
            return; // the `Tool.from_function(...)` call is read on its own
        }
        let options = self.options(arguments, 1);
        self.register_function_argument(call, arguments, 0, options);
    }

    /// Registers the function named by the `index`th positional argument of `arguments`,
    /// or reports the registration unresolved when it is not a function of this file.
    fn register_function_argument(
        &mut self,
        call: Node<'_>,
        arguments: Node<'_>,
        index: usize,
        options: Options,
    ) {
        let target = positional(arguments, index);
        let function = target.and_then(|node| self.local_function(node));
        match function {
            Some(function) => self.tool_from_function(function, options, call),
            None if target.is_some_and(|node| self.imported_tool(node, &options)) => {}
            None if target.is_some_and(|node| self.register_handlers(call, node, &options, 0)) => {}
            None if options.name.is_some() && target.is_some() => {
                // A handler built at run time (a lambda, a factory call) under a known name.
                let name = options.name.clone().unwrap_or_default();
                let mut tool = ToolDef::new(name, options.description.clone().unwrap_or_default());
                self.finish(&mut tool, options, call, 0.6);
                self.outcome.tools.push(tool);
            }
            None => self.unresolved(
                call,
                format!(
                    "the tool is `{}`, which is not a function defined in this file",
                    target.map_or("", |node| syntax::text(node, self.file.text))
                ),
            ),
        }
    }

    /// The function a handler expression names in this file: `search`, and a method
    /// `self.search` / `cls.search` of a class here.
    fn local_function(&self, target: Node<'_>) -> Option<Node<'t>> {
        let name = match target.kind() {
            "identifier" => syntax::text(target, self.file.text),
            "attribute" => {
                let object = target.field("object")?;
                if !matches!(syntax::text(object, self.file.text), "self" | "cls") {
                    return None;
                }
                syntax::text(target.field("attribute")?, self.file.text)
            }
            _ => return None,
        };
        self.module.functions.get(name).copied()
    }

    /// Registers every function a handler expression may name when it is not one
    /// function: a loop variable over a list of functions (`for tool in read_tools:`,
    /// the list here or imported from another module), or a parameter of a helper
    /// (`def add_read_only_tool(mcp, tool): mcp.add_tool(tool, ...)`) filled by the
    /// helper's callers in this file. False when nothing could be resolved. Bounded.
    fn register_handlers(
        &mut self,
        call: Node<'_>,
        target: Node<'_>,
        options: &Options,
        depth: usize,
    ) -> bool {
        if depth > 4 {
            return false;
        }
        if let Some(function) = self.local_function(target) {
            self.tool_from_function(function, options.clone(), call);
            return true;
        }
        if self.imported_tool(target, options) {
            return true;
        }
        if target.kind() != "identifier" {
            return false;
        }
        let name = syntax::text(target, self.file.text);
        if let Some(iterable) = loop_iterable(target, name, self.file.text) {
            return self.register_list(call, iterable, options, depth + 1);
        }
        let Some((helper, index)) = enclosing_parameter(target, name, self.file.text) else {
            return false;
        };
        let callers = self.module.calls.get(helper).cloned().unwrap_or_default();
        let mut any = false;
        for caller in callers {
            let argument = caller.field("arguments").and_then(|arguments| {
                keyword(arguments, name, self.file.text).or_else(|| positional(arguments, index))
            });
            if let Some(argument) = argument {
                any |= self.register_handlers(call, argument, options, depth + 1);
            }
        }
        any
    }

    /// Registers the functions a list names: a literal, a module constant holding one, a
    /// constant imported from another module of the package, or a sum of such lists.
    fn register_list(
        &mut self,
        call: Node<'_>,
        list: Node<'_>,
        options: &Options,
        depth: usize,
    ) -> bool {
        if depth > 6 {
            return false;
        }
        match list.kind() {
            "list" | "tuple" => {
                let mut cursor = list.walk();
                let elements: Vec<Node<'_>> = list
                    .named_children(&mut cursor)
                    .filter(|element| element.kind() != "comment")
                    .collect();
                let mut any = false;
                for element in elements {
                    any |= self.register_handlers(call, element, options, depth);
                }
                any
            }
            "binary_operator" => {
                let (Some(left), Some(right)) = (list.field("left"), list.field("right")) else {
                    return false;
                };
                let left = self.register_list(call, left, options, depth + 1);
                self.register_list(call, right, options, depth + 1) || left
            }
            "identifier" => {
                let name = syntax::text(list, self.file.text);
                if let Some(&value) = self.module.assigned.get(name) {
                    return self.register_list(call, value, options, depth + 1);
                }
                let Some((module, original)) = imports::handler_module(list, self.file.text) else {
                    return false;
                };
                self.register_imported_list(&module, &original, options, depth)
            }
            _ => false,
        }
    }

    /// [`Self::register_list`] for a list constant `name` of the module `module`; the
    /// tools are read in that module, located at its list.
    fn register_imported_list(
        &mut self,
        module: &str,
        name: &str,
        options: &Options,
        depth: usize,
    ) -> bool {
        self.in_module(module, |reader| {
            let Some(&list) = reader.module.assigned.get(name) else {
                return false;
            };
            reader.register_list(list, list, options, depth + 1)
        })
        .unwrap_or(false)
    }

    /// Registers a handler defined in another module of the package: `search` imported
    /// with `from .tools.docs import search`, or `docs.search` with `from .tools import
    /// docs` (absolute imports of the package's own modules too). The tool is read from
    /// that module's function, with this file's SDK rules. False when the handler is not
    /// such a function.
    fn imported_tool(&mut self, target: Node<'_>, options: &Options) -> bool {
        let Some((module, function)) = imports::handler_module(target, self.file.text) else {
            return false;
        };
        self.in_module(&module, |reader| {
            let Some(&definition) = reader.module.functions.get(&function) else {
                return false;
            };
            reader.tool_from_function(definition, options.clone(), definition);
            true
        })
        .unwrap_or(false)
    }

    /// Runs `read` with a reader of the package module `module` (as an import spells it,
    /// seen from this file), sharing this file's outcome and docstring rules. `None` when
    /// the module cannot be read or parsed.
    fn in_module<R>(
        &mut self,
        module: &str,
        read: impl FnOnce(&mut Reader<'_, '_>) -> R,
    ) -> Option<R> {
        let (path, text) = imports::read_module(self.file, module)?;
        let rel = imports::relative_to_root(self.file.root, &path);
        let other = SourceFile {
            root: self.file.root,
            path: &path,
            rel: &rel,
            text: &text,
            language: self.file.language,
        };
        let (tree, _) = syntax::parse_unchecked_depth(super::Language::Python, &text).ok()?;
        let (other_module, _) = Module::index(&other, &tree)?;
        let mut reader = Reader {
            file: &other,
            module: &other_module,
            outcome: &mut *self.outcome,
            doc_style: self.doc_style,
            this_file: None,
        };
        Some(read(&mut reader))
    }

    /// Reads `name=`, `description=`, `title=`, `annotations=` (and a positional name at
    /// `name_index`, as `@mcp.tool("name")` allows).
    fn options(&mut self, arguments: Node<'_>, name_index: usize) -> Options {
        let mut options = Options::default();
        if let Some(first) = positional(arguments, name_index)
            && let Some(name) = string_value(first, self.file.text)
        {
            options.name = Some(name);
        }
        let mut cursor = arguments.walk();
        for argument in arguments.named_children(&mut cursor) {
            if argument.kind() != "keyword_argument" {
                continue;
            }
            let (Some(key), Some(value)) = (argument.field("name"), argument.field("value")) else {
                continue;
            };
            match syntax::text(key, self.file.text) {
                "name" => match self.module.resolve_string(value, self.file.text) {
                    Some(name) => options.name = Some(name),
                    None => {
                        options.name_unresolved =
                            Some(syntax::text(value, self.file.text).to_owned())
                    }
                },
                "description" => {
                    options.description = self.module.resolve_string(value, self.file.text)
                }
                "title" => options.title = self.module.resolve_string(value, self.file.text),
                "annotations" => {
                    let value = match value.kind() {
                        "identifier" => self
                            .module
                            .assigned
                            .get(syntax::text(value, self.file.text))
                            .copied()
                            .unwrap_or(value),
                        _ => value,
                    };
                    options.annotations = annotations(value, self.file.text);
                }
                _ => {}
            }
        }
        options
    }

    fn tool_from_function(&mut self, function: Node<'_>, options: Options, at: Node<'_>) {
        if let Some(expression) = &options.name_unresolved {
            let expression = expression.clone();
            self.unresolved(
                at,
                format!("tool name is `{expression}`, known only at run time"),
            );
            return;
        }
        let source = self.file.text;
        let function_name = function
            .field("name")
            .map(|name| syntax::text(name, source).to_owned())
            .unwrap_or_default();
        let name = options.name.clone().unwrap_or(function_name);
        let description = options.description.clone().unwrap_or_else(|| {
            docstring(function, source)
                .map(|doc| docstring::description(&doc, self.doc_style))
                .unwrap_or_default()
        });
        let context = TypeContext {
            file: self.file,
            models: &self.module.models,
        };
        let (schema, complete) = function
            .field("parameters")
            .map(|parameters| types::parameters_schema(parameters, &context))
            .unwrap_or((json!({"type": "object", "properties": {}}), true));
        let mut tool = ToolDef::new(name, description);
        tool.input_schema = schema;
        self.finish(&mut tool, options, at, if complete { 0.95 } else { 0.8 });
        self.outcome.tools.push(tool);
    }

    /// `Tool(name=..., description=..., inputSchema={...}, annotations=...)`.
    fn tool_object(&mut self, call: Node<'_>, arguments: Node<'_>) {
        let options = self.options(arguments, usize::MAX);
        let Some(name) = options.name.clone() else {
            let expression = options.name_unresolved.clone().unwrap_or_default();
            self.unresolved(
                call,
                format!("tool name is `{expression}`, known only at run time"),
            );
            return;
        };
        let mut schema = None;
        let mut cursor = arguments.walk();
        for argument in arguments.named_children(&mut cursor) {
            if argument.kind() != "keyword_argument" {
                continue;
            }
            let (Some(key), Some(value)) = (argument.field("name"), argument.field("value")) else {
                continue;
            };
            if matches!(
                syntax::text(key, self.file.text),
                "inputSchema" | "input_schema"
            ) {
                schema = self.schema_value(value);
            }
        }
        let complete = schema.is_some();
        let mut tool = ToolDef::new(name, options.description.clone().unwrap_or_default());
        tool.input_schema = schema.unwrap_or_else(|| json!({"type": "object"}));
        self.finish(&mut tool, options, call, if complete { 0.9 } else { 0.7 });
        self.outcome.tools.push(tool);
    }

    /// A literal JSON Schema (`{...}`), `Model.model_json_schema()` or `Model.schema()`.
    fn schema_value(&self, value: Node<'_>) -> Option<Value> {
        if value.kind() == "call"
            && let Some(function) = value.field("function")
            && function.kind() == "attribute"
            && let (Some(object), Some(method)) =
                (function.field("object"), function.field("attribute"))
            && matches!(
                syntax::text(method, self.file.text),
                "model_json_schema" | "schema"
            )
        {
            let context = TypeContext {
                file: self.file,
                models: &self.module.models,
            };
            return types::model_schema(syntax::text(object, self.file.text), &context, 0);
        }
        literal(value, self.file.text, 0)
    }

    fn finish(&self, tool: &mut ToolDef, options: Options, at: Node<'_>, confidence: f64) {
        tool.title = options.title;
        if let Some(annotations) = options.annotations {
            tool.annotations = Some(annotations);
            tool.annotation_source = AnnotationSource::Declared;
        }
        tool.method = ExtractionMethod::StaticPy;
        tool.location = Some(self.file.location(at.start_position().row));
        tool.confidence = confidence;
    }

    fn unresolved(&mut self, at: Node<'_>, reason: String) {
        self.outcome.unresolved.push(Unresolved {
            location: self.file.location(at.start_position().row),
            method: ExtractionMethod::StaticPy,
            reason,
        });
    }
}

#[derive(Debug, Default, Clone)]
struct Options {
    name: Option<String>,
    /// The source of a `name=` that is not a literal or known constant.
    name_unresolved: Option<String>,
    description: Option<String>,
    title: Option<String>,
    annotations: Option<Value>,
}

/// The method a decorator calls: `tool` for `@mcp.tool`, `@self.mcp.tool(...)`.
fn decorator_method<'s>(decorator: Node<'_>, source: &'s str) -> Option<&'s str> {
    let mut expression = decorator.named_child(0)?;
    if expression.kind() == "call" {
        expression = expression.field("function")?;
    }
    if expression.kind() != "attribute" {
        return None;
    }
    Some(syntax::text(expression.field("attribute")?, source))
}

/// The most calls of one helper followed to fill its parameters.
const MAX_HELPER_CALLS: usize = 64;

/// The iterable of the `for NAME in ITERABLE:` loop around `at`, inside the same
/// function.
fn loop_iterable<'t>(at: Node<'t>, name: &str, source: &str) -> Option<Node<'t>> {
    let mut node = at.parent()?;
    loop {
        match node.kind() {
            "for_statement" => {
                if let (Some(left), Some(right)) = (node.field("left"), node.field("right"))
                    && left.kind() == "identifier"
                    && syntax::text(left, source) == name
                {
                    return Some(right);
                }
            }
            "function_definition" | "lambda" | "class_definition" => return None,
            _ => {}
        }
        node = node.parent()?;
    }
}

/// The name of the plain function (not a method) `at` is inside and the position of
/// its parameter `name`.
fn enclosing_parameter<'s>(at: Node<'_>, name: &str, source: &'s str) -> Option<(&'s str, usize)> {
    let mut node = at.parent()?;
    while node.kind() != "function_definition" {
        node = node.parent()?;
    }
    if enclosing_class(node).is_some() {
        return None;
    }
    let index = parameter_names(node, source)
        .iter()
        .position(|parameter| *parameter == name)?;
    Some((syntax::text(node.field("name")?, source), index))
}

/// The value of the keyword argument `name=` in `arguments`.
fn keyword<'t>(arguments: Node<'t>, name: &str, source: &str) -> Option<Node<'t>> {
    let mut cursor = arguments.walk();
    arguments
        .named_children(&mut cursor)
        .filter(|argument| argument.kind() == "keyword_argument")
        .find(|argument| {
            argument
                .field("name")
                .is_some_and(|key| syntax::text(key, source) == name)
        })
        .and_then(|argument| argument.field("value"))
}

/// The object a `@x.tool` / `@x.tool(...)` decorator is called on: `x`.
fn decorator_receiver(decorator: Node<'_>) -> Option<Node<'_>> {
    let mut expression = decorator.named_child(0)?;
    if expression.kind() == "call" {
        expression = expression.field("function")?;
    }
    expression.field("object")
}

/// `Tool.from_function`, `FunctionTool.from_function`, `tools.Tool.from_function`.
fn is_from_function(function: Node<'_>, source: &str) -> bool {
    function.kind() == "attribute"
        && function
            .field("object")
            .is_some_and(|object| syntax::text(object, source).ends_with("Tool"))
        && function
            .field("attribute")
            .is_some_and(|name| syntax::text(name, source) == "from_function")
}

fn positional(arguments: Node<'_>, index: usize) -> Option<Node<'_>> {
    let mut cursor = arguments.walk();
    arguments
        .named_children(&mut cursor)
        .filter(|node| !matches!(node.kind(), "keyword_argument" | "comment"))
        .nth(index)
}

/// `ToolAnnotations(readOnlyHint=True, ...)` or a dict literal, as a JSON object.
fn annotations(value: Node<'_>, source: &str) -> Option<Value> {
    if value.kind() == "call" {
        let arguments = value.field("arguments")?;
        let mut object = Map::new();
        let mut cursor = arguments.walk();
        for argument in arguments.named_children(&mut cursor) {
            if argument.kind() != "keyword_argument" {
                continue;
            }
            let key = syntax::text(argument.field("name")?, source);
            let value = literal(argument.field("value")?, source, 0)?;
            object.insert(snake_to_camel(key), value);
        }
        return Some(Value::Object(object));
    }
    match literal(value, source, 0)? {
        Value::Object(object) => Some(Value::Object(
            object
                .into_iter()
                .map(|(key, value)| (snake_to_camel(&key), value))
                .collect(),
        )),
        _ => None,
    }
}

/// SDK 2.x spells annotation fields in snake case (`read_only_hint`); MCP in camel case.
fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for character in key.chars() {
        if character == '_' {
            upper = true;
        } else if upper {
            out.extend(character.to_uppercase());
            upper = false;
        } else {
            out.push(character);
        }
    }
    out
}

/// A Python literal (dict, list, tuple, string, number, True/False/None) as JSON; `None`
/// for anything computed.
pub(crate) fn literal(node: Node<'_>, source: &str, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    match node.kind() {
        "string" | "concatenated_string" => string_value(node, source).map(Value::String),
        "integer" => {
            let text = syntax::text(node, source).replace('_', "");
            text.parse::<i64>().ok().map(Value::from)
        }
        "float" => {
            let text = syntax::text(node, source).replace('_', "");
            text.parse::<f64>().ok().map(Value::from)
        }
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "none" => Some(Value::Null),
        "unary_operator" => {
            let operand = literal(node.field("argument")?, source, depth + 1)?;
            let text = syntax::text(node, source);
            match (text.starts_with('-'), operand) {
                (true, Value::Number(number)) => {
                    if let Some(integer) = number.as_i64() {
                        Some(Value::from(-integer))
                    } else {
                        number.as_f64().map(|float| Value::from(-float))
                    }
                }
                (false, value) => Some(value),
                _ => None,
            }
        }
        "parenthesized_expression" => literal(node.named_child(0)?, source, depth + 1),
        "list" | "tuple" | "set" => {
            let mut cursor = node.walk();
            node.named_children(&mut cursor)
                .filter(|child| child.kind() != "comment")
                .map(|child| literal(child, source, depth + 1))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array)
        }
        "dictionary" => {
            let mut object = Map::new();
            let mut cursor = node.walk();
            for pair in node.named_children(&mut cursor) {
                if pair.kind() != "pair" {
                    continue;
                }
                let key = string_value(pair.field("key")?, source)?;
                let value = literal(pair.field("value")?, source, depth + 1)?;
                object.insert(key, value);
            }
            Some(Value::Object(object))
        }
        _ => None,
    }
}

/// The value of a string literal (implicit concatenation and parentheses included);
/// `None` for f-strings with expressions and byte strings.
pub(crate) fn string_value(node: Node<'_>, source: &str) -> Option<String> {
    match node.kind() {
        "string" => {
            let mut cursor = node.walk();
            if node
                .named_children(&mut cursor)
                .any(|child| child.kind() == "interpolation")
            {
                return None;
            }
            decode_string(syntax::text(node, source))
        }
        "concatenated_string" => {
            let mut cursor = node.walk();
            let parts = node
                .named_children(&mut cursor)
                .filter(|child| child.kind() != "comment")
                .map(|child| string_value(child, source))
                .collect::<Option<Vec<_>>>()?;
            Some(parts.concat())
        }
        "parenthesized_expression" => string_value(node.named_child(0)?, source),
        _ => None,
    }
}

/// Decodes a Python string literal's source (`r"..."`, `"""..."""`, escapes).
fn decode_string(text: &str) -> Option<String> {
    // Python reads source with universal newlines: a file saved with CRLF (or CR) line
    // ends has plain `\n` in its string values.
    let normalized;
    let text = if text.contains('\r') {
        normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        normalized.as_str()
    } else {
        text
    };
    let quote_at = text.find(['"', '\''])?;
    let prefix = text[..quote_at].to_ascii_lowercase();
    if prefix.contains('b') {
        return None;
    }
    let raw = prefix.contains('r');
    let body = &text[quote_at..];
    let delimiter = if body.starts_with("\"\"\"") || body.starts_with("'''") {
        &body[..3]
    } else {
        &body[..1]
    };
    let inner = body
        .strip_prefix(delimiter)?
        .strip_suffix(delimiter)
        .unwrap_or_else(|| &body[delimiter.len()..]);
    if raw {
        return Some(inner.to_owned());
    }
    Some(unescape(inner))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        if character != '\\' {
            out.push(character);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('0') => out.push('\0'),
            Some('\n') => {} // a line continuation inside the literal
            Some('x') => {
                let hex: String = (0..2).filter_map(|_| chars.next()).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => out.push(decoded),
                    None => {
                        out.push_str("\\x");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other @ ('u' | 'U')) => {
                let width = if other == 'u' { 4 } else { 8 };
                let hex: String = (0..width).filter_map(|_| chars.next()).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => out.push(decoded),
                    None => {
                        out.push('\\');
                        out.push(other);
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The docstring of a function: its body's first statement, when that is a string.
fn docstring(function: Node<'_>, source: &str) -> Option<String> {
    let body = function.field("body")?;
    let mut cursor = body.walk();
    let first = body
        .named_children(&mut cursor)
        .find(|child| child.kind() != "comment")?;
    if first.kind() != "expression_statement" {
        return None;
    }
    string_value(first.named_child(0)?, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_are_decoded() {
        assert_eq!(decode_string(r#""a\nb""#).as_deref(), Some("a\nb"));
        assert_eq!(decode_string(r#"r"a\nb""#).as_deref(), Some(r"a\nb"));
        assert_eq!(decode_string("'''x'y'''").as_deref(), Some("x'y"));
        assert_eq!(decode_string(r#"b"x""#), None);
        // Line ends as Python reads them; an escaped `\r` stays.
        assert_eq!(
            decode_string("\"\"\"\r\n    A.\r\n    \"\"\"").as_deref(),
            Some("\n    A.\n    ")
        );
        assert_eq!(decode_string(r#""a\r\nb""#).as_deref(), Some("a\r\nb"));
    }

    /// fastmcp lists a mounted server's tools as `<prefix>_<name>`, nested mounts
    /// innermost first, whichever module the server objects are defined in.
    #[test]
    fn mounted_servers_prefix_their_tool_names() {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("pkg");
        std::fs::create_dir_all(&package).unwrap();
        let write = |name: &str, text: &str| std::fs::write(package.join(name), text).unwrap();
        write("__init__.py", "");
        write(
            "jira.py",
            "from fastmcp import FastMCP\njira = FastMCP('jira')\n\n@jira.tool\ndef get_issue(key: str) -> str:\n    return key\n",
        );
        write(
            "issues.py",
            "from .jira import jira\n\n@jira.tool()\ndef add_comment(key: str) -> str:\n    return key\n",
        );
        write(
            "wiki.py",
            "from fastmcp import FastMCP\nwiki = FastMCP('wiki')\n\ndef search(q: str) -> str:\n    return q\n\nwiki.add_tool(search)\n",
        );
        write(
            "main.py",
            "from fastmcp import FastMCP\nfrom .jira import jira\nfrom . import wiki\n\nmain = FastMCP('all')\natlassian = FastMCP('atl')\n\n@main.tool\ndef health() -> str:\n    return 'ok'\n\natlassian.mount(jira, namespace='jira')\natlassian.mount('wiki', wiki.wiki)\nmain.mount(atlassian, prefix='atl')\n",
        );
        let extraction =
            crate::extract::extract_dir(dir.path(), &crate::extract::Options::default()).unwrap();
        let mut names: Vec<&str> = extraction.tools().map(|tool| tool.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "atl_jira_add_comment",
                "atl_jira_get_issue",
                "atl_wiki_search",
                "health"
            ]
        );
    }

    /// Tool classes: `Tool(name=self.name, ...)` in a method takes the class's value,
    /// from a class attribute or through `super().__init__(CONSTANT)` into a base class
    /// that stores its parameter; a class whose name is not knowable stays unresolved.
    #[test]
    fn self_name_in_a_tool_class_is_read_from_the_class() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tools.py"),
            r#"from mcp.types import Tool
LIST = "list_files"

class Handler:
    def __init__(self, tool_name: str, other: int = 0):
        self.name = tool_name

class ListFiles(Handler):
    def __init__(self):
        super().__init__(LIST)

    def describe(self):
        return Tool(name=self.name, description="Lists.", inputSchema={"type": "object"})

class Shell:
    name = "shell_execute"

    def describe(self):
        return Tool(name=self.name, description="Runs.", inputSchema={"type": "object"})

class Dynamic:
    def __init__(self, name):
        self.name = name

    def describe(self):
        return Tool(name=self.name, description="?", inputSchema={"type": "object"})
"#,
        )
        .unwrap();
        let extraction =
            crate::extract::extract_dir(dir.path(), &crate::extract::Options::default()).unwrap();
        let names: Vec<&str> = extraction.tools().map(|tool| tool.name.as_str()).collect();
        assert_eq!(names, ["list_files", "shell_execute"]);
        let unresolved: Vec<&str> = extraction.servers[0]
            .unresolved
            .iter()
            .map(|item| item.reason.as_str())
            .collect();
        assert_eq!(
            unresolved,
            ["tool name is `self.name`, known only at run time"]
        );
    }

    /// fastmcp's standalone `@tool` marks methods that a helper later adds to a server;
    /// a `@tool` of another library is not an MCP tool.
    #[test]
    fn the_bare_fastmcp_tool_decorator_marks_a_tool() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("areas.py"),
            r#"from fastmcp.tools import tool as mcp_tool
from langchain.tools import tool

class Areas:
    @mcp_tool(name="ha_list_areas")
    async def list_areas(self, floor: str | None = None) -> list:
        return []

    @mcp_tool
    async def rename_area(self, area: str, name: str) -> str:
        return name

@tool
def not_mcp(x: int) -> int:
    return x
"#,
        )
        .unwrap();
        let extraction =
            crate::extract::extract_dir(dir.path(), &crate::extract::Options::default()).unwrap();
        let tools: Vec<_> = extraction.tools().collect();
        let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_str()).collect();
        assert_eq!(names, ["ha_list_areas", "rename_area"]);
        assert_eq!(
            tools[1].input_schema["required"],
            serde_json::json!(["area", "name"])
        );
    }

    /// Tools added in a loop over a list of functions, through a helper whose parameter
    /// the loop fills; the list imported from the package's `tools` module, whose
    /// names are imported from submodules there.
    #[test]
    fn functions_registered_through_a_helper_in_a_loop_over_an_imported_list() {
        let dir = tempfile::tempdir().unwrap();
        let tools = dir.path().join("pkg/tools");
        std::fs::create_dir_all(&tools).unwrap();
        std::fs::write(dir.path().join("pkg/__init__.py"), "").unwrap();
        std::fs::write(
            tools.join("__init__.py"),
            "from .incidents import list_incidents, add_note\nread_tools = [list_incidents]\nwrite_tools = [add_note]\n",
        )
        .unwrap();
        std::fs::write(
            tools.join("incidents.py"),
            "def list_incidents(limit: int = 10) -> str:\n    \"\"\"Lists incidents.\"\"\"\n    return ''\n\ndef add_note(incident: str, note: str) -> str:\n    return ''\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("pkg/server.py"),
            "from mcp.server.fastmcp import FastMCP\nfrom pkg.tools import read_tools, write_tools\n\ndef add_read_only_tool(server, tool):\n    server.add_tool(tool, annotations={'readOnlyHint': True})\n\ndef run(write: bool = False):\n    mcp = FastMCP('x')\n    for tool in read_tools:\n        add_read_only_tool(mcp, tool)\n    if write:\n        for tool in write_tools + []:\n            mcp.add_tool(tool)\n    for handler in unknown_list():\n        mcp.add_tool(handler)\n",
        )
        .unwrap();
        let extraction =
            crate::extract::extract_dir(dir.path(), &crate::extract::Options::default()).unwrap();
        let tools: Vec<_> = extraction.tools().collect();
        let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_str()).collect();
        assert_eq!(names, ["list_incidents", "add_note"]);
        assert_eq!(tools[0].description, "Lists incidents.");
        assert_eq!(
            tools[0].annotations,
            Some(serde_json::json!({"readOnlyHint": true}))
        );
        // The loop over a run-time list stays unresolved.
        assert_eq!(extraction.servers[0].unresolved.len(), 1);
    }

    #[test]
    fn annotation_keys_become_camel_case() {
        assert_eq!(snake_to_camel("read_only_hint"), "readOnlyHint");
        assert_eq!(snake_to_camel("readOnlyHint"), "readOnlyHint");
    }
}
