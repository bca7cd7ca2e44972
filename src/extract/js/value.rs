//! Constant folding for JavaScript and TypeScript: what an expression is worth when it can
//! be known without running anything.
//!
//! Tool names, descriptions and schemas are usually literals, or constants one or two
//! hops away (`const name = "echo"`, `description: PREFIX + "..."`, `inputSchema:
//! EchoSchema.shape`, `import { FooSchema } from "./schemas.js"`). [`Evaluator::eval`]
//! folds those into a [`Val`]; anything that depends on run time (a parameter, a call
//! result, `process.env`) becomes [`Val::Unknown`] with the reason, never a guess.
//!
//! Identifiers are resolved lexically: from the use upwards through the enclosing blocks
//! to the module, so a handler's local `const { name } = args` never shadows the module's
//! `const name = "echo"` that the registration itself sees. Loop variables are bound by
//! the caller through [`Env`] when the loop runs over a literal array.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::{Map, Value};
use tree_sitter::{Node, Tree};

use super::zod::{self, Zod};
use crate::extract::SourceFile;
use crate::extract::syntax::{self, Field as _, MAX_DEPTH};
use crate::extract::walk::Language;

/// Nested evaluation deeper than this gives up with [`Val::Unknown`]. Half the syntax
/// depth limit: each evaluation level spans at least two tree levels, and identifier
/// hops (which jump across the tree) count too, so cycles (`const a = b, b = a`) end.
const MAX_EVAL_DEPTH: usize = MAX_DEPTH / 2;

/// Evaluation steps allowed per evaluator, so hostile fan-out (`const a = [b, b, b]`,
/// `const b = [c, c, c]`, ...) cannot grow exponentially.
const MAX_EVAL_STEPS: usize = 200_000;

/// A folded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Array(Vec<Val>),
    Object(Obj),
    Zod(Box<Zod>),
    /// A module namespace: `import * as s from "./schemas.js"`, `require("./schemas")`.
    Module(String),
    /// A function; its body is never evaluated.
    Function,
    /// Not knowable statically; the reason in words.
    Unknown(String),
}

/// An object literal, keys in source order, with where it was written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Obj {
    pub entries: Vec<(String, Val)>,
    /// `path:line` of the literal, relative to the extraction root.
    pub location: Option<String>,
}

impl Obj {
    pub fn get(&self, key: &str) -> Option<&Val> {
        self.entries
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    fn set(&mut self, key: String, value: Val) {
        match self.entries.iter_mut().find(|(name, _)| *name == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }
}

impl Val {
    pub fn unknown(reason: impl Into<String>) -> Val {
        Val::Unknown(reason.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(text) => Some(text),
            _ => None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Val::Unknown(_))
    }

    /// The JSON this value stands for, and whether every part of it was known. Unknown
    /// parts become `null`; functions and modules too.
    pub fn to_json(&self) -> (Value, bool) {
        let mut complete = true;
        let value = self.to_json_inner(&mut complete);
        (value, complete)
    }

    fn to_json_inner(&self, complete: &mut bool) -> Value {
        match self {
            Val::Str(text) => Value::String(text.clone()),
            Val::Num(number) => number_json(*number),
            Val::Bool(flag) => Value::Bool(*flag),
            Val::Null => Value::Null,
            Val::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.to_json_inner(complete))
                    .collect(),
            ),
            Val::Object(object) => {
                let mut map = Map::new();
                for (key, value) in &object.entries {
                    map.insert(key.clone(), value.to_json_inner(complete));
                }
                Value::Object(map)
            }
            Val::Zod(schema) => {
                if !schema.complete {
                    *complete = false;
                }
                Value::Object(schema.schema.clone())
            }
            Val::Module(_) | Val::Function | Val::Unknown(_) => {
                *complete = false;
                Value::Null
            }
        }
    }

    /// The value of a JSON document (a converted schema) as a folded value.
    pub fn from_json(value: &Value) -> Val {
        match value {
            Value::Null => Val::Null,
            Value::Bool(flag) => Val::Bool(*flag),
            Value::Number(number) => Val::Num(number.as_f64().unwrap_or(0.0)),
            Value::String(text) => Val::Str(text.clone()),
            Value::Array(items) => Val::Array(items.iter().map(Val::from_json).collect()),
            Value::Object(map) => Val::Object(Obj {
                entries: map
                    .iter()
                    .map(|(key, value)| (key.clone(), Val::from_json(value)))
                    .collect(),
                location: None,
            }),
        }
    }
}

/// A JSON number for a JavaScript number: integral values print without a fraction.
pub fn number_json(number: f64) -> Value {
    if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 {
        Value::from(number as i64)
    } else {
        serde_json::Number::from_f64(number)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// A number as JavaScript's `String(n)` writes it (for `"limit " + 10`).
fn number_text(number: f64) -> String {
    if number.fract() == 0.0 && number.abs() < 1e21 {
        format!("{}", number as i64)
    } else {
        format!("{number}")
    }
}

/// Loop variables bound by the caller: `for (const tool of TOOLS)` runs the registration
/// once per element with `tool` bound to it.
pub type Env = Vec<(String, Val)>;

/// What a name is bound to in a scope.
#[derive(Debug, Clone, Copy)]
enum Decl<'t> {
    /// `const name = value` (also `let`, `var`, `exports.name = value`).
    Value(Node<'t>),
    /// `const { key: name } = value`: the property `key` of `value`.
    Property(Node<'t>, Node<'t>),
    /// `import { imported as name } from "source"`; `imported` is `*` for a namespace
    /// import and `default` for a default import.
    Import {
        source: Node<'t>,
        imported: Node<'t>,
        namespace: bool,
    },
    /// A TypeScript `enum`.
    Enum(Node<'t>),
    /// A function declaration (its node, for handlers passed by name).
    Function(Node<'t>),
    /// Bound at run time: a parameter, a loop or catch variable, a class.
    RunTime(&'static str),
}

/// A parsed module read through a relative import.
struct Module {
    text: String,
    tree: Tree,
    rel: String,
    path: PathBuf,
}

/// Modules read through imports while extracting one file, shared by the evaluators of
/// that file so each is parsed once. `None` records a module that could not be read.
#[derive(Default)]
pub struct ImportCache {
    modules: RefCell<HashMap<PathBuf, Option<Rc<Module>>>>,
    values: RefCell<HashMap<(PathBuf, String), Val>>,
}

/// Folds expressions of one module.
pub struct Evaluator<'t, 'f> {
    pub text: &'t str,
    /// The file being extracted; its root bounds imports.
    file: &'f SourceFile<'f>,
    /// This module's path (the extracted file, or a module one import away).
    path: PathBuf,
    /// This module's path relative to the root, for locations.
    rel: String,
    /// Imports are followed one hop: an evaluator over an imported module has none.
    follow_imports: bool,
    imports: &'f ImportCache,
    scopes: RefCell<HashMap<usize, Rc<HashMap<String, Decl<'t>>>>>,
    constants: RefCell<HashMap<usize, Val>>,
    depth: Cell<usize>,
    steps: Cell<usize>,
    /// Names looked up and found in no enclosing scope of this module's tree. When the
    /// tree holds only windows of the file (`window`), these say which other statements
    /// may be needed.
    missing: RefCell<Vec<String>>,
    /// The root of this module's tree, found on the first climb and kept for
    /// [`Evaluator::ancestors`].
    root: Cell<Option<Node<'t>>>,
}

impl<'t, 'f> Evaluator<'t, 'f> {
    pub fn new(text: &'t str, file: &'f SourceFile<'f>, imports: &'f ImportCache) -> Self {
        Evaluator {
            text,
            file,
            path: file.path.to_path_buf(),
            rel: file.rel.to_owned(),
            follow_imports: true,
            imports,
            scopes: RefCell::default(),
            constants: RefCell::default(),
            depth: Cell::new(0),
            steps: Cell::new(0),
            missing: RefCell::default(),
            root: Cell::new(None),
        }
    }

    /// The root of the tree this evaluator's nodes come from (else found on the first
    /// climb).
    pub fn set_root(&self, root: Node<'t>) {
        self.root.set(Some(root));
    }

    /// `at` and its ancestors, innermost first: one descent from the root (see
    /// [`syntax::ancestors`]) instead of a descent per `parent()` call.
    pub fn ancestors(&self, at: Node<'t>) -> Vec<Node<'t>> {
        let root = match self.root.get() {
            Some(root) => root,
            None => {
                let mut root = at;
                while let Some(parent) = root.parent() {
                    root = parent;
                }
                self.root.set(Some(root));
                root
            }
        };
        syntax::ancestors(root, at).unwrap_or_else(|| {
            // A node of another tree: climb it the slow way.
            let mut chain = vec![at];
            let mut node = at;
            while let Some(parent) = node.parent() {
                chain.push(parent);
                node = parent;
            }
            chain
        })
    }

    /// `path:line` in this module for a node.
    pub fn location(&self, node: Node<'_>) -> String {
        format!("{}:{}", self.rel, node.start_position().row + 1)
    }

    pub fn node_text(&self, node: Node<'_>) -> &'t str {
        syntax::text(node, self.text)
    }

    /// Folds an expression. `env` binds loop variables (checked before scopes).
    pub fn eval(&self, node: Node<'t>, env: &Env) -> Val {
        let depth = self.depth.get();
        if depth >= MAX_EVAL_DEPTH {
            return Val::unknown("expression nested too deeply to follow");
        }
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        if steps > MAX_EVAL_STEPS {
            return Val::unknown("expression too large to fold");
        }
        self.depth.set(depth + 1);
        let value = self.eval_inner(node, env);
        self.depth.set(depth);
        value
    }

    fn eval_inner(&self, node: Node<'t>, env: &Env) -> Val {
        match node.kind() {
            "string" => Val::Str(string_value(node, self.text)),
            "template_string" => self.template(node, env),
            "number" => parse_number(self.node_text(node))
                .map(Val::Num)
                .unwrap_or_else(|| Val::unknown("number literal out of range")),
            "true" => Val::Bool(true),
            "false" => Val::Bool(false),
            "null" => Val::Null,
            "undefined" => Val::unknown("undefined"),
            "identifier" | "shorthand_property_identifier" => {
                self.identifier(self.node_text(node), node, env)
            }
            "parenthesized_expression" => match node.named_child(0) {
                Some(inner) => self.eval(inner, env),
                None => Val::unknown("empty parentheses"),
            },
            "sequence_expression" => match last_named_child(node) {
                Some(last) => self.eval(last, env),
                None => Val::unknown("empty sequence"),
            },
            "as_expression" | "satisfies_expression" | "non_null_expression" | "type_assertion" => {
                let inner = if node.kind() == "type_assertion" {
                    last_named_child(node)
                } else {
                    node.named_child(0)
                };
                match inner {
                    Some(inner) => self.eval(inner, env),
                    None => Val::unknown("empty type assertion"),
                }
            }
            "object" => self.object(node, env),
            "array" => self.array(node, env),
            "binary_expression" => self.binary(node, env),
            "unary_expression" => self.unary(node, env),
            "member_expression" => self.member(node, env),
            "subscript_expression" => self.subscript(node, env),
            "call_expression" => self.call(node, env),
            "arrow_function" | "function_expression" | "function" | "generator_function" => {
                Val::Function
            }
            kind => Val::unknown(format!("a run-time {kind}")),
        }
    }

    fn template(&self, node: Node<'t>, env: &Env) -> Val {
        let mut out = String::new();
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            match child.kind() {
                "string_fragment" => out.push_str(self.node_text(child)),
                "escape_sequence" => decode_escape(self.node_text(child), &mut out),
                "template_substitution" => {
                    let value = match child.named_child(0) {
                        Some(inner) => self.eval(inner, env),
                        None => Val::unknown("empty template substitution"),
                    };
                    match value {
                        Val::Str(text) => out.push_str(&text),
                        Val::Num(number) => out.push_str(&number_text(number)),
                        Val::Bool(flag) => out.push_str(if flag { "true" } else { "false" }),
                        _ => {
                            return Val::unknown(format!(
                                "template literal with the run-time expression `{}`",
                                self.node_text(child)
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        Val::Str(out)
    }

    fn object(&self, node: Node<'t>, env: &Env) -> Val {
        let mut object = Obj {
            entries: Vec::new(),
            location: Some(self.location(node)),
        };
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            match child.kind() {
                "pair" => {
                    let (Some(key), Some(value)) = (child.field("key"), child.field("value"))
                    else {
                        continue;
                    };
                    let Some(key) = self.property_key(key, env) else {
                        continue;
                    };
                    let value = self.eval(value, env);
                    object.set(key, value);
                }
                "shorthand_property_identifier" => {
                    let name = self.node_text(child);
                    let value = self.identifier(name, child, env);
                    object.set(name.to_owned(), value);
                }
                "method_definition" => {
                    if let Some(key) = child
                        .field("name")
                        .and_then(|key| self.property_key(key, env))
                    {
                        object.set(key, Val::Function);
                    }
                }
                "spread_element" => {
                    let spread = child
                        .named_child(0)
                        .map(|inner| self.eval(inner, env))
                        .unwrap_or_else(|| Val::unknown("empty spread"));
                    if let Val::Object(spread) = spread {
                        for (key, value) in spread.entries {
                            object.set(key, value);
                        }
                    }
                }
                _ => {}
            }
        }
        Val::Object(object)
    }

    fn property_key(&self, key: Node<'t>, env: &Env) -> Option<String> {
        match key.kind() {
            "property_identifier" | "identifier" | "private_property_identifier" => {
                Some(self.node_text(key).to_owned())
            }
            "string" => Some(string_value(key, self.text)),
            "number" => parse_number(self.node_text(key)).map(number_text),
            "computed_property_name" => match self.eval(key.named_child(0)?, env) {
                Val::Str(text) => Some(text),
                Val::Num(number) => Some(number_text(number)),
                _ => None,
            },
            _ => None,
        }
    }

    fn array(&self, node: Node<'t>, env: &Env) -> Val {
        let mut items = Vec::new();
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            if child.kind() == "comment" {
                continue;
            }
            if child.kind() == "spread_element" {
                match child.named_child(0).map(|inner| self.eval(inner, env)) {
                    Some(Val::Array(spread)) => items.extend(spread),
                    Some(other) => items.push(other),
                    None => {}
                }
                continue;
            }
            items.push(self.eval(child, env));
        }
        Val::Array(items)
    }

    fn binary(&self, node: Node<'t>, env: &Env) -> Val {
        let (Some(left), Some(right), Some(operator)) = (
            node.field("left"),
            node.field("right"),
            node.field("operator"),
        ) else {
            return Val::unknown("incomplete binary expression");
        };
        let operator = self.node_text(operator);
        let left_value = self.eval(left, env);
        match operator {
            "+" => {
                let right_value = self.eval(right, env);
                match (left_value, right_value) {
                    (Val::Num(a), Val::Num(b)) => Val::Num(a + b),
                    (Val::Str(a), Val::Str(b)) => Val::Str(a + &b),
                    (Val::Str(a), Val::Num(b)) => Val::Str(a + &number_text(b)),
                    (Val::Num(a), Val::Str(b)) => Val::Str(number_text(a) + &b),
                    (Val::Unknown(reason), _) | (_, Val::Unknown(reason)) => Val::Unknown(reason),
                    _ => Val::unknown("`+` of values that are not strings or numbers"),
                }
            }
            "-" | "*" | "/" => match (left_value, self.eval(right, env)) {
                (Val::Num(a), Val::Num(b)) => Val::Num(match operator {
                    "-" => a - b,
                    "*" => a * b,
                    _ => a / b,
                }),
                _ => Val::unknown(format!("arithmetic `{operator}` on run-time values")),
            },
            // `process.env.X ?? "default"`: the left side decides at run time.
            _ => Val::unknown(format!("the run-time operator `{operator}`")),
        }
    }

    fn unary(&self, node: Node<'t>, env: &Env) -> Val {
        let operator = node
            .field("operator")
            .map(|operator| self.node_text(operator))
            .unwrap_or_default();
        let argument = node
            .field("argument")
            .map(|argument| self.eval(argument, env))
            .unwrap_or_else(|| Val::unknown("missing operand"));
        match (operator, argument) {
            ("-", Val::Num(number)) => Val::Num(-number),
            ("+", Val::Num(number)) => Val::Num(number),
            ("!", Val::Bool(flag)) => Val::Bool(!flag),
            // Minifiers write `!0` for true and `!1` for false.
            ("!", Val::Num(number)) => Val::Bool(number == 0.0),
            ("void", _) => Val::unknown("undefined"),
            _ => Val::unknown(format!("the run-time operator `{operator}`")),
        }
    }

    /// The property name of a member expression (`a.b` gives `b`).
    pub fn member_name(&self, node: Node<'t>) -> Option<&'t str> {
        let property = node.field("property")?;
        Some(self.node_text(property))
    }

    fn member(&self, node: Node<'t>, env: &Env) -> Val {
        let (Some(object), Some(property)) = (node.field("object"), self.member_name(node)) else {
            return Val::unknown("incomplete member expression");
        };
        let base = self.eval(object, env);
        self.property_of(base, property)
    }

    fn subscript(&self, node: Node<'t>, env: &Env) -> Val {
        let (Some(object), Some(index)) = (node.field("object"), node.field("index")) else {
            return Val::unknown("incomplete subscript");
        };
        let base = self.eval(object, env);
        match self.eval(index, env) {
            Val::Str(key) => self.property_of(base, &key),
            Val::Num(index) => match base {
                Val::Array(items) if index >= 0.0 && index.fract() == 0.0 => items
                    .into_iter()
                    .nth(index as usize)
                    .unwrap_or_else(|| Val::unknown("index past the end of the array")),
                Val::Object(object) => object
                    .get(&number_text(index))
                    .cloned()
                    .unwrap_or_else(|| Val::unknown("no such key")),
                _ => Val::unknown("subscript of a run-time value"),
            },
            _ => Val::unknown("subscript with a run-time key"),
        }
    }

    fn property_of(&self, base: Val, property: &str) -> Val {
        match base {
            Val::Object(object) => object.get(property).cloned().unwrap_or_else(|| {
                Val::unknown(format!("the object has no property `{property}`"))
            }),
            Val::Zod(schema) => zod::property(&schema, property),
            Val::Module(source) => self.import_value(&source, property),
            Val::Array(items) if property == "length" => Val::Num(items.len() as f64),
            Val::Str(text) if property == "length" => Val::Num(text.chars().count() as f64),
            Val::Unknown(reason) => Val::Unknown(reason),
            _ => Val::unknown(format!("the property `{property}` of a run-time value")),
        }
    }

    fn call(&self, node: Node<'t>, env: &Env) -> Val {
        let Some(callee) = node.field("function") else {
            return Val::unknown("call without a callee");
        };
        let arguments = arguments_of(node);
        let callee = unwrap_callee(callee);
        // A tagged template: dedent`...` and String.raw`...` keep their text.
        if let Some(template) = node.field("arguments")
            && template.kind() == "template_string"
        {
            let tag = self.node_text(callee);
            return match (tag, self.template(template, env)) {
                ("dedent" | "outdent" | "stripIndent", Val::Str(text)) => Val::Str(dedent(&text)),
                ("String.raw", Val::Str(_)) => {
                    let raw = self.node_text(template);
                    Val::Str(raw.trim_start_matches('`').trim_end_matches('`').to_owned())
                }
                (_, Val::Str(_)) => Val::unknown(format!("the template tag `{tag}`")),
                (_, other) => other,
            };
        }
        match callee.kind() {
            "member_expression" => {
                let (Some(object), Some(method)) =
                    (callee.field("object"), self.member_name(callee))
                else {
                    return Val::unknown("incomplete call");
                };
                if self.node_text(object) == "Object" {
                    return self.object_static(method, &arguments, env);
                }
                if looks_like_json_schema_converter(method) {
                    return self.convert_to_json_schema(&arguments, env);
                }
                let base = self.eval(object, env);
                match base {
                    Val::Zod(schema) => zod::modifier(self, *schema, method, &arguments, env),
                    Val::Str(text) => string_method(text, method, &arguments, self, env),
                    Val::Array(items) if method == "map" => {
                        self.map_array(items, arguments.first(), env)
                    }
                    Val::Array(items) if method == "join" => {
                        let separator = match arguments.first().map(|a| self.eval(*a, env)) {
                            Some(Val::Str(separator)) => separator,
                            None => ",".to_owned(),
                            Some(_) => return Val::unknown("join with a run-time separator"),
                        };
                        let mut parts = Vec::with_capacity(items.len());
                        for item in items {
                            match item {
                                Val::Str(text) => parts.push(text),
                                Val::Num(number) => parts.push(number_text(number)),
                                _ => return Val::unknown("join over run-time values"),
                            }
                        }
                        Val::Str(parts.join(&separator))
                    }
                    // The receiver of a Zod constructor is `z`, `zod_1.z`, `(0, zod_1.z)`
                    // or whatever a bundler renamed it to: never matched by name.
                    Val::Module(_) | Val::Unknown(_) | Val::Object(_)
                        if zod::is_constructor(method) =>
                    {
                        zod::construct(self, method, &arguments, env)
                    }
                    _ => Val::unknown(format!(
                        "the result of calling `{}` at run time",
                        self.node_text(callee)
                    )),
                }
            }
            "identifier" => {
                let name = self.node_text(callee);
                if looks_like_json_schema_converter(name) {
                    return self.convert_to_json_schema(&arguments, env);
                }
                match name {
                    "require" => match arguments.first().map(|a| self.eval(*a, env)) {
                        Some(Val::Str(source)) => Val::Module(source),
                        _ => Val::unknown("require of a run-time path"),
                    },
                    // tsc and esbuild interop wrappers around `require`.
                    "__importStar" | "__importDefault" | "__toESM" | "__toCommonJS" => {
                        match arguments.first() {
                            Some(argument) => self.eval(*argument, env),
                            None => Val::unknown("empty interop call"),
                        }
                    }
                    "String" => match arguments.first().map(|a| self.eval(*a, env)) {
                        Some(Val::Str(text)) => Val::Str(text),
                        Some(Val::Num(number)) => Val::Str(number_text(number)),
                        _ => Val::unknown("String() of a run-time value"),
                    },
                    _ => Val::unknown(format!("the result of calling `{name}` at run time")),
                }
            }
            _ => Val::unknown("the result of a run-time call"),
        }
    }

    /// `Object.values(X)`, `Object.entries(X)`, `Object.keys(X)`, `Object.assign({}, ...)`.
    fn object_static(&self, method: &str, arguments: &[Node<'t>], env: &Env) -> Val {
        let first = arguments
            .first()
            .map(|argument| self.eval(*argument, env))
            .unwrap_or_else(|| Val::unknown("missing argument"));
        match (method, first) {
            ("values", Val::Object(object)) => {
                Val::Array(object.entries.into_iter().map(|(_, value)| value).collect())
            }
            ("keys", Val::Object(object)) => Val::Array(
                object
                    .entries
                    .into_iter()
                    .map(|(key, _)| Val::Str(key))
                    .collect(),
            ),
            ("entries", Val::Object(object)) => Val::Array(
                object
                    .entries
                    .into_iter()
                    .map(|(key, value)| Val::Array(vec![Val::Str(key), value]))
                    .collect(),
            ),
            ("freeze", value) => value,
            ("assign", Val::Object(mut target)) => {
                for argument in &arguments[1..] {
                    if let Val::Object(source) = self.eval(*argument, env) {
                        for (key, value) in source.entries {
                            target.set(key, value);
                        }
                    }
                }
                Val::Object(target)
            }
            (method, _) => Val::unknown(format!("Object.{method} of a run-time value")),
        }
    }

    /// `zodToJsonSchema(FooSchema)`, `z.toJSONSchema(FooSchema)`, `toJsonSchema(...)`:
    /// the JSON Schema of the Zod schema, as an object literal would give it.
    fn convert_to_json_schema(&self, arguments: &[Node<'t>], env: &Env) -> Val {
        match arguments.first().map(|argument| self.eval(*argument, env)) {
            Some(Val::Zod(schema)) => {
                let mut object = Val::from_json(&Value::Object(schema.schema.clone()));
                if !schema.complete {
                    // Keep the partial schema but let the caller see it is partial.
                    if let Val::Object(object) = &mut object {
                        object
                            .entries
                            .push(("$incomplete".to_owned(), Val::unknown("partial schema")));
                    }
                }
                object
            }
            Some(Val::Object(shape)) => Val::Zod(Box::new(zod::object_from_shape(&shape))),
            _ => Val::unknown("a JSON Schema converted from a run-time value"),
        }
    }

    /// The function a name refers to at `at` (`function listTools() {...}`, `const
    /// listTools = async () => ...`), for handlers passed by name.
    pub fn function_node(&self, name: &str, at: Node<'t>) -> Option<Node<'t>> {
        match self.lookup(name, at)? {
            Decl::Function(node) => Some(node),
            Decl::Value(value)
                if matches!(
                    value.kind(),
                    "arrow_function" | "function_expression" | "function"
                ) =>
            {
                Some(value)
            }
            _ => None,
        }
    }

    /// `items.map((item) => ({...}))` over a folded array: the callback's returned
    /// expression folded once per element with the parameter bound.
    fn map_array(&self, items: Vec<Val>, callback: Option<&Node<'t>>, env: &Env) -> Val {
        let Some(callback) = callback else {
            return Val::unknown("map without a callback");
        };
        let (Some(pattern), Some(result)) =
            (first_parameter(*callback), returned_expression(*callback))
        else {
            return Val::unknown("map with a callback that is not a simple function");
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let mut bound = env.clone();
            bind_pattern(self, pattern, item, &mut bound);
            out.push(self.eval(result, &bound));
        }
        Val::Array(out)
    }

    /// Resolves a name at `at`: loop bindings first, then enclosing scopes outwards.
    pub fn identifier(&self, name: &str, at: Node<'t>, env: &Env) -> Val {
        if let Some((_, value)) = env.iter().rev().find(|(bound, _)| bound == name) {
            return value.clone();
        }
        match name {
            "undefined" => return Val::unknown("undefined"),
            "NaN" => return Val::Num(f64::NAN),
            "Infinity" => return Val::Num(f64::INFINITY),
            _ => {}
        }
        match self.lookup(name, at) {
            Some(decl) => self.decl_value(decl, name),
            None => Val::unknown(format!("`{name}` is not defined in this file")),
        }
    }

    fn decl_value(&self, decl: Decl<'t>, name: &str) -> Val {
        match decl {
            Decl::Value(value) => {
                if let Some(cached) = self.constants.borrow().get(&value.id()) {
                    return cached.clone();
                }
                let folded = self.eval(value, &Env::new());
                self.constants
                    .borrow_mut()
                    .insert(value.id(), folded.clone());
                folded
            }
            Decl::Property(value, key) => {
                let base = self.eval(value, &Env::new());
                let key = self.node_text(key);
                self.property_of(base, key)
            }
            Decl::Import {
                source,
                imported,
                namespace,
            } => {
                let source = string_value(source, self.text);
                if namespace {
                    Val::Module(source)
                } else {
                    let imported = self.node_text(imported).to_owned();
                    self.import_value(&source, &imported)
                }
            }
            Decl::Enum(body) => self.enum_value(body),
            Decl::Function(_) => Val::Function,
            Decl::RunTime(what) => Val::unknown(format!("`{name}` is {what}, set at run time")),
        }
    }

    fn enum_value(&self, body: Node<'t>) -> Val {
        let mut object = Obj {
            entries: Vec::new(),
            location: Some(self.location(body)),
        };
        let mut next = 0.0;
        let mut cursor = body.walk();
        for member in body.named_children(&mut cursor) {
            let (name, value) = match member.kind() {
                "enum_assignment" => {
                    let Some(name) = member.field("name") else {
                        continue;
                    };
                    let value = member
                        .field("value")
                        .map(|value| self.eval(value, &Env::new()))
                        .unwrap_or(Val::Num(next));
                    (name, value)
                }
                "property_identifier" | "string" => (member, Val::Num(next)),
                _ => continue,
            };
            if let Val::Num(number) = value {
                next = number + 1.0;
            }
            let key = if name.kind() == "string" {
                string_value(name, self.text)
            } else {
                self.node_text(name).to_owned()
            };
            object.entries.push((key, value));
        }
        Val::Object(object)
    }

    /// The export `name` of the module `source`, one relative import away.
    fn import_value(&self, source: &str, name: &str) -> Val {
        if !source.starts_with('.') {
            return Val::unknown(format!("`{name}` comes from the package `{source}`"));
        }
        if !self.follow_imports {
            return Val::unknown(format!(
                "`{name}` is imported from `{source}`, more than one import away"
            ));
        }
        let Some(module) = self.load_module(source) else {
            return Val::unknown(format!("`{source}` could not be read"));
        };
        let key = (module.path.clone(), name.to_owned());
        if let Some(cached) = self.imports.values.borrow().get(&key) {
            return cached.clone();
        }
        let value = {
            let inner = Evaluator {
                text: &module.text,
                file: self.file,
                path: module.path.clone(),
                rel: module.rel.clone(),
                follow_imports: false,
                imports: self.imports,
                scopes: RefCell::default(),
                constants: RefCell::default(),
                depth: Cell::new(self.depth.get()),
                steps: Cell::new(self.steps.get()),
                missing: RefCell::default(),
                root: Cell::new(Some(module.tree.root_node())),
            };
            let program = module.tree.root_node();
            let value = match inner.export_decl(program, name) {
                Some(decl) => inner.decl_value(decl, name),
                None => Val::unknown(format!("`{source}` has no constant `{name}`")),
            };
            self.steps.set(inner.steps.get());
            value
        };
        self.imports.values.borrow_mut().insert(key, value.clone());
        value
    }

    fn export_decl(&self, program: Node<'t>, name: &str) -> Option<Decl<'t>> {
        let scope = self.scope(program);
        if let Some(decl) = scope.get(&format!("exports.{name}")) {
            return Some(*decl);
        }
        scope.get(name).copied()
    }

    fn load_module(&self, source: &str) -> Option<Rc<Module>> {
        let folder = self.path.parent()?;
        for candidate in module_candidates(source) {
            let joined = folder.join(&candidate);
            if let Some(cached) = self.imports.modules.borrow().get(&joined) {
                match cached {
                    Some(module) => return Some(module.clone()),
                    None => continue,
                }
            }
            let loaded = self.read_module(&candidate);
            let found = loaded.clone();
            self.imports.modules.borrow_mut().insert(joined, loaded);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    fn read_module(&self, candidate: &Path) -> Option<Rc<Module>> {
        // `read_relative` resolves against the extracted file's folder; an imported
        // module's own imports are never followed, so this is always that folder.
        let (path, text) = self.file.read_relative(candidate)?;
        let language = Language::of(&path)?;
        if !matches!(
            language,
            Language::TypeScript | Language::Tsx | Language::JavaScript
        ) {
            return None;
        }
        let tree = syntax::parse(language, &text)?;
        if syntax::deeper_than(&tree, MAX_DEPTH) {
            return None;
        }
        let root = self.file.root.canonicalize().ok()?;
        let rel = path
            .strip_prefix(&root)
            .ok()?
            .components()
            .map(|part| part.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        Some(Rc::new(Module {
            text,
            tree,
            rel,
            path,
        }))
    }

    /// The declaration `name` binds as seen from `at`, searching enclosing scopes.
    fn lookup(&self, name: &str, at: Node<'t>) -> Option<Decl<'t>> {
        let mut child = at;
        for node in self.ancestors(at) {
            match node.kind() {
                "program" | "statement_block" | "class_body" | "switch_body" => {
                    if let Some(decl) = self.scope(node).get(name) {
                        return Some(*decl);
                    }
                }
                "arrow_function"
                | "function_expression"
                | "function_declaration"
                | "function"
                | "method_definition"
                | "generator_function"
                | "generator_function_declaration"
                    if binds_parameter(node, name, self.text) =>
                {
                    return Some(Decl::RunTime("a function parameter"));
                }
                "for_in_statement" | "for_statement" => {
                    // Only the loop's own binding, and only from inside the loop.
                    let left = node.field("left").or_else(|| node.field("initializer"));
                    if let Some(left) = left
                        && left.id() != child.id()
                        && pattern_binds(left, name, self.text)
                    {
                        return Some(Decl::RunTime("a loop variable"));
                    }
                }
                "catch_clause" => {
                    if let Some(parameter) = node.field("parameter")
                        && pattern_binds(parameter, name, self.text)
                    {
                        return Some(Decl::RunTime("a caught error"));
                    }
                }
                _ => {}
            }
            child = node;
        }
        let mut missing = self.missing.borrow_mut();
        if !missing.iter().any(|known| known == name) {
            missing.push(name.to_owned());
        }
        None
    }

    /// The names looked up so far that no scope of this module's tree declares.
    pub fn missing_names(&self) -> Vec<String> {
        self.missing.borrow().clone()
    }

    /// The names a scope node declares directly, built once per scope.
    fn scope(&self, node: Node<'t>) -> Rc<HashMap<String, Decl<'t>>> {
        if let Some(scope) = self.scopes.borrow().get(&node.id()) {
            return scope.clone();
        }
        let mut names = HashMap::new();
        let mut cursor = node.walk();
        for statement in node.named_children(&mut cursor) {
            declare(statement, self.text, &mut names);
        }
        let scope = Rc::new(names);
        self.scopes.borrow_mut().insert(node.id(), scope.clone());
        scope
    }
}

fn declare<'t>(statement: Node<'t>, text: &'t str, names: &mut HashMap<String, Decl<'t>>) {
    match statement.kind() {
        "lexical_declaration" | "variable_declaration" => {
            let mut cursor = statement.walk();
            for declarator in statement.named_children(&mut cursor) {
                if declarator.kind() != "variable_declarator" {
                    continue;
                }
                let Some(name) = declarator.field("name") else {
                    continue;
                };
                let value = declarator.field("value");
                match (name.kind(), value) {
                    ("identifier", Some(value)) => {
                        names.insert(syntax::text(name, text).to_owned(), Decl::Value(value));
                    }
                    ("identifier", None) => {
                        names.insert(
                            syntax::text(name, text).to_owned(),
                            Decl::RunTime("declared without a value"),
                        );
                    }
                    ("object_pattern", Some(value)) => {
                        declare_object_pattern(name, value, text, names)
                    }
                    _ => {}
                }
            }
        }
        "export_statement" => {
            if let Some(declaration) = statement.field("declaration") {
                declare(declaration, text, names);
            }
        }
        "function_declaration"
        | "generator_function_declaration"
        | "class_declaration"
        | "abstract_class_declaration" => {
            if let Some(name) = statement.field("name") {
                let decl = if statement.kind().contains("class") {
                    Decl::RunTime("a class")
                } else {
                    Decl::Function(statement)
                };
                names.insert(syntax::text(name, text).to_owned(), decl);
            }
        }
        "enum_declaration" => {
            if let (Some(name), Some(body)) = (statement.field("name"), statement.field("body")) {
                names.insert(syntax::text(name, text).to_owned(), Decl::Enum(body));
            }
        }
        "import_statement" => declare_import(statement, text, names),
        "expression_statement" => {
            // CommonJS exports: `exports.Foo = ...`, `module.exports.Foo = ...`.
            let Some(expression) = statement.named_child(0) else {
                return;
            };
            if expression.kind() != "assignment_expression" {
                return;
            }
            let (Some(left), Some(right)) = (expression.field("left"), expression.field("right"))
            else {
                return;
            };
            if left.kind() != "member_expression" {
                return;
            }
            let object = left
                .field("object")
                .map(|object| syntax::text(object, text));
            if matches!(object, Some("exports" | "module.exports"))
                && let Some(property) = left.field("property")
            {
                names.insert(
                    format!("exports.{}", syntax::text(property, text)),
                    Decl::Value(right),
                );
            }
        }
        _ => {}
    }
}

fn declare_object_pattern<'t>(
    pattern: Node<'t>,
    value: Node<'t>,
    text: &'t str,
    names: &mut HashMap<String, Decl<'t>>,
) {
    let mut cursor = pattern.walk();
    for part in pattern.named_children(&mut cursor) {
        match part.kind() {
            "shorthand_property_identifier_pattern" => {
                names.insert(
                    syntax::text(part, text).to_owned(),
                    Decl::Property(value, part),
                );
            }
            "pair_pattern" => {
                if let (Some(key), Some(alias)) = (part.field("key"), part.field("value"))
                    && alias.kind() == "identifier"
                {
                    names.insert(
                        syntax::text(alias, text).to_owned(),
                        Decl::Property(value, key),
                    );
                }
            }
            _ => {}
        }
    }
}

fn declare_import<'t>(statement: Node<'t>, text: &'t str, names: &mut HashMap<String, Decl<'t>>) {
    let Some(source) = statement.field("source") else {
        return;
    };
    let mut cursor = statement.walk();
    for clause in statement.named_children(&mut cursor) {
        if clause.kind() != "import_clause" {
            continue;
        }
        let mut inner = clause.walk();
        for part in clause.named_children(&mut inner) {
            match part.kind() {
                "identifier" => {
                    names.insert(
                        syntax::text(part, text).to_owned(),
                        Decl::Import {
                            source,
                            imported: part,
                            namespace: true,
                        },
                    );
                }
                "namespace_import" => {
                    if let Some(name) = part.named_child(0) {
                        names.insert(
                            syntax::text(name, text).to_owned(),
                            Decl::Import {
                                source,
                                imported: name,
                                namespace: true,
                            },
                        );
                    }
                }
                "named_imports" => {
                    let mut specifiers = part.walk();
                    for specifier in part.named_children(&mut specifiers) {
                        let Some(imported) = specifier.field("name") else {
                            continue;
                        };
                        let local = specifier.field("alias").unwrap_or(imported);
                        names.insert(
                            syntax::text(local, text).to_owned(),
                            Decl::Import {
                                source,
                                imported,
                                namespace: false,
                            },
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

/// Whether a function node declares `name` as a parameter.
fn binds_parameter(function: Node<'_>, name: &str, text: &str) -> bool {
    if let Some(parameter) = function.field("parameter") {
        return pattern_binds(parameter, name, text);
    }
    function
        .field("parameters")
        .is_some_and(|parameters| pattern_binds(parameters, name, text))
}

/// Whether a binding pattern (identifier, destructuring, parameter list) binds `name`.
/// Bounded by the syntax tree's depth, which the caller checked.
pub fn pattern_binds(pattern: Node<'_>, name: &str, text: &str) -> bool {
    match pattern.kind() {
        "identifier" | "shorthand_property_identifier_pattern" => {
            syntax::text(pattern, text) == name
        }
        // Type annotations and default values bind nothing.
        "type_annotation" | "number" | "string" | "property_identifier" => false,
        "pair_pattern" => pattern
            .field("value")
            .is_some_and(|value| pattern_binds(value, name, text)),
        "assignment_pattern" | "object_assignment_pattern" => pattern
            .field("left")
            .is_some_and(|left| pattern_binds(left, name, text)),
        "required_parameter" | "optional_parameter" => pattern
            .field("pattern")
            .is_some_and(|inner| pattern_binds(inner, name, text)),
        _ => {
            let mut cursor = pattern.walk();
            pattern
                .named_children(&mut cursor)
                .any(|child| pattern_binds(child, name, text))
        }
    }
}

/// Files an import specifier may name: TypeScript sources import `./x.js` and mean
/// `./x.ts`; extensionless specifiers mean a file or a folder's index.
fn module_candidates(source: &str) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    let (stem, extension) = match source.rsplit_once('.') {
        Some((stem, extension))
            if matches!(
                extension,
                "js" | "mjs" | "cjs" | "ts" | "mts" | "cts" | "jsx" | "tsx"
            ) && !stem.is_empty()
                && !stem.ends_with('.') =>
        {
            (stem, Some(extension))
        }
        _ => (source, None),
    };
    match extension {
        Some("js" | "jsx") => {
            for extension in ["ts", "tsx", "js", "jsx"] {
                candidates.push(PathBuf::from(format!("{stem}.{extension}")));
            }
        }
        Some("mjs") => {
            candidates.push(PathBuf::from(format!("{stem}.mts")));
            candidates.push(PathBuf::from(source));
        }
        Some("cjs") => {
            candidates.push(PathBuf::from(format!("{stem}.cts")));
            candidates.push(PathBuf::from(source));
        }
        Some(_) => candidates.push(PathBuf::from(source)),
        None => {
            for extension in ["ts", "tsx", "js", "mjs", "cjs"] {
                candidates.push(PathBuf::from(format!("{source}.{extension}")));
            }
            for index in ["index.ts", "index.tsx", "index.js"] {
                candidates.push(Path::new(source).join(index));
            }
        }
    }
    candidates
}

/// `(0, zod_1.z)` and `(x)` as callees: the last expression of the parentheses.
pub fn unwrap_callee(mut node: Node<'_>) -> Node<'_> {
    for _ in 0..8 {
        match node.kind() {
            "parenthesized_expression" => match node.named_child(0) {
                Some(inner) => node = inner,
                None => return node,
            },
            "sequence_expression" => match last_named_child(node) {
                Some(last) => node = last,
                None => return node,
            },
            "non_null_expression" => match node.named_child(0) {
                Some(inner) => node = inner,
                None => return node,
            },
            _ => return node,
        }
    }
    node
}

/// The argument expressions of a call, comments left out.
pub fn arguments_of(call: Node<'_>) -> Vec<Node<'_>> {
    let Some(arguments) = call.field("arguments") else {
        return Vec::new();
    };
    let mut cursor = arguments.walk();
    arguments
        .named_children(&mut cursor)
        .filter(|argument| argument.kind() != "comment")
        .collect()
}

fn looks_like_json_schema_converter(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("tojsonschema") || lower == "zodtojsonschema" || lower == "jsonschema"
}

fn string_method<'t>(
    text: String,
    method: &str,
    arguments: &[Node<'t>],
    evaluator: &Evaluator<'t, '_>,
    env: &Env,
) -> Val {
    match method {
        "trim" => Val::Str(text.trim().to_owned()),
        "trimStart" => Val::Str(text.trim_start().to_owned()),
        "trimEnd" => Val::Str(text.trim_end().to_owned()),
        "toString" | "valueOf" => Val::Str(text),
        "concat" => {
            let mut out = text;
            for argument in arguments {
                match evaluator.eval(*argument, env) {
                    Val::Str(part) => out.push_str(&part),
                    Val::Num(number) => out.push_str(&number_text(number)),
                    _ => return Val::unknown("concat of a run-time value"),
                }
            }
            Val::Str(out)
        }
        _ => Val::unknown(format!("the string method `{method}`")),
    }
}

/// The value of a string literal node, escapes decoded.
pub fn string_value(node: Node<'_>, text: &str) -> String {
    let mut out = String::new();
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        match child.kind() {
            "string_fragment" => out.push_str(syntax::text(child, text)),
            "escape_sequence" => decode_escape(syntax::text(child, text), &mut out),
            "html_character_reference" => out.push_str(syntax::text(child, text)),
            _ => {}
        }
    }
    out
}

/// Decodes one escape sequence (`\n`, `\x41`, `\u{1F600}`, a line continuation).
fn decode_escape(escape: &str, out: &mut String) {
    let body = escape.strip_prefix('\\').unwrap_or(escape);
    let mut chars = body.chars();
    let Some(first) = chars.next() else {
        return;
    };
    match first {
        'n' => out.push('\n'),
        't' => out.push('\t'),
        'r' => out.push('\r'),
        'b' => out.push('\u{8}'),
        'f' => out.push('\u{c}'),
        'v' => out.push('\u{b}'),
        '0' if body.len() == 1 => out.push('\0'),
        '\n' | '\r' | '\u{2028}' | '\u{2029}' => {}
        'x' => {
            if let Some(c) = u32::from_str_radix(&body[1..], 16)
                .ok()
                .and_then(char::from_u32)
            {
                out.push(c);
            }
        }
        'u' => {
            let digits = body[1..].trim_start_matches('{').trim_end_matches('}');
            if let Some(c) = u32::from_str_radix(digits, 16)
                .ok()
                .and_then(char::from_u32)
            {
                out.push(c);
            }
        }
        other => {
            out.push(other);
            out.push_str(chars.as_str());
        }
    }
}

/// A JavaScript number literal (`10`, `1_000`, `0x1f`, `1e3`, `.5`).
pub fn parse_number(literal: &str) -> Option<f64> {
    let cleaned: String = literal.chars().filter(|c| *c != '_').collect();
    let cleaned = cleaned.trim_end_matches('n');
    let lower = cleaned.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok().map(|n| n as f64);
    }
    if let Some(octal) = lower.strip_prefix("0o") {
        return u64::from_str_radix(octal, 8).ok().map(|n| n as f64);
    }
    if let Some(binary) = lower.strip_prefix("0b") {
        return u64::from_str_radix(binary, 2).ok().map(|n| n as f64);
    }
    cleaned.parse::<f64>().ok()
}

/// The last named child of a node (the value of `(0, x.y)`, a type assertion's operand).
fn last_named_child(node: Node<'_>) -> Option<Node<'_>> {
    let count = node.named_child_count();
    let index = u32::try_from(count.checked_sub(1)?).ok()?;
    node.named_child(index)
}

/// What the `dedent` package does: drop the first and last line when blank and the
/// indentation common to the other lines.
fn dedent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let text = text
        .trim_end_matches([' ', '\t'])
        .strip_suffix('\n')
        .unwrap_or(text.trim_end_matches([' ', '\t']));
    let indent = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|line| line.get(indent..).unwrap_or(line.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first parameter's binding pattern of a function node.
pub fn first_parameter(function: Node<'_>) -> Option<Node<'_>> {
    if let Some(parameter) = function.field("parameter") {
        return Some(parameter);
    }
    let parameters = function.field("parameters")?;
    let mut cursor = parameters.walk();
    let first = parameters
        .named_children(&mut cursor)
        .find(|child| child.kind() != "comment");
    first.map(|parameter| parameter.field("pattern").unwrap_or(parameter))
}

/// The expression a simple function returns: an arrow's expression body, or the
/// `return` that a block body ends with.
fn returned_expression(function: Node<'_>) -> Option<Node<'_>> {
    let body = function.field("body")?;
    if body.kind() != "statement_block" {
        return Some(body);
    }
    let mut cursor = body.walk();
    let statement = body
        .named_children(&mut cursor)
        .filter(|statement| statement.kind() == "return_statement")
        .last()?;
    statement.named_child(0)
}

/// Binds a pattern (`tool`, `{name, description}`, `[name, def]`) to a value.
pub fn bind_pattern<'t>(
    evaluator: &Evaluator<'t, '_>,
    pattern: Node<'t>,
    value: Val,
    env: &mut Env,
) {
    match pattern.kind() {
        "identifier" => env.push((evaluator.node_text(pattern).to_owned(), value)),
        "object_pattern" => {
            let Val::Object(object) = value else {
                return;
            };
            let mut cursor = pattern.walk();
            for part in pattern.named_children(&mut cursor) {
                match part.kind() {
                    "shorthand_property_identifier_pattern" => {
                        let key = evaluator.node_text(part);
                        let value = object
                            .get(key)
                            .cloned()
                            .unwrap_or_else(|| Val::unknown("missing property"));
                        env.push((key.to_owned(), value));
                    }
                    "pair_pattern" => {
                        if let (Some(key), Some(alias)) = (part.field("key"), part.field("value"))
                            && alias.kind() == "identifier"
                        {
                            let value = object
                                .get(evaluator.node_text(key))
                                .cloned()
                                .unwrap_or_else(|| Val::unknown("missing property"));
                            env.push((evaluator.node_text(alias).to_owned(), value));
                        }
                    }
                    _ => {}
                }
            }
        }
        "array_pattern" => {
            let Val::Array(items) = value else {
                return;
            };
            let mut cursor = pattern.walk();
            let parts: Vec<Node<'t>> = pattern.named_children(&mut cursor).collect();
            for (part, item) in parts.into_iter().zip(items) {
                if part.kind() == "identifier" {
                    env.push((evaluator.node_text(part).to_owned(), item));
                }
            }
        }
        _ => {}
    }
}
