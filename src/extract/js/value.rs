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
use std::sync::{Arc, Mutex};

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

/// Relative imports are followed this many hops from the extracted file (an entry point,
/// a barrel, the tool's own file, the file its schema comes from, ...).
pub const MAX_IMPORT_HOPS: usize = 6;

/// `export *` re-exports are searched this many levels deep for one name.
const MAX_STAR_DEPTH: usize = 4;

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
    /// A function declared at the top level of a module (`module` is its path), passed
    /// around as a value: `{ creator: createCampaignTools }`. Calling it calls that
    /// function.
    FunctionRef {
        module: String,
        name: String,
    },
    /// A function written in place at a module's top level (`defineTool((args) => ({
    /// ... }))`), by where it starts in that module: calling it through a bound name
    /// reads its result with the arguments given.
    Lambda {
        module: String,
        start: usize,
        /// The bindings around it where it was made (a factory's parameters).
        captured: Vec<(String, Val)>,
    },
    /// A function of no parameters that a factory call returned, with the value it
    /// returns: `const make = (name) => () => ({ name })` makes `make("a")` a thunk of
    /// `{ name: "a" }`, and calling the thunk gives that object.
    Thunk(Box<Val>),
    /// Not knowable statically; the reason in words.
    Unknown(String),
}

/// An object literal, keys in source order, with where it was written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Obj {
    pub entries: Vec<(String, Val)>,
    /// `path:line` of the literal, relative to the extraction root.
    pub location: Option<String>,
    /// A `Map` (`new Map()` and its `set` calls): its keys are the entries' keys.
    pub is_map: bool,
    /// For an instance (`new C()`), the names of its class and the classes it extends.
    pub classes: Vec<String>,
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
            Val::Module(_)
            | Val::Function
            | Val::FunctionRef { .. }
            | Val::Lambda { .. }
            | Val::Thunk(_)
            | Val::Unknown(_) => {
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
                is_map: false,
                classes: Vec::new(),
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
    /// `import { imported as name } from "source"`, `import * as name`, `import name`.
    Import {
        source: Node<'t>,
        imported: Node<'t>,
        kind: ImportKind,
    },
    /// A TypeScript `enum`.
    Enum(Node<'t>),
    /// A function declaration (its node, for handlers passed by name).
    Function(Node<'t>),
    /// A parameter of this function: known from the calls of the function in this file.
    Parameter(Node<'t>),
    /// `let name;`: known from the assignments to it.
    Declared(Node<'t>),
    /// A class declaration.
    Class(Node<'t>),
    /// Bound at run time: a loop or catch variable.
    RunTime(&'static str),
}

impl Decl<'_> {
    /// The node that identifies the declaration, to tell whether two lookups found the
    /// same one.
    fn id(&self) -> Option<usize> {
        match self {
            Decl::Value(node)
            | Decl::Declared(node)
            | Decl::Class(node)
            | Decl::Function(node)
            | Decl::Parameter(node)
            | Decl::Enum(node) => Some(node.id()),
            Decl::Property(value, key) => Some(value.id() ^ key.id().rotate_left(17)),
            _ => None,
        }
    }
}

/// Loop environments read per `push` call.
const MAX_LOOP_ENVS: usize = 1_000;

/// Elements a union of arrays keeps.
const MAX_UNION_ITEMS: usize = 5_000;

/// Call sites read to know a parameter, per function.
const MAX_CALL_SITES: usize = 256;

/// The argument lists of the calls of one function, each folded.
type ArgumentLists = Rc<Vec<Vec<Val>>>;

/// A package's script files and their text.
type Sources = Arc<Vec<(PathBuf, String)>>;

/// Other modules of the package searched for the calls of one exported function.
const MAX_FOREIGN_FILES: usize = 32;

/// Package files listed for those searches: how many, how big each, how much in all.
const MAX_SOURCE_FILES: usize = 5_000;
const MAX_SOURCE_BYTES: u64 = 1024 * 1024;
const MAX_SOURCES_TOTAL: usize = 64 * 1024 * 1024;

/// Where names are called, constructed, assigned and pushed to, in one module: found by
/// one walk of the tree, keyed by the text of the callee or target (`f`, `this.f`).
#[derive(Default)]
struct Sites<'t> {
    calls: HashMap<String, Vec<Node<'t>>>,
    news: HashMap<String, Vec<Node<'t>>>,
    assigns: HashMap<String, Vec<Node<'t>>>,
    pushes: HashMap<String, Vec<Node<'t>>>,
    /// `m.set(key, value)` calls, by the receiver.
    sets: HashMap<String, Vec<Node<'t>>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ImportKind {
    Named,
    Namespace,
    Default,
}

/// A module namespace enumerated by `Object.values(ns)` gives at most this many exports.
const MAX_NAMESPACE_EXPORTS: usize = 2_000;

/// How a module exports one name besides its declarations and `exports.name`.
#[derive(Debug, Clone)]
enum Export<'t> {
    /// `export { local as name }`: a name declared in (or imported into) this module.
    Local(Node<'t>),
    /// `export { imported as name } from "source"`.
    From { source: String, imported: String },
    /// `export * as name from "source"`.
    Namespace(String),
    /// `export default expression`, or what a tsc re-export getter returns.
    Value(Node<'t>),
}

/// A module's export statements.
#[derive(Debug, Default)]
struct ExportTable<'t> {
    named: Vec<(String, Export<'t>)>,
    /// `export * from "source"`, `__exportStar(require("source"), exports)`.
    stars: Vec<String>,
    /// Names declared by `export const`, `export function`, ...
    declared: Vec<String>,
    /// Names assigned as `exports.name = ...`, in order.
    commonjs: Vec<String>,
    /// `module.exports = value`.
    module_exports: Option<Node<'t>>,
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
    /// The argument lists other modules give an exported function, by (module, export).
    foreign: RefCell<HashMap<(PathBuf, String), ArgumentLists>>,
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
    /// Relative imports this evaluator may still follow ([`MAX_IMPORT_HOPS`] for the
    /// extracted file, one less per import).
    hops_left: usize,
    imports: &'f ImportCache,
    scopes: RefCell<HashMap<usize, Rc<HashMap<String, Decl<'t>>>>>,
    /// This module's export statements, read on first use.
    exports: RefCell<Option<Rc<ExportTable<'t>>>>,
    /// Call, `new`, assignment and `push` sites, found on first use.
    sites: RefCell<Option<Rc<Sites<'t>>>>,
    /// Functions, parameters and fields being folded now: a recursion ends at them.
    active: RefCell<Vec<(usize, String)>>,
    /// Names whose call, assignment or `push` sites a value needed: windows of a file
    /// (`window`) may not hold them all.
    site_names: RefCell<Vec<String>>,
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
            hops_left: MAX_IMPORT_HOPS,
            imports,
            scopes: RefCell::default(),
            exports: RefCell::default(),
            sites: RefCell::default(),
            active: RefCell::default(),
            site_names: RefCell::default(),
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
            "await_expression" => match node.named_child(0) {
                Some(inner) => self.eval(inner, env),
                None => Val::unknown("empty await"),
            },
            "ternary_expression" => self.ternary(node, env),
            "new_expression" => self.new_instance(node, env),
            "this" => env
                .iter()
                .rev()
                .find(|(bound, _)| bound == "this")
                .map_or_else(
                    || Val::unknown("a run-time this"),
                    |(_, value)| value.clone(),
                ),
            // Inside a call whose parameters are bound, a returned `() => value` is
            // read with them (a factory's product); other functions stay opaque.
            "arrow_function" | "function_expression"
                if !env.is_empty() && parameter_patterns(node).is_empty() =>
            {
                match node.field("body") {
                    Some(body) if body.kind() != "statement_block" => {
                        Val::Thunk(Box::new(self.eval(body, env)))
                    }
                    _ => Val::Function,
                }
            }
            "arrow_function" | "function_expression" if env.len() <= MAX_CAPTURED => Val::Lambda {
                module: self.path.to_string_lossy().into_owned(),
                start: node.start_byte(),
                captured: env.clone(),
            },
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
            is_map: false,
            classes: Vec::new(),
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
                    let spread = match spread {
                        Val::Module(source) => self.namespace_object(&source),
                        other => other,
                    };
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
            // `list || []`, `TOOLS ?? fallback`, `flag && extra`: decided by the left
            // side when it folds; `process.env.X ?? "default"` stays unknown.
            "||" => match truthiness(&left_value) {
                Some(true) => left_value,
                Some(false) => self.eval(right, env),
                None => left_value,
            },
            "&&" => match truthiness(&left_value) {
                Some(true) => self.eval(right, env),
                Some(false) => left_value,
                None => left_value,
            },
            "??" => match left_value {
                Val::Null => self.eval(right, env),
                Val::Unknown(reason) if reason == "undefined" => self.eval(right, env),
                Val::Unknown(reason) => Val::Unknown(reason),
                known => known,
            },
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
        if object.kind() == "this" {
            // `this` bound to the instance a method is called on ([`Self::call_envs`]).
            if let Some((_, instance)) = env.iter().rev().find(|(bound, _)| bound == "this") {
                return self.property_of(instance.clone(), property);
            }
            return self.this_property(node, property);
        }
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
            Val::Object(map) if map.is_map && property == "size" => {
                Val::Num(map.entries.len() as f64)
            }
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
        // Calling a thunk a factory made gives what it returns: a bound name (a loop or
        // callback variable) or a constant set by a call (`const t = make("a")`).
        // A function held in a bound name (`({ creator }) => creator(client)`) is called.
        if callee.kind() == "identifier" {
            let name = self.node_text(callee);
            let bound = env.iter().any(|(bound, _)| bound == name);
            let made = bound
                || matches!(self.lookup(name, callee),
                    Some(Decl::Value(value)) if value.kind() == "call_expression");
            if made {
                match self.identifier(name, callee, env) {
                    Val::Thunk(value) if arguments.is_empty() => return *value,
                    Val::FunctionRef { module, name } if bound => {
                        let values = arguments
                            .iter()
                            .map(|argument| self.eval(*argument, env))
                            .collect();
                        if let Some(value) = self.call_ref(&module, &name, values) {
                            return value;
                        }
                    }
                    Val::Lambda {
                        module,
                        start,
                        captured,
                    } if bound => {
                        let values = arguments
                            .iter()
                            .map(|argument| self.eval(*argument, env))
                            .collect();
                        if let Some(value) = self.call_lambda(&module, start, values, captured) {
                            return value;
                        }
                    }
                    _ => {}
                }
            }
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
                if object.kind() == "this"
                    && let Some(class_body) = self.class_body_of(callee)
                    && let Some(function) = class_method(class_body, method, self.text)
                {
                    return self.call_function(function, &arguments, env);
                }
                if looks_like_json_schema_converter(method) {
                    return self.convert_to_json_schema(&arguments, env);
                }
                if self.node_text(object) == "Array" && method == "from" && arguments.len() == 1 {
                    return match self.eval(arguments[0], env) {
                        Val::Object(map) if map.is_map => map_entries(map),
                        Val::Array(items) => Val::Array(items),
                        Val::Unknown(reason) => Val::Unknown(reason),
                        _ => Val::unknown("Array.from of a value that is not a list"),
                    };
                }
                let base = self.eval(object, env);
                match base {
                    Val::Object(map) if map.is_map => match method {
                        "entries" => map_entries(map),
                        "values" => {
                            Val::Array(map.entries.into_iter().map(|(_, value)| value).collect())
                        }
                        "keys" => Val::Array(
                            map.entries
                                .into_iter()
                                .map(|(key, _)| Val::Str(key))
                                .collect(),
                        ),
                        "get" => match arguments.first().map(|key| self.eval(*key, env)) {
                            Some(Val::Str(key)) => map
                                .get(&key)
                                .cloned()
                                .unwrap_or_else(|| Val::unknown("undefined")),
                            _ => Val::unknown("a `Map` read with a run-time key"),
                        },
                        _ => Val::unknown(format!("the `Map` method `{method}`")),
                    },
                    Val::Zod(schema) => zod::modifier(self, *schema, method, &arguments, env),
                    Val::Module(source)
                        if !zod::is_constructor(method) && Path::new(&source).is_absolute() =>
                    {
                        let values = self.argument_values(&arguments, env);
                        self.imported_call(&source, method, values)
                            .unwrap_or_else(|| {
                                Val::unknown(format!(
                                    "the result of calling `{}` at run time",
                                    self.node_text(callee)
                                ))
                            })
                    }
                    Val::Str(text) => string_method(text, method, &arguments, self, env),
                    Val::Array(items) if method == "map" => {
                        self.map_array(items, arguments.first(), env)
                    }
                    Val::Array(items) if method == "flatMap" => {
                        match self.map_array(items, arguments.first(), env) {
                            Val::Array(mapped) => flatten_once(mapped),
                            other => other,
                        }
                    }
                    // What a filter keeps is decided at run time: every candidate is
                    // kept (a superset). Sorting and copying keep the elements.
                    Val::Array(items)
                        if matches!(
                            method,
                            "filter" | "slice" | "sort" | "toSorted" | "reverse" | "toReversed"
                        ) =>
                    {
                        Val::Array(items)
                    }
                    Val::Array(items) if method == "flat" => flatten_once(items),
                    Val::Array(mut items) if method == "concat" => {
                        for argument in &arguments {
                            match self.eval(*argument, env) {
                                Val::Array(more) => items.extend(more),
                                Val::Unknown(reason) => return Val::Unknown(reason),
                                other => items.push(other),
                            }
                        }
                        Val::Array(items)
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
                    // `list.map(callback)` of a run-time list is not `z.map(key, value)`.
                    Val::Unknown(reason) if method == "map" && arguments.len() < 2 => {
                        Val::Unknown(reason)
                    }
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
                        Some(Val::Str(source)) => self.module_ref(&source),
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
                    _ => match self.function_node(name, callee) {
                        Some(function) => self.call_function(function, &arguments, env),
                        None => {
                            let values = self.argument_values(&arguments, env);
                            self.call_values(callee, values, env).unwrap_or_else(|| {
                                Val::unknown(format!("the result of calling `{name}` at run time"))
                            })
                        }
                    },
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
        let first = match first {
            Val::Module(source) => self.namespace_object(&source),
            other => other,
        };
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
        if matches!(callback.kind(), "identifier" | "member_expression") {
            // `list.map(convert)`: the named function called once per element.
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                let arguments = vec![item, Val::Num(index as f64)];
                match self.call_values(*callback, arguments, env) {
                    Some(value) => out.push(value),
                    None => {
                        return Val::unknown(format!(
                            "map with the run-time function `{}`",
                            self.node_text(*callback)
                        ));
                    }
                }
            }
            return Val::Array(out);
        }
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

    /// The names whose sites (calls, assignments, `push`es) values needed.
    pub fn site_names(&self) -> Vec<String> {
        self.site_names.borrow().clone()
    }

    fn note_site_name(&self, name: &str) {
        let mut names = self.site_names.borrow_mut();
        if !names.iter().any(|known| known == name) {
            names.push(name.to_owned());
        }
    }

    /// The call, `new`, assignment and `push` sites of this module, found by one walk.
    fn sites(&self) -> Rc<Sites<'t>> {
        if let Some(sites) = self.sites.borrow().as_ref() {
            return sites.clone();
        }
        let mut sites = Sites::default();
        if let Some(root) = self.root.get() {
            let mut cursor = root.walk();
            'walk: loop {
                let node = cursor.node();
                match node.kind() {
                    "call_expression" => {
                        if let Some(callee) = node.field("function").map(unwrap_callee) {
                            if let Some(key) = self.site_key(callee) {
                                push_site(&mut sites.calls, key, node);
                            }
                            if callee.kind() == "member_expression"
                                && matches!(self.member_name(callee), Some("push" | "unshift"))
                                && let Some(receiver) = callee.field("object")
                                && let Some(key) = self.site_key(receiver)
                            {
                                push_site(&mut sites.pushes, key, node);
                            }
                            if callee.kind() == "member_expression"
                                && self.member_name(callee) == Some("set")
                                && let Some(receiver) = callee.field("object")
                                && let Some(key) = self.site_key(receiver)
                            {
                                push_site(&mut sites.sets, key, node);
                            }
                        }
                    }
                    "new_expression" => {
                        if let Some(constructor) = node.field("constructor")
                            && let Some(key) = self.site_key(constructor)
                        {
                            push_site(&mut sites.news, key, node);
                        }
                    }
                    "assignment_expression" => {
                        if let Some(left) = node.field("left")
                            && let Some(key) = self.site_key(left)
                        {
                            push_site(&mut sites.assigns, key, node);
                        }
                    }
                    _ => {}
                }
                if cursor.goto_first_child() {
                    continue;
                }
                loop {
                    if cursor.goto_next_sibling() {
                        break;
                    }
                    if !cursor.goto_parent() {
                        break 'walk;
                    }
                }
            }
        }
        let sites = Rc::new(sites);
        *self.sites.borrow_mut() = Some(sites.clone());
        sites
    }

    /// `f` for an identifier, `this.f` for a member of `this`, `.f` for a member of
    /// anything else (`(0, tools_1.f)(...)`, `mod.f(...)`: calls of an imported function).
    fn site_key(&self, node: Node<'t>) -> Option<String> {
        match node.kind() {
            "identifier" => Some(self.node_text(node).to_owned()),
            "member_expression" => {
                let object = node.field("object")?;
                if object.kind() != "this" {
                    return Some(format!(".{}", self.member_name(node)?));
                }
                Some(format!("this.{}", self.member_name(node)?))
            }
            _ => None,
        }
    }

    /// Runs `fold` unless `(id, name)` is being folded already (a recursion).
    fn guarded(&self, id: usize, name: &str, fold: impl FnOnce() -> Val) -> Val {
        let key = (id, name.to_owned());
        if self.active.borrow().contains(&key) {
            return Val::unknown(format!("`{name}` depends on itself"));
        }
        self.active.borrow_mut().push(key);
        let value = fold();
        self.active.borrow_mut().pop();
        value
    }

    /// A variable's value with what the module later assigns and pushes to it: `let
    /// tools = []; tools.push(a)` is `[a]`, `let list; list = [...]` is that array.
    /// Several values make a union ([`union`]).
    fn with_mutations(&self, decl: Decl<'t>, name: &str, initial: Val) -> Val {
        if let Val::Object(object) = &initial
            && !object.is_map
            && object.entries.is_empty()
            && let Some(id) = decl.id()
            && let Some(namespace) = self.bundled_namespace(name, id)
        {
            return namespace;
        }
        if let Val::Object(map) = &initial
            && map.is_map
            && let Some(id) = decl.id()
        {
            self.note_site_name(name);
            let sites = self.sites();
            let sets: Vec<Node<'t>> = sites
                .sets
                .get(name)
                .map(|nodes| {
                    nodes
                        .iter()
                        .copied()
                        .filter(|node| {
                            self.lookup(name, *node).and_then(|found| found.id()) == Some(id)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let map = map.clone();
            return self.guarded(id, name, || self.map_with_sets(map, &sets));
        }
        if !matches!(initial, Val::Array(_) | Val::Null)
            && !matches!(&initial, Val::Unknown(reason) if reason == "undefined")
        {
            return initial;
        }
        let Some(id) = decl.id() else {
            return initial;
        };
        self.note_site_name(name);
        let sites = self.sites();
        let same = |at: Node<'t>| self.lookup(name, at).and_then(|found| found.id()) == Some(id);
        let assigned: Vec<Node<'t>> = sites
            .assigns
            .get(name)
            .map(|nodes| nodes.iter().copied().filter(|node| same(*node)).collect())
            .unwrap_or_default();
        let pushed: Vec<Node<'t>> = sites
            .pushes
            .get(name)
            .map(|nodes| nodes.iter().copied().filter(|node| same(*node)).collect())
            .unwrap_or_default();
        if assigned.is_empty() && pushed.is_empty() {
            return initial;
        }
        self.guarded(id, name, || {
            let mut values = vec![initial];
            for assignment in assigned {
                if let Some(right) = assignment.field("right")
                    && !self.narrows(right, name)
                {
                    values.push(self.eval(right, &Env::new()));
                }
            }
            if !pushed.is_empty() {
                values.push(self.pushed_values(&pushed));
            }
            union(values, name)
        })
    }

    /// A bundler's module namespace: esbuild turns `import * as m from "./m"` into `var
    /// m_exports = {}; __export(m_exports, { name: () => value, ... })`; the object then
    /// holds each getter's value. `None` when no such call fills `name`.
    fn bundled_namespace(&self, name: &str, id: usize) -> Option<Val> {
        self.note_site_name("__export");
        let sites = self.sites();
        let call = sites.calls.get("__export")?.iter().copied().find(|call| {
            arguments_of(*call).first().is_some_and(|target| {
                target.kind() == "identifier"
                    && self.node_text(*target) == name
                    && self.lookup(name, *target).and_then(|found| found.id()) == Some(id)
            })
        })?;
        let getters = *arguments_of(call).get(1)?;
        if getters.kind() != "object" {
            return None;
        }
        Some(self.guarded(id, name, || {
            let mut object = Obj {
                entries: Vec::new(),
                location: Some(self.location(getters)),
                is_map: false,
                classes: Vec::new(),
            };
            let mut cursor = getters.walk();
            for pair in getters.named_children(&mut cursor) {
                let (Some(key), Some(getter)) = (pair.field("key"), pair.field("value")) else {
                    continue;
                };
                let Some(key) = self.property_key(key, &Env::new()) else {
                    continue;
                };
                let value = match getter.field("body") {
                    Some(body)
                        if getter.kind() == "arrow_function"
                            && body.kind() != "statement_block" =>
                    {
                        self.eval(body, &Env::new())
                    }
                    _ => Val::unknown(format!("the export `{key}` is computed at run time")),
                };
                object.entries.push((key, value));
            }
            Val::Object(object)
        }))
    }

    /// For `list.find(...)` (or a constant holding it) on a list that folds, the list's
    /// elements: the candidates for what it finds.
    fn found_in(&self, node: Node<'t>, env: &Env) -> Option<Vec<Val>> {
        let mut node = node;
        if node.kind() == "identifier"
            && let Some(Decl::Value(value)) = self.lookup(self.node_text(node), node)
        {
            node = value;
        }
        let function = node
            .field("function")
            .filter(|_| node.kind() == "call_expression")?;
        if function.kind() != "member_expression"
            || !function
                .field("property")
                .is_some_and(|property| matches!(self.node_text(property), "find" | "findLast"))
        {
            return None;
        }
        match self.eval(function.field("object")?, env) {
            Val::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Whether `value` only keeps some of `name`'s own elements (`name.filter(...)`,
    /// `name.slice(...)`, a sorted copy): such an assignment adds nothing to the union of
    /// what `name` may hold.
    fn narrows(&self, value: Node<'t>, name: &str) -> bool {
        if value.kind() != "call_expression" {
            return false;
        }
        let Some(function) = value.field("function") else {
            return false;
        };
        function.kind() == "member_expression"
            && function.field("object").is_some_and(|object| {
                object.kind() == "identifier" && self.node_text(object) == name
            })
            && function.field("property").is_some_and(|property| {
                matches!(
                    self.node_text(property),
                    "filter" | "slice" | "sort" | "reverse" | "toSorted" | "toReversed"
                )
            })
    }

    /// A `Map` with what `set(key, value)` calls add, read once per element of the
    /// loops around each call. A key or value that does not fold makes it unknown.
    fn map_with_sets(&self, mut map: Obj, sets: &[Node<'t>]) -> Val {
        for set in sets {
            for env in self.site_envs(*set) {
                let arguments = arguments_of(*set);
                let (Some(key), Some(value)) = (arguments.first(), arguments.get(1)) else {
                    return Val::unknown("a `Map` set without a key and value");
                };
                let key = match self.eval(*key, &env) {
                    Val::Str(key) => key,
                    Val::Num(number) => number_text(number),
                    Val::Unknown(reason) => {
                        return Val::unknown(format!("a key set in a `Map`: {reason}"));
                    }
                    _ => return Val::unknown("a `Map` key that is not a string"),
                };
                match self.eval(*value, &env) {
                    Val::Unknown(reason) => {
                        return Val::unknown(format!("a value set in a `Map`: {reason}"));
                    }
                    value => map.set(key, value),
                }
            }
        }
        Val::Object(map)
    }

    /// The elements `push(...)` calls add, read once per element of the loops around
    /// each call when those run over arrays that fold.
    fn pushed_values(&self, pushes: &[Node<'t>]) -> Val {
        let mut items = Vec::new();
        for push in pushes {
            for env in self.site_envs(*push) {
                for argument in arguments_of(*push) {
                    if argument.kind() == "spread_element" {
                        match argument.named_child(0).map(|inner| self.eval(inner, &env)) {
                            Some(Val::Array(spread)) => items.extend(spread),
                            Some(Val::Unknown(reason)) => return Val::Unknown(reason),
                            _ => return Val::unknown("a spread of a run-time value is pushed"),
                        }
                    } else {
                        match self.eval(argument, &env) {
                            Val::Unknown(reason) => match self.found_in(argument, &env) {
                                // One element found in a known list: any of them may be
                                // the one (a superset, as for a filter).
                                Some(candidates) => items.extend(candidates),
                                None => {
                                    return Val::unknown(format!("a pushed element: {reason}"));
                                }
                            },
                            value => items.push(value),
                        }
                    }
                }
            }
        }
        Val::Array(items)
    }

    /// The environments a `push` or `set` runs in: one per element of the loops around
    /// it ([`Self::loop_envs`]); without loops, one per call of the function it is in
    /// (`function register(tool) { tools.push(tool) }` called once per tool), its
    /// parameters bound to that call's arguments.
    fn site_envs(&self, at: Node<'t>) -> Vec<Env> {
        let loops = self.loop_envs(at, MAX_LOOP_ENVS);
        if loops.len() == 1 && loops[0].is_empty() {
            let callers = self.caller_envs(at);
            if !callers.is_empty() {
                return callers;
            }
        }
        loops
    }

    /// One environment per call of the function `at` is in, in this module or (for an
    /// exported function) in others of the package; empty when it has no parameters or
    /// no call is found.
    fn caller_envs(&self, at: Node<'t>) -> Vec<Env> {
        let chain = self.ancestors(at);
        let Some(&function) = chain.iter().skip(1).find(|node| {
            matches!(
                node.kind(),
                "function_declaration" | "arrow_function" | "function_expression" | "function"
            )
        }) else {
            return Vec::new();
        };
        let patterns = parameter_patterns(function);
        if patterns.is_empty() {
            return Vec::new();
        }
        let mut lists: Vec<Vec<Val>> = self
            .call_sites(function)
            .into_iter()
            .take(MAX_CALL_SITES)
            .map(|call| {
                arguments_of(call)
                    .into_iter()
                    .map(|argument| match argument.kind() {
                        "spread_element" => Val::unknown("an argument spread at run time"),
                        _ => self.eval(argument, &Env::new()),
                    })
                    .collect()
            })
            .collect();
        if lists.is_empty() {
            lists = self.foreign_arguments(function).as_ref().clone();
        }
        lists
            .into_iter()
            .map(|arguments| {
                let mut env = Env::new();
                let mut arguments = arguments.into_iter();
                for pattern in &patterns {
                    let argument = arguments
                        .next()
                        .unwrap_or_else(|| Val::unknown("undefined"));
                    bind_parameter(self, *pattern, argument, &mut env);
                }
                env
            })
            .collect()
    }

    /// One environment per element of each loop (`for...of`, `.forEach`, `.map`,
    /// `.flatMap`) around `at` whose iterable folds to an array, outermost first; the
    /// empty environment when there is none.
    pub fn loop_envs(&self, at: Node<'t>, limit: usize) -> Vec<Env> {
        let mut loops: Vec<(Node<'t>, Node<'t>)> = Vec::new(); // (pattern, iterable)
        let mut child = at;
        let chain = self.ancestors(at);
        for (index, &current) in chain.iter().enumerate().skip(1) {
            match current.kind() {
                "for_in_statement" => {
                    let is_of = current
                        .field("operator")
                        .is_some_and(|operator| self.node_text(operator) == "of");
                    if let (true, Some(left), Some(right), Some(body)) = (
                        is_of,
                        current.field("left"),
                        current.field("right"),
                        current.field("body"),
                    ) && body.id() == child.id()
                    {
                        loops.push((left, right));
                    }
                }
                "arrow_function" | "function_expression" | "function" => {
                    if let Some(&arguments) = chain.get(index + 1)
                        && arguments.kind() == "arguments"
                        && let Some(&outer) = chain.get(index + 2)
                        && outer.kind() == "call_expression"
                        && let Some(callee) = outer.field("function")
                        && callee.kind() == "member_expression"
                        && matches!(
                            self.member_name(callee),
                            Some("forEach" | "map" | "flatMap")
                        )
                        && let Some(iterable) = callee.field("object")
                        && let Some(pattern) = first_parameter(current)
                    {
                        loops.push((pattern, iterable));
                    }
                }
                _ => {}
            }
            child = current;
        }
        let mut envs: Vec<Env> = vec![Env::new()];
        for (pattern, iterable) in loops.into_iter().rev() {
            let mut next = Vec::new();
            for env in &envs {
                match self.eval(iterable, env) {
                    Val::Array(items) => {
                        for item in items {
                            let mut bound = env.clone();
                            bind_pattern(self, pattern, item, &mut bound);
                            next.push(bound);
                            if next.len() > limit {
                                break;
                            }
                        }
                    }
                    _ => next.push(env.clone()),
                }
            }
            envs = next;
            envs.truncate(limit);
        }
        envs
    }

    /// Bindings for a registration written inside a helper (`const tool = (name, ...) =>
    /// server.registerTool(name, ...)`): one environment per call of the nearest
    /// enclosing function that is not a loop callback, its parameters bound to the
    /// arguments of that call (read once per element of loops around the call). Empty
    /// when the function is not called by name in this module.
    pub fn call_envs(&self, at: Node<'t>, limit: usize) -> Vec<Env> {
        let chain = self.ancestors(at);
        let mut function = None;
        for (index, &node) in chain.iter().enumerate().skip(1) {
            if !matches!(
                node.kind(),
                "arrow_function"
                    | "function_expression"
                    | "function"
                    | "function_declaration"
                    | "method_definition"
                    | "generator_function_declaration"
            ) {
                continue;
            }
            let is_callback = chain
                .get(index + 1)
                .is_some_and(|parent| parent.kind() == "arguments");
            if !is_callback {
                function = Some(node);
                break;
            }
        }
        let Some(function) = function else {
            return Vec::new();
        };
        let patterns = parameter_patterns(function);
        if patterns.is_empty() {
            return Vec::new();
        }
        let mut envs = Vec::new();
        let calls = self.call_sites(function);
        if calls.is_empty() && function.kind() == "method_definition" {
            for (instance, arguments) in self.method_receivers(function, limit) {
                let mut env = vec![("this".to_owned(), instance)];
                let mut arguments = arguments.into_iter();
                for pattern in &patterns {
                    let argument = arguments
                        .next()
                        .unwrap_or_else(|| Val::unknown("undefined"));
                    bind_parameter(self, *pattern, argument, &mut env);
                }
                envs.push(env);
            }
            if !envs.is_empty() {
                return envs;
            }
        }
        if calls.is_empty() {
            for arguments in self.foreign_arguments(function).iter() {
                let mut env = Env::new();
                for (index, pattern) in patterns.iter().enumerate() {
                    let argument = arguments
                        .get(index)
                        .cloned()
                        .unwrap_or_else(|| Val::unknown("undefined"));
                    bind_parameter(self, *pattern, argument, &mut env);
                }
                envs.push(env);
                if envs.len() >= limit {
                    break;
                }
            }
            return envs;
        }
        for call in calls.into_iter().take(MAX_CALL_SITES) {
            let arguments = arguments_of(call);
            for outer in self.loop_envs(call, limit) {
                let mut env = outer.clone();
                for (index, pattern) in patterns.iter().enumerate() {
                    let argument = match arguments.get(index) {
                        Some(argument) if argument.kind() == "spread_element" => {
                            Val::unknown("an argument spread at run time")
                        }
                        Some(argument) => self.eval(*argument, &outer),
                        None => Val::unknown("undefined"),
                    };
                    bind_parameter(self, *pattern, argument, &mut env);
                }
                envs.push(env);
                if envs.len() >= limit {
                    return envs;
                }
            }
        }
        envs
    }

    /// The instances a class's method is called on (`tool.installTo(server)`, in this
    /// module or others of the package, read once per element of the loops around each
    /// call) with the arguments of each call. Only receivers that fold to an instance of
    /// the method's class or a subclass count.
    fn method_receivers(&self, method: Node<'t>, limit: usize) -> Vec<(Val, Vec<Val>)> {
        let chain = self.ancestors(method);
        let (Some(name), Some(class)) = (
            method
                .field("name")
                .map(|name| self.node_text(name).to_owned()),
            chain
                .get(2)
                .filter(|class| class.kind().contains("class"))
                .and_then(|class| class.field("name"))
                .map(|name| self.node_text(name).to_owned()),
        ) else {
            return Vec::new();
        };
        let mut found = self.method_calls(&name, &class, limit);
        if self.hops_left == 0 {
            return found;
        }
        let here = self
            .path
            .canonicalize()
            .unwrap_or_else(|_| self.path.clone());
        let sources = self.package_sources();
        let mut files = 0;
        for (path, text) in sources.iter() {
            if found.len() >= limit || files >= MAX_FOREIGN_FILES {
                break;
            }
            if *path == here || !contains_word(text, &name) {
                continue;
            }
            files += 1;
            let Some(module) = self.load_module(&path.to_string_lossy()) else {
                continue;
            };
            found.extend(self.in_module(&module, |inner| inner.method_calls(&name, &class, limit)));
        }
        found.truncate(limit);
        found
    }

    /// `receiver.method(args)` calls in this module whose receiver folds to an instance
    /// of `class` (or a subclass): the instance and the folded arguments.
    fn method_calls(&self, method: &str, class: &str, limit: usize) -> Vec<(Val, Vec<Val>)> {
        let sites = self.sites();
        let mut found = Vec::new();
        for call in sites.calls.get(&format!(".{method}")).into_iter().flatten() {
            let Some(receiver) = call
                .field("function")
                .map(unwrap_callee)
                .and_then(|callee| callee.field("object"))
            else {
                continue;
            };
            for env in self.loop_envs(*call, limit) {
                let instance = self.eval(receiver, &env);
                let Val::Object(object) = &instance else {
                    continue;
                };
                if !object.classes.iter().any(|name| name == class) {
                    continue;
                }
                let arguments = arguments_of(*call)
                    .into_iter()
                    .map(|argument| self.eval(argument, &env))
                    .collect();
                found.push((instance, arguments));
                if found.len() >= limit {
                    return found;
                }
            }
        }
        found
    }

    /// A parameter's value from the calls of its function in this module: the argument
    /// each call gives, folded where the call is; several calls make a union.
    fn parameter_value(&self, function: Node<'t>, name: &str) -> Val {
        self.guarded(function.id(), name, || {
            let Some((index, pattern)) = parameter_position(function, name, self.text) else {
                return Val::unknown(format!("`{name}` is a function parameter, set at run time"));
            };
            let calls = self.call_sites(function);
            if calls.is_empty() {
                // An exported function called from other modules of the package.
                let lists = self.foreign_arguments(function);
                if lists.is_empty() {
                    return Val::unknown(format!(
                        "`{name}` is a function parameter, and no call in this package gives it"
                    ));
                }
                let mut values = Vec::new();
                for arguments in lists.iter() {
                    let argument = arguments
                        .get(index)
                        .cloned()
                        .unwrap_or_else(|| Val::unknown("undefined"));
                    let mut env = Env::new();
                    bind_parameter(self, pattern, argument.clone(), &mut env);
                    values.push(match env.iter().rev().find(|(bound, _)| bound == name) {
                        Some((_, value)) => value.clone(),
                        None => match argument {
                            Val::Unknown(reason) => Val::Unknown(reason),
                            _ => Val::unknown(format!("`{name}` is not in the argument given")),
                        },
                    });
                }
                return union(values, name);
            }
            let mut values = Vec::new();
            for call in calls.into_iter().take(MAX_CALL_SITES) {
                let arguments = arguments_of(call);
                let argument = match arguments.get(index) {
                    Some(argument) if argument.kind() == "spread_element" => {
                        Val::unknown("an argument spread at run time")
                    }
                    Some(argument) => self.eval(*argument, &Env::new()),
                    None => Val::unknown("undefined"),
                };
                let mut env = Env::new();
                bind_parameter(self, pattern, argument.clone(), &mut env);
                let value = match env.iter().rev().find(|(bound, _)| bound == name) {
                    Some((_, value)) => value.clone(),
                    None => match argument {
                        Val::Unknown(reason) => Val::Unknown(reason),
                        _ => Val::unknown(format!("`{name}` is not in the argument given")),
                    },
                };
                values.push(value);
            }
            union(values, name)
        })
    }

    /// The calls (or `new` expressions) of a function in this module: by its name, for
    /// a declaration, `const f = () => ...`, a class's constructor and its methods
    /// (`this.method(...)` inside the class).
    fn call_sites(&self, function: Node<'t>) -> Vec<Node<'t>> {
        let sites = self.sites();
        let chain = self.ancestors(function);
        let named = function
            .field("name")
            .or_else(|| {
                chain
                    .get(1)
                    .and_then(|parent| parent.field("name").or_else(|| parent.field("property")))
            })
            .map(|name| self.node_text(name));
        if let Some(name) = named {
            self.note_site_name(name);
        }
        if function.kind() == "method_definition"
            && let Some(class_name) = chain
                .get(2)
                .and_then(|class| class.field("name"))
                .map(|name| self.node_text(name))
        {
            self.note_site_name(class_name);
        }
        match function.kind() {
            "function_declaration" | "generator_function_declaration" => {
                let Some(name) = function.field("name").map(|name| self.node_text(name)) else {
                    return Vec::new();
                };
                self.calls_resolving_to(&sites.calls, name, function)
            }
            "arrow_function" | "function_expression" | "function" => {
                let Some(&declarator) = chain.get(1) else {
                    return Vec::new();
                };
                match declarator.kind() {
                    "variable_declarator"
                        if declarator.field("value").map(|value| value.id())
                            == Some(function.id()) =>
                    {
                        let Some(name) = declarator
                            .field("name")
                            .filter(|name| name.kind() == "identifier")
                            .map(|name| self.node_text(name))
                        else {
                            return Vec::new();
                        };
                        self.calls_resolving_to(&sites.calls, name, function)
                    }
                    "field_definition" | "public_field_definition" => {
                        let Some(name) = declarator
                            .field("property")
                            .or_else(|| declarator.field("name"))
                            .map(|name| self.node_text(name))
                        else {
                            return Vec::new();
                        };
                        let class_body = chain.get(2).copied();
                        self.this_calls(&sites, name, class_body)
                    }
                    _ => Vec::new(),
                }
            }
            "method_definition" => {
                let Some(name) = function.field("name").map(|name| self.node_text(name)) else {
                    return Vec::new();
                };
                let class_body = chain.get(1).copied();
                if name == "constructor" {
                    let Some(class) = chain.get(2).copied() else {
                        return Vec::new();
                    };
                    let Some(class_name) = class.field("name").map(|name| self.node_text(name))
                    else {
                        return Vec::new();
                    };
                    let Some(news) = sites.news.get(class_name) else {
                        return Vec::new();
                    };
                    news.iter()
                        .copied()
                        .filter(|site| {
                            self.lookup(class_name, *site).and_then(|decl| decl.id())
                                == Some(class.id())
                        })
                        .collect()
                } else {
                    self.this_calls(&sites, name, class_body)
                }
            }
            _ => Vec::new(),
        }
    }

    /// The argument lists, folded where each call is, that other modules of the package
    /// give `function` when this module exports it (`export function f`, `exports.f =
    /// f`, an exported class's constructor through `new`). Calls inside loops over
    /// arrays that fold give one list per element. Empty when nothing else calls it.
    fn foreign_arguments(&self, function: Node<'t>) -> Rc<Vec<Vec<Val>>> {
        let empty = Rc::new(Vec::new());
        if self.hops_left == 0 {
            return empty;
        }
        let Some((export, is_new)) = self.exported_name(function) else {
            return empty;
        };
        let Ok(target) = self.path.canonicalize() else {
            return empty;
        };
        let key = (target.clone(), export.clone());
        if let Some(known) = self.imports.foreign.borrow().get(&key) {
            return known.clone();
        }
        // A placeholder while reading, so modules that call each other end.
        self.imports.foreign.borrow_mut().insert(key.clone(), empty);
        let sources = self.package_sources();
        let mut lists = Vec::new();
        let mut files = 0;
        for (path, text) in sources.iter() {
            if *path == target || !contains_word(text, &export) {
                continue;
            }
            files += 1;
            if files > MAX_FOREIGN_FILES {
                break;
            }
            let Some(module) = self.load_module(&path.to_string_lossy()) else {
                continue;
            };
            let found = self.in_module(&module, |inner| {
                inner.export_call_arguments(&target, &export, is_new)
            });
            lists.extend(found);
            if lists.len() >= MAX_CALL_SITES {
                break;
            }
        }
        let lists = Rc::new(lists);
        self.imports.foreign.borrow_mut().insert(key, lists.clone());
        lists
    }

    /// The name this module exports a top-level function (or a class, for its
    /// constructor: then `true`) under.
    fn exported_name(&self, function: Node<'t>) -> Option<(String, bool)> {
        let chain = self.ancestors(function);
        let top_level = |index: usize| {
            let mut index = index;
            if chain.get(index).map(|node| node.kind()) == Some("export_statement") {
                index += 1;
            }
            chain.get(index).map(|node| node.kind()) == Some("program")
        };
        let (local, is_new) = match function.kind() {
            "function_declaration" | "generator_function_declaration" if top_level(1) => {
                (self.node_text(function.field("name")?), false)
            }
            "arrow_function" | "function_expression" | "function"
                if chain.get(1)?.kind() == "variable_declarator"
                    && matches!(
                        chain.get(2)?.kind(),
                        "lexical_declaration" | "variable_declaration"
                    )
                    && top_level(3) =>
            {
                (self.node_text(chain.get(1)?.field("name")?), false)
            }
            "method_definition"
                if function.field("name").map(|name| self.node_text(name))
                    == Some("constructor")
                    && chain.get(1)?.kind() == "class_body"
                    && top_level(3) =>
            {
                (self.node_text(chain.get(2)?.field("name")?), true)
            }
            _ => return None,
        };
        let program = self.root.get()?;
        let table = self.export_table(program);
        if table.declared.iter().any(|name| name == local)
            || table.commonjs.iter().any(|name| name == local)
        {
            return Some((local.to_owned(), is_new));
        }
        table.named.iter().find_map(|(key, export)| match export {
            Export::Local(node) if self.node_text(*node) == local => Some((key.clone(), is_new)),
            _ => None,
        })
    }

    /// In a module of the package: the folded argument lists of its calls (or `new`s)
    /// of the export `export` of the module at `target`, by an imported name
    /// (`import { f as g }`) or through a namespace (`(0, m_1.f)(...)`, `m.f(...)`).
    fn export_call_arguments(&self, target: &Path, export: &str, is_new: bool) -> Vec<Vec<Val>> {
        let sites = self.sites();
        let map = if is_new { &sites.news } else { &sites.calls };
        let target_text = target.to_string_lossy();
        let mut locals: Vec<String> = vec![export.to_owned()];
        if let Some(program) = self.root.get() {
            for (local, decl) in self.scope(program).iter() {
                if let Decl::Import {
                    imported,
                    kind: ImportKind::Named,
                    ..
                } = decl
                    && self.export_key(*imported) == export
                    && local != export
                {
                    locals.push(local.clone());
                }
            }
        }
        let resolves = |source: &str| {
            self.load_module(source)
                .is_some_and(|module| module.path == target)
        };
        let mut calls: Vec<Node<'t>> = Vec::new();
        for local in &locals {
            for call in map.get(local).into_iter().flatten() {
                let Some(callee) = call
                    .field(if is_new { "constructor" } else { "function" })
                    .map(unwrap_callee)
                else {
                    continue;
                };
                if let Some(Decl::Import {
                    source,
                    imported,
                    kind: ImportKind::Named,
                }) = self.lookup(local, callee)
                    && self.export_key(imported) == export
                    && resolves(&string_value(source, self.text))
                {
                    calls.push(*call);
                }
            }
        }
        for call in map.get(&format!(".{export}")).into_iter().flatten() {
            let Some(object) = call
                .field(if is_new { "constructor" } else { "function" })
                .map(unwrap_callee)
                .and_then(|callee| callee.field("object"))
            else {
                continue;
            };
            if matches!(self.eval(object, &Env::new()), Val::Module(path) if path == target_text) {
                calls.push(*call);
            }
        }
        let mut lists = Vec::new();
        for call in calls.into_iter().take(MAX_CALL_SITES) {
            let arguments = arguments_of(call);
            for env in self.loop_envs(call, MAX_LOOP_ENVS) {
                let list = arguments
                    .iter()
                    .map(|argument| {
                        if argument.kind() == "spread_element" {
                            Val::unknown("an argument spread at run time")
                        } else {
                            self.eval(*argument, &env)
                        }
                    })
                    .collect();
                lists.push(list);
            }
        }
        lists
    }

    /// The package's JavaScript and TypeScript files (dependencies, tests, declaration
    /// files and files over [`MAX_SOURCE_BYTES`] left out), read once per package.
    fn package_sources(&self) -> Arc<Vec<(PathBuf, String)>> {
        let Ok(root) = self.file.root.canonicalize() else {
            return Arc::default();
        };
        // Shared by the files of one extraction, which run in parallel: the package is
        // listed and read once, not once per file that needs it.
        static LISTED: Mutex<Vec<(PathBuf, Sources)>> = Mutex::new(Vec::new());
        let mut listed = LISTED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, sources)) = listed.iter().find(|(known, _)| *known == root) {
            return sources.clone();
        }
        let mut sources = Vec::new();
        {
            let mut total = 0usize;
            let walker = walkdir::WalkDir::new(&root)
                .max_depth(12)
                .into_iter()
                .filter_entry(|entry| {
                    let name = entry.file_name().to_string_lossy();
                    entry.depth() == 0
                        || !(name.starts_with('.')
                            || crate::extract::walk::skipped_by_default(
                                &name,
                                entry.file_type().is_dir(),
                            ))
                });
            for entry in walker.filter_map(Result::ok) {
                if sources.len() >= MAX_SOURCE_FILES || total >= MAX_SOURCES_TOTAL {
                    break;
                }
                let name = entry.file_name().to_string_lossy();
                let script = [".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".jsx", ".tsx"]
                    .iter()
                    .any(|extension| name.ends_with(extension))
                    && !name.ends_with(".d.ts")
                    && !name.ends_with(".d.mts")
                    && !name.ends_with(".d.cts");
                if !script || !entry.file_type().is_file() {
                    continue;
                }
                if entry
                    .metadata()
                    .map_or(true, |metadata| metadata.len() > MAX_SOURCE_BYTES)
                {
                    continue;
                }
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    total += text.len();
                    sources.push((entry.path().to_path_buf(), text));
                }
            }
        }
        let sources = Arc::new(sources);
        // The last few packages only: a crawl extracts many, one after another.
        if listed.len() >= 4 {
            listed.remove(0);
        }
        listed.push((root, sources.clone()));
        sources
    }

    fn calls_resolving_to(
        &self,
        calls: &HashMap<String, Vec<Node<'t>>>,
        name: &str,
        function: Node<'t>,
    ) -> Vec<Node<'t>> {
        let Some(found) = calls.get(name) else {
            return Vec::new();
        };
        found
            .iter()
            .copied()
            .filter(|call| {
                call.field("function")
                    .map(unwrap_callee)
                    .and_then(|callee| self.function_node(name, callee))
                    .map(|node| node.id())
                    == Some(function.id())
            })
            .collect()
    }

    /// `this.name(...)` calls inside a class body.
    fn this_calls(
        &self,
        sites: &Sites<'t>,
        name: &str,
        class_body: Option<Node<'t>>,
    ) -> Vec<Node<'t>> {
        let Some(class_body) = class_body.filter(|body| body.kind() == "class_body") else {
            return Vec::new();
        };
        sites
            .calls
            .get(&format!("this.{name}"))
            .map(|calls| {
                calls
                    .iter()
                    .copied()
                    .filter(|call| {
                        self.class_body_of(*call).map(|body| body.id()) == Some(class_body.id())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The class body whose `this` a node sees: the innermost one, unless a `function`
    /// (which has its own `this`) is in between. Generator functions are passed through:
    /// tsc's `__awaiter(this, ..., function* () {...})` hands them the method's `this`.
    fn class_body_of(&self, at: Node<'t>) -> Option<Node<'t>> {
        for node in self.ancestors(at).into_iter().skip(1) {
            match node.kind() {
                "class_body" => return Some(node),
                "function_expression" | "function" | "function_declaration" => return None,
                _ => {}
            }
        }
        None
    }

    /// `this.name` inside a class: its field initialiser, getter, and every
    /// `this.name = ...` and `this.name.push(...)` in the class (a union when several).
    fn this_property(&self, at: Node<'t>, property: &str) -> Val {
        let Some(class_body) = self.class_body_of(at) else {
            return Val::unknown(format!("`this.{property}` outside a class"));
        };
        self.guarded(class_body.id(), &format!("this.{property}"), || {
            let mut values = Vec::new();
            let mut cursor = class_body.walk();
            for member in class_body.named_children(&mut cursor) {
                let key = member.field("property").or_else(|| member.field("name"));
                if key.map(|key| self.node_text(key)) != Some(property) {
                    continue;
                }
                match member.kind() {
                    "field_definition" | "public_field_definition" => {
                        if let Some(value) = member.field("value") {
                            values.push(self.eval(value, &Env::new()));
                        }
                    }
                    "method_definition" if is_getter(member) => match returned_expression(member) {
                        Some(value) => values.push(self.eval(value, &Env::new())),
                        None => values.push(Val::unknown("a getter that computes its value")),
                    },
                    _ => {}
                }
            }
            self.note_site_name(property);
            let sites = self.sites();
            let key = format!("this.{property}");
            let inside = |node: &Node<'t>| {
                self.class_body_of(*node).map(|body| body.id()) == Some(class_body.id())
            };
            if let Some(assigns) = sites.assigns.get(&key) {
                for assignment in assigns.iter().filter(|node| inside(node)) {
                    if let Some(right) = assignment.field("right") {
                        values.push(self.eval(right, &Env::new()));
                    }
                }
            }
            if let Some(pushes) = sites.pushes.get(&key) {
                let pushes: Vec<Node<'t>> =
                    pushes.iter().copied().filter(|node| inside(node)).collect();
                if !pushes.is_empty() {
                    values.push(self.pushed_values(&pushes));
                }
            }
            if let [Val::Object(map)] = values.as_slice()
                && map.is_map
            {
                let sets: Vec<Node<'t>> = sites
                    .sets
                    .get(&key)
                    .map(|sets| sets.iter().copied().filter(|node| inside(node)).collect())
                    .unwrap_or_default();
                return self.map_with_sets(map.clone(), &sets);
            }
            if values.is_empty() {
                return Val::unknown(format!("`this.{property}` is set at run time"));
            }
            union(values, &key)
        })
    }

    /// Calls a function of this module with folded arguments: its returned expressions
    /// folded with the parameters bound (a union when it returns in several places).
    fn call_function(&self, function: Node<'t>, arguments: &[Node<'t>], env: &Env) -> Val {
        let values = self.argument_values(arguments, env);
        self.call_with_values(function, values)
    }

    /// Folded arguments of a call; a spread is unknown.
    fn argument_values(&self, arguments: &[Node<'t>], env: &Env) -> Vec<Val> {
        arguments
            .iter()
            .map(|argument| {
                if argument.kind() == "spread_element" {
                    Val::unknown("an argument spread at run time")
                } else {
                    self.eval(*argument, env)
                }
            })
            .collect()
    }

    /// Calls the function a callee names with folded arguments: a function of this
    /// module, or one another module of the package exports (`import { f }`, `(0,
    /// m_1.f)(...)`, a barrel's re-export). `None` when the callee is neither.
    fn call_values(&self, callee: Node<'t>, arguments: Vec<Val>, env: &Env) -> Option<Val> {
        match callee.kind() {
            "identifier" => {
                let name = self.node_text(callee);
                if let Some(function) = self.function_node(name, callee) {
                    return Some(self.call_with_values(function, arguments));
                }
                match self.lookup(name, callee)? {
                    Decl::Import {
                        source,
                        imported,
                        kind: ImportKind::Named,
                    } => {
                        let imported = self.export_key(imported);
                        self.imported_call(&string_value(source, self.text), &imported, arguments)
                    }
                    Decl::Import {
                        source,
                        kind: ImportKind::Default,
                        ..
                    } => self.imported_call(&string_value(source, self.text), "default", arguments),
                    _ => None,
                }
            }
            "member_expression" => {
                let object = callee.field("object")?;
                let method = self.member_name(callee)?;
                match self.eval(object, env) {
                    Val::Module(source) => self.imported_call(&source, method, arguments),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Calls the top-level function `name` of the module at `module` (this one or
    /// another): [`Val::FunctionRef`].
    fn call_ref(&self, module: &str, name: &str, arguments: Vec<Val>) -> Option<Val> {
        if Path::new(module) == self.path {
            let program = self.root.get()?;
            let function = self.function_node(name, program)?;
            return Some(self.call_with_values(function, arguments));
        }
        self.imported_call(module, name, arguments)
    }

    /// Calls the function written at byte `start` of the module at `module`:
    /// [`Val::Lambda`].
    fn call_lambda(
        &self,
        module: &str,
        start: usize,
        arguments: Vec<Val>,
        captured: Env,
    ) -> Option<Val> {
        if Path::new(module) == self.path {
            let program = self.root.get()?;
            let mut node = program.descendant_for_byte_range(start, start)?;
            while !(matches!(node.kind(), "arrow_function" | "function_expression")
                && node.start_byte() == start)
            {
                node = node.parent()?;
            }
            return Some(self.call_with_values_in(node, arguments, captured));
        }
        if self.hops_left == 0 {
            return None;
        }
        let loaded = self.load_module(module)?;
        self.in_module(&loaded, |inner| {
            inner.call_lambda(module, start, arguments, captured)
        })
    }

    /// Calls the function the module `source` exports as `name`.
    fn imported_call(&self, source: &str, name: &str, arguments: Vec<Val>) -> Option<Val> {
        if self.hops_left == 0 || !(source.starts_with('.') || Path::new(source).is_absolute()) {
            return None;
        }
        let module = self.load_module(source)?;
        self.in_module(&module, |inner| inner.export_call(name, arguments, 0))
    }

    /// Calls this module's export `name`: a function declared here, `exports.name =
    /// function`, a re-export from another module, or one found through `export *`.
    fn export_call(&self, name: &str, arguments: Vec<Val>, star_depth: usize) -> Option<Val> {
        let program = self.root.get()?;
        let scope = self.scope(program);
        let table = self.export_table(program);
        if let Some((_, export)) = table.named.iter().rev().find(|(key, _)| key == name) {
            return match export {
                Export::Local(node) => self.call_values(*node, arguments, &Env::new()),
                Export::From { source, imported } => {
                    self.imported_call(source, imported, arguments)
                }
                Export::Value(node) => match node.kind() {
                    "arrow_function" | "function_expression" | "function" => {
                        Some(self.call_with_values(*node, arguments))
                    }
                    _ => self.call_values(*node, arguments, &Env::new()),
                },
                Export::Namespace(_) => None,
            };
        }
        let local = match scope.get(&format!("exports.{name}")) {
            Some(Decl::Value(value)) => Some(*value),
            _ => None,
        };
        if let Some(value) = local {
            return match value.kind() {
                "arrow_function" | "function_expression" | "function" => {
                    Some(self.call_with_values(value, arguments))
                }
                "identifier" => self.call_values(value, arguments, &Env::new()),
                _ => None,
            };
        }
        if (star_depth == 0 || table.declared.iter().any(|declared| declared == name))
            && let Some(function) = match scope.get(name) {
                Some(Decl::Function(node)) => Some(*node),
                Some(Decl::Value(value))
                    if matches!(
                        value.kind(),
                        "arrow_function" | "function_expression" | "function"
                    ) =>
                {
                    Some(*value)
                }
                _ => None,
            }
        {
            return Some(self.call_with_values(function, arguments));
        }
        if star_depth >= MAX_STAR_DEPTH || self.hops_left == 0 {
            return None;
        }
        for source in &table.stars {
            let Some(module) = self.load_module(source) else {
                continue;
            };
            let found = self.in_module(&module, |inner| {
                inner.export_call(name, arguments.clone(), star_depth + 1)
            });
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Calls a function node with folded arguments: its returned expressions folded
    /// with the parameters bound (a union when it returns in several places).
    fn call_with_values(&self, function: Node<'t>, arguments: Vec<Val>) -> Val {
        self.call_with_values_in(function, arguments, Env::new())
    }

    /// [`Self::call_with_values`] inside the bindings a closure captured.
    fn call_with_values_in(&self, function: Node<'t>, arguments: Vec<Val>, captured: Env) -> Val {
        let name = "the function's result";
        self.guarded(function.id(), name, || {
            let mut bound = captured;
            let mut arguments = arguments.into_iter();
            for pattern in parameter_patterns(function) {
                let argument = arguments
                    .next()
                    .unwrap_or_else(|| Val::unknown("undefined"));
                bind_parameter(self, pattern, argument, &mut bound);
            }
            let returns = return_expressions(function);
            if returns.is_empty() {
                return Val::unknown("a function that returns nothing written in place");
            }
            let values = returns
                .into_iter()
                .map(|returned| self.eval(returned, &bound))
                .collect();
            union(values, name)
        })
    }

    /// `cond ? a : b`: the branch when the condition folds, else both (a union).
    fn ternary(&self, node: Node<'t>, env: &Env) -> Val {
        let (Some(condition), Some(consequence), Some(alternative)) = (
            node.field("condition"),
            node.field("consequence"),
            node.field("alternative"),
        ) else {
            return Val::unknown("incomplete conditional");
        };
        match truthiness(&self.eval(condition, env)) {
            Some(true) => self.eval(consequence, env),
            Some(false) => self.eval(alternative, env),
            None => union(
                vec![self.eval(consequence, env), self.eval(alternative, env)],
                "the conditional",
            ),
        }
    }

    /// `new C(...)` of a class declared in this module: an object of its fields and of
    /// what its constructor assigns to `this` from literals (its methods are functions).
    fn new_instance(&self, node: Node<'t>, env: &Env) -> Val {
        let Some(constructor) = node.field("constructor") else {
            return Val::unknown("incomplete new");
        };
        if constructor.kind() != "identifier" {
            return Val::unknown("an object constructed at run time");
        }
        let name = self.node_text(constructor);
        if name == "Map" && self.lookup(name, constructor).is_none() {
            let mut map = Obj {
                entries: Vec::new(),
                location: Some(self.location(node)),
                is_map: true,
                classes: Vec::new(),
            };
            match arguments_of(node)
                .first()
                .map(|items| self.eval(*items, env))
            {
                None => {}
                Some(Val::Array(pairs)) => {
                    for pair in pairs {
                        match pair {
                            Val::Array(pair) if pair.len() == 2 => {
                                let mut pair = pair.into_iter();
                                let (Some(Val::Str(key)), Some(value)) = (pair.next(), pair.next())
                                else {
                                    return Val::unknown("a `Map` with keys that are not strings");
                                };
                                map.set(key, value);
                            }
                            _ => return Val::unknown("a `Map` built from run-time pairs"),
                        }
                    }
                }
                Some(Val::Unknown(reason)) => return Val::Unknown(reason),
                Some(_) => return Val::unknown("a `Map` built from a value that is not a list"),
            }
            return Val::Object(map);
        }
        let arguments: Vec<Val> = arguments_of(node)
            .into_iter()
            .map(|argument| self.eval(argument, env))
            .collect();
        self.instance(name, constructor, arguments, 0)
            .unwrap_or_else(|| Val::unknown(format!("an instance of `{name}`, made at run time")))
    }

    /// `new Name(arguments)` for a class declared in this module or imported from
    /// another of the package: [`Self::instance_of`]. `None` when the class is not found.
    fn instance(&self, name: &str, at: Node<'t>, arguments: Vec<Val>, depth: usize) -> Option<Val> {
        if depth > MAX_CLASS_DEPTH {
            return None;
        }
        match self.lookup(name, at)? {
            Decl::Class(class) => Some(self.instance_of(class, arguments, depth)),
            Decl::Import {
                source,
                imported,
                kind: ImportKind::Named,
            } => {
                let source = string_value(source, self.text);
                if self.hops_left == 0 || !source.starts_with('.') {
                    return None;
                }
                let imported = self.export_key(imported);
                let module = self.load_module(&source)?;
                self.in_module(&module, |inner| {
                    let program = inner.root.get()?;
                    inner.instance(&imported, program, arguments, depth + 1)
                })
            }
            _ => None,
        }
    }

    /// The fields an instance of `class` has after its constructor runs with
    /// `arguments`: the base class's (through `super(...)`), the class's field
    /// initialisers, then the constructor's `this.x = value` statements. Methods are not
    /// run; what they would set stays absent.
    fn instance_of(&self, class: Node<'t>, arguments: Vec<Val>, depth: usize) -> Val {
        let mut object = Obj {
            entries: Vec::new(),
            location: Some(self.location(class)),
            is_map: false,
            classes: Vec::new(),
        };
        let Some(body) = class.field("body") else {
            return Val::Object(object);
        };
        let base = class_base(class).map(|base| (self.node_text(base), base));
        if let Some(name) = class.field("name") {
            object.classes.push(self.node_text(name).to_owned());
        }
        let constructor = class_method(body, "constructor", self.text);
        let mut env = Env::new();
        if let Some(constructor) = constructor {
            let mut values = arguments.clone().into_iter();
            for pattern in parameter_patterns(constructor) {
                let value = values.next().unwrap_or_else(|| Val::unknown("undefined"));
                bind_parameter(self, pattern, value, &mut env);
            }
        }
        let inherit = |object: &mut Obj, base_arguments: Vec<Val>| {
            if let Some((name, at)) = base
                && let Some(Val::Object(inherited)) =
                    self.instance(name, at, base_arguments, depth + 1)
            {
                for (key, value) in inherited.entries {
                    object.set(key, value);
                }
                object.classes.extend(inherited.classes);
            }
        };
        if constructor.is_none() {
            inherit(&mut object, arguments);
        }
        let mut cursor = body.walk();
        for member in body.named_children(&mut cursor) {
            if matches!(
                member.kind(),
                "public_field_definition" | "field_definition"
            ) && let (Some(key), Some(value)) = (
                member.field("property").or_else(|| member.field("name")),
                member.field("value"),
            ) {
                let value = self.eval(value, &Env::new());
                object.set(self.node_text(key).to_owned(), value);
            }
        }
        let statements = constructor
            .and_then(|constructor| constructor.field("body"))
            .map(|body| {
                let mut cursor = body.walk();
                body.named_children(&mut cursor).collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for statement in statements {
            let Some(expression) = statement
                .named_child(0)
                .filter(|_| statement.kind() == "expression_statement")
            else {
                continue;
            };
            match expression.kind() {
                "call_expression"
                    if expression
                        .field("function")
                        .is_some_and(|callee| callee.kind() == "super") =>
                {
                    let base_arguments = arguments_of(expression)
                        .into_iter()
                        .map(|argument| self.eval(argument, &env))
                        .collect();
                    // Field initialisers run after super(): keep them over the base's.
                    let own = std::mem::take(&mut object.entries);
                    inherit(&mut object, base_arguments);
                    for (key, value) in own {
                        object.set(key, value);
                    }
                }
                "assignment_expression" => {
                    if let (Some(left), Some(right)) =
                        (expression.field("left"), expression.field("right"))
                        && left.kind() == "member_expression"
                        && left
                            .field("object")
                            .is_some_and(|object| object.kind() == "this")
                        && let Some(key) = self.member_name(left)
                    {
                        let value = self.eval(right, &env);
                        object.set(key.to_owned(), value);
                    }
                }
                _ => {}
            }
        }
        Val::Object(object)
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
        match self.lookup_in(name, at) {
            // A local of a function whose parameters (or loop variables) are bound: its
            // value depends on them.
            Some((decl @ (Decl::Value(_) | Decl::Property(..)), scope))
                if !env.is_empty() && scope.kind() != "program" =>
            {
                self.decl_value_in(decl, name, env)
            }
            Some((decl, _)) => self.decl_value(decl, name),
            None => Val::unknown(format!("`{name}` is not defined in this file")),
        }
    }

    /// A local declaration folded with bindings, not cached.
    fn decl_value_in(&self, decl: Decl<'t>, name: &str, env: &Env) -> Val {
        match decl {
            Decl::Value(value) => {
                let folded = self.eval(value, env);
                self.with_mutations(decl, name, folded)
            }
            Decl::Property(value, key) => {
                let base = self.eval(value, env);
                let key = self.node_text(key);
                self.property_of(base, key)
            }
            other => self.decl_value(other, name),
        }
    }

    fn decl_value(&self, decl: Decl<'t>, name: &str) -> Val {
        match decl {
            Decl::Value(value) => {
                if let Some(cached) = self.constants.borrow().get(&value.id()) {
                    return cached.clone();
                }
                // A placeholder while folding, so `const a = [...a]` ends.
                self.constants.borrow_mut().insert(
                    value.id(),
                    Val::unknown(format!("`{name}` refers to itself")),
                );
                let folded = self.eval(value, &Env::new());
                let folded = self.with_mutations(decl, name, folded);
                self.constants
                    .borrow_mut()
                    .insert(value.id(), folded.clone());
                folded
            }
            Decl::Declared(_) => self.with_mutations(decl, name, Val::unknown("undefined")),
            Decl::Parameter(function) => self.parameter_value(function, name),
            Decl::Class(_) => Val::unknown(format!("`{name}` is a class")),
            Decl::Property(value, key) => {
                let base = self.eval(value, &Env::new());
                let key = self.node_text(key);
                self.property_of(base, key)
            }
            Decl::Import {
                source,
                imported,
                kind,
            } => {
                let source = string_value(source, self.text);
                match kind {
                    ImportKind::Namespace => self.module_ref(&source),
                    ImportKind::Named => {
                        let imported = self.export_key(imported);
                        self.import_value(&source, &imported)
                    }
                    // A module without a default export (CommonJS) is its namespace.
                    ImportKind::Default if !source.starts_with('.') => self.module_ref(&source),
                    ImportKind::Default => match self.import_value(&source, "default") {
                        Val::Unknown(reason) if reason.contains("has no constant") => {
                            self.module_ref(&source)
                        }
                        value => value,
                    },
                }
            }
            Decl::Enum(body) => self.enum_value(body),
            Decl::Function(_) => Val::FunctionRef {
                module: self.path.to_string_lossy().into_owned(),
                name: name.to_owned(),
            },
            Decl::RunTime(what) => Val::unknown(format!("`{name}` is {what}, set at run time")),
        }
    }

    fn enum_value(&self, body: Node<'t>) -> Val {
        let mut object = Obj {
            entries: Vec::new(),
            location: Some(self.location(body)),
            is_map: false,
            classes: Vec::new(),
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

    /// A module namespace for `source` as this module writes it: a relative specifier is
    /// resolved to the module's path, so the value names the same module wherever it is
    /// passed (to another module, into a function).
    fn module_ref(&self, source: &str) -> Val {
        if source.starts_with('.')
            && self.hops_left > 0
            && let Some(module) = self.load_module(source)
        {
            return Val::Module(module.path.to_string_lossy().into_owned());
        }
        Val::Module(source.to_owned())
    }

    /// The export `name` of the module `source`, following relative imports (barrels,
    /// re-exports, `require`) up to [`MAX_IMPORT_HOPS`] away.
    fn import_value(&self, source: &str, name: &str) -> Val {
        if !source.starts_with('.') && !Path::new(source).is_absolute() {
            return Val::unknown(format!("`{name}` comes from the package `{source}`"));
        }
        if self.hops_left == 0 {
            return Val::unknown(format!(
                "`{name}` is imported from `{source}`, more than {MAX_IMPORT_HOPS} imports away"
            ));
        }
        let Some(module) = self.load_module(source) else {
            return Val::unknown(format!("`{source}` could not be read"));
        };
        let key = (module.path.clone(), name.to_owned());
        if let Some(cached) = self.imports.values.borrow().get(&key) {
            return cached.clone();
        }
        // Modules that import each other end here instead of recursing.
        self.imports.values.borrow_mut().insert(
            key.clone(),
            Val::unknown(format!("`{name}` is part of an import cycle")),
        );
        let value = self
            .in_module(&module, |inner| inner.export_value(name, 0))
            .unwrap_or_else(|| Val::unknown(format!("`{}` has no constant `{name}`", module.rel)));
        self.imports.values.borrow_mut().insert(key, value.clone());
        value
    }

    /// Runs `read` with an evaluator over `module`, one import hop further from the
    /// extracted file; the step budget is shared.
    fn in_module<R>(&self, module: &Module, read: impl FnOnce(&Evaluator<'_, 'f>) -> R) -> R {
        let inner = Evaluator {
            text: &module.text,
            file: self.file,
            path: module.path.clone(),
            rel: module.rel.clone(),
            hops_left: self.hops_left.saturating_sub(1),
            imports: self.imports,
            scopes: RefCell::default(),
            exports: RefCell::default(),
            sites: RefCell::default(),
            active: RefCell::default(),
            site_names: RefCell::default(),
            constants: RefCell::default(),
            depth: Cell::new(self.depth.get()),
            steps: Cell::new(self.steps.get()),
            missing: RefCell::default(),
            root: Cell::new(Some(module.tree.root_node())),
        };
        let result = read(&inner);
        self.steps.set(inner.steps.get());
        result
    }

    /// The value this module exports as `name`: CommonJS `exports.name`, an export
    /// clause or `export ... from`, a declaration, `module.exports`, tsc's
    /// `Object.defineProperty(exports, ...)` getters, then the `export *` modules.
    /// `star_depth` > 0 when this module is searched through an `export *`: only what it
    /// exports counts then.
    fn export_value(&self, name: &str, star_depth: usize) -> Option<Val> {
        let program = self.root.get()?;
        let scope = self.scope(program);
        if let Some(decl) = scope.get(&format!("exports.{name}")) {
            return Some(self.decl_value(*decl, name));
        }
        let table = self.export_table(program);
        if let Some((_, export)) = table.named.iter().rev().find(|(key, _)| key == name) {
            return Some(match export {
                Export::Local(node) => self.identifier(self.node_text(*node), *node, &Env::new()),
                Export::From { source, imported } => self.import_value(source, imported),
                Export::Namespace(source) => self.module_ref(source),
                Export::Value(node) => self.eval(*node, &Env::new()),
            });
        }
        if (star_depth == 0 || table.declared.iter().any(|declared| declared == name))
            && let Some(decl) = scope.get(name)
        {
            return Some(self.decl_value(*decl, name));
        }
        if let Some(node) = table.module_exports {
            match self.eval(node, &Env::new()) {
                Val::Object(object) if object.get(name).is_some() => {
                    return object.get(name).cloned();
                }
                other if name == "default" => return Some(other),
                _ => {}
            }
        }
        if star_depth >= MAX_STAR_DEPTH || self.hops_left == 0 {
            return None;
        }
        for source in &table.stars {
            let Some(module) = self.load_module(source) else {
                continue;
            };
            if let Some(value) =
                self.in_module(&module, |inner| inner.export_value(name, star_depth + 1))
            {
                return Some(value);
            }
        }
        None
    }

    /// The names this module exports, in source order (`export *` modules included,
    /// `default` and `__esModule` left out).
    fn export_names(&self, star_depth: usize) -> Vec<String> {
        let Some(program) = self.root.get() else {
            return Vec::new();
        };
        let table = self.export_table(program);
        let mut names: Vec<String> = table.commonjs.clone();
        names.extend(table.declared.iter().cloned());
        names.extend(table.named.iter().map(|(key, _)| key.clone()));
        if let Some(node) = table.module_exports
            && let Val::Object(object) = self.eval(node, &Env::new())
        {
            names.extend(object.entries.into_iter().map(|(key, _)| key));
        }
        if star_depth < MAX_STAR_DEPTH && self.hops_left > 0 {
            for source in &table.stars {
                if let Some(module) = self.load_module(source) {
                    names.extend(
                        self.in_module(&module, |inner| inner.export_names(star_depth + 1)),
                    );
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        names.retain(|name| name != "default" && name != "__esModule" && seen.insert(name.clone()));
        names
    }

    /// A module namespace as an object of its exports, for `Object.values(ns)`, `{...ns}`.
    fn namespace_object(&self, source: &str) -> Val {
        if !Path::new(source).is_absolute() {
            return Val::unknown(format!("the exports of the package `{source}`"));
        }
        let Some(module) = self.load_module(source) else {
            return Val::unknown(format!("`{source}` could not be read"));
        };
        if self.hops_left == 0 {
            return Val::unknown(format!(
                "the exports of `{}`, more than {MAX_IMPORT_HOPS} imports away",
                module.rel
            ));
        }
        let names = self.in_module(&module, |inner| inner.export_names(0));
        let mut object = Obj {
            entries: Vec::new(),
            location: None,
            is_map: false,
            classes: Vec::new(),
        };
        for name in names.into_iter().take(MAX_NAMESPACE_EXPORTS) {
            let value = self.import_value(source, &name);
            object.entries.push((name, value));
        }
        Val::Object(object)
    }

    /// The export statements of a module, read once per evaluator.
    fn export_table(&self, program: Node<'t>) -> Rc<ExportTable<'t>> {
        if let Some(table) = self.exports.borrow().as_ref() {
            return table.clone();
        }
        let mut table = ExportTable::default();
        let mut cursor = program.walk();
        for statement in program.named_children(&mut cursor) {
            match statement.kind() {
                "export_statement" => self.table_export_statement(statement, &mut table),
                "expression_statement" => self.table_commonjs(statement, &mut table),
                _ => {}
            }
        }
        let table = Rc::new(table);
        *self.exports.borrow_mut() = Some(table.clone());
        table
    }

    fn export_key(&self, node: Node<'t>) -> String {
        if node.kind() == "string" {
            string_value(node, self.text)
        } else {
            self.node_text(node).to_owned()
        }
    }

    fn table_export_statement(&self, statement: Node<'t>, table: &mut ExportTable<'t>) {
        let source = statement
            .field("source")
            .map(|source| string_value(source, self.text));
        let mut clause = false;
        let mut is_default = false;
        let mut cursor = statement.walk();
        for child in statement.children(&mut cursor) {
            match child.kind() {
                "default" => is_default = true,
                "export_clause" => {
                    clause = true;
                    let mut specifiers = child.walk();
                    for specifier in child.named_children(&mut specifiers) {
                        let Some(name) = specifier.field("name") else {
                            continue;
                        };
                        let alias = specifier.field("alias").unwrap_or(name);
                        let export = match &source {
                            Some(source) => Export::From {
                                source: source.clone(),
                                imported: self.export_key(name),
                            },
                            None => Export::Local(name),
                        };
                        table.named.push((self.export_key(alias), export));
                    }
                }
                "namespace_export" => {
                    clause = true;
                    if let (Some(source), Some(name)) = (&source, child.named_child(0)) {
                        table
                            .named
                            .push((self.export_key(name), Export::Namespace(source.clone())));
                    }
                }
                _ => {}
            }
        }
        if let Some(source) = source
            && !clause
        {
            table.stars.push(source);
        }
        if let Some(value) = statement.field("value") {
            table
                .named
                .push(("default".to_owned(), Export::Value(value)));
        }
        if let Some(declaration) = statement.field("declaration") {
            let mut names = HashMap::new();
            declare(declaration, self.text, &mut names);
            let mut declared: Vec<String> = names.into_keys().collect();
            declared.sort();
            if is_default && let Some(name) = declaration.field("name") {
                table
                    .named
                    .push(("default".to_owned(), Export::Local(name)));
            }
            table.declared.extend(declared);
        }
    }

    /// CommonJS exports: `exports.a = exports.b = ...`, `module.exports = X`, tsc's
    /// `Object.defineProperty(exports, "a", { get: function () { return m.a; } })` and
    /// `__exportStar(require("./m"), exports)`.
    fn table_commonjs(&self, statement: Node<'t>, table: &mut ExportTable<'t>) {
        let Some(expression) = statement.named_child(0) else {
            return;
        };
        match expression.kind() {
            "assignment_expression" => {
                let mut assignment = expression;
                for _ in 0..64 {
                    let (Some(left), Some(right)) =
                        (assignment.field("left"), assignment.field("right"))
                    else {
                        return;
                    };
                    let left_text = self.node_text(left);
                    if left_text == "module.exports" {
                        table.module_exports = Some(right);
                    } else if let Some(name) = commonjs_export_name(left, self.text)
                        && !table.commonjs.contains(&name)
                    {
                        table.commonjs.push(name);
                    }
                    if right.kind() != "assignment_expression" {
                        return;
                    }
                    assignment = right;
                }
            }
            "call_expression" => {
                let Some(callee) = expression.field("function").map(unwrap_callee) else {
                    return;
                };
                let callee_name = match callee.kind() {
                    "member_expression" => self.member_name(callee).unwrap_or_default(),
                    _ => self.node_text(callee),
                };
                let arguments = arguments_of(expression);
                if self.node_text(callee) == "Object.defineProperty"
                    && arguments.len() == 3
                    && self.node_text(arguments[0]) == "exports"
                    && arguments[1].kind() == "string"
                {
                    let name = string_value(arguments[1], self.text);
                    if name == "__esModule" {
                        return;
                    }
                    let getter = property_node(arguments[2], "get", self.text)
                        .and_then(returned_expression)
                        .or_else(|| property_node(arguments[2], "value", self.text));
                    if let Some(value) = getter {
                        table.named.push((name, Export::Value(value)));
                    }
                } else if matches!(callee_name, "__exportStar" | "__export")
                    && let Some(first) = arguments.first()
                    && let Some(source) = required_source(*first, self.text)
                {
                    table.stars.push(source);
                }
            }
            _ => {}
        }
    }

    fn load_module(&self, source: &str) -> Option<Rc<Module>> {
        let folder = self.path.parent()?;
        let candidates = if Path::new(source).is_absolute() {
            vec![PathBuf::from(source)]
        } else {
            module_candidates(source)
        };
        for candidate in candidates {
            let joined = folder.join(&candidate);
            if let Some(cached) = self.imports.modules.borrow().get(&joined) {
                match cached {
                    Some(module) => return Some(module.clone()),
                    None => continue,
                }
            }
            // `read_relative` resolves against the extracted file's folder, whose path may
            // be relative; an imported module's path is absolute, so its imports are
            // joined to its own folder first.
            let target = if self.path.is_absolute() {
                joined.clone()
            } else {
                candidate
            };
            let loaded = self.read_module(&target);
            let found = loaded.clone();
            self.imports.modules.borrow_mut().insert(joined, loaded);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    fn read_module(&self, candidate: &Path) -> Option<Rc<Module>> {
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
        self.lookup_in(name, at).map(|(decl, _)| decl)
    }

    /// [`Evaluator::lookup`], with the scope node that declares the name.
    fn lookup_in(&self, name: &str, at: Node<'t>) -> Option<(Decl<'t>, Node<'t>)> {
        let mut child = at;
        for node in self.ancestors(at) {
            match node.kind() {
                "program" | "statement_block" | "class_body" | "switch_body" => {
                    if let Some(decl) = self.scope(node).get(name) {
                        return Some((*decl, node));
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
                    return Some((Decl::Parameter(node), node));
                }
                "for_in_statement" | "for_statement" => {
                    // Only the loop's own binding, and only from inside the loop.
                    let left = node.field("left").or_else(|| node.field("initializer"));
                    if let Some(left) = left
                        && left.id() != child.id()
                        && pattern_binds(left, name, self.text)
                    {
                        return Some((Decl::RunTime("a loop variable"), node));
                    }
                }
                "catch_clause" => {
                    if let Some(parameter) = node.field("parameter")
                        && pattern_binds(parameter, name, self.text)
                    {
                        return Some((Decl::RunTime("a caught error"), node));
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
                        names.insert(syntax::text(name, text).to_owned(), Decl::Declared(name));
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
                    Decl::Class(statement)
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
            // `exports.a = exports.b = value` binds both to the value.
            let mut lefts = Vec::new();
            let mut assignment = expression;
            let mut value = None;
            for _ in 0..64 {
                let (Some(left), Some(right)) =
                    (assignment.field("left"), assignment.field("right"))
                else {
                    return;
                };
                lefts.push(left);
                if right.kind() == "assignment_expression" {
                    assignment = right;
                } else {
                    value = Some(right);
                    break;
                }
            }
            let Some(value) = value else {
                return;
            };
            // tsc declares every export first as `exports.a = void 0`.
            if syntax::text(value, text) == "void 0" {
                return;
            }
            for left in lefts {
                if let Some(name) = commonjs_export_name(left, text) {
                    names.insert(format!("exports.{name}"), Decl::Value(value));
                }
            }
        }
        _ => {}
    }
}

/// Whether `word` occurs in `text` as a whole identifier.
fn contains_word(text: &str, word: &str) -> bool {
    let bytes = text.as_bytes();
    let is_ident = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$';
    text.match_indices(word).any(|(start, _)| {
        let end = start + word.len();
        (start == 0 || !is_ident(bytes[start - 1])) && bytes.get(end).is_none_or(|b| !is_ident(*b))
    })
}

fn push_site<'t>(map: &mut HashMap<String, Vec<Node<'t>>>, key: String, node: Node<'t>) {
    let nodes = map.entry(key).or_default();
    if nodes.len() < MAX_CALL_SITES {
        nodes.push(node);
    }
}

/// What several places may set one value to. Arrays make one array holding every
/// element (a superset of what run time holds: a filtered or chosen list is read as all
/// of its candidates); equal values are that value; `null` and `undefined` initialisers
/// are left out when something else is set. Anything else is unknown.
fn union(values: Vec<Val>, what: &str) -> Val {
    let unset = |value: &Val| {
        matches!(value, Val::Null) || matches!(value, Val::Unknown(reason) if reason == "undefined")
    };
    let mut values: Vec<Val> = if values.iter().all(unset) {
        values.into_iter().take(1).collect()
    } else {
        values.into_iter().filter(|value| !unset(value)).collect()
    };
    if values.len() <= 1 {
        return values
            .pop()
            .unwrap_or_else(|| Val::unknown(format!("`{what}` is never set")));
    }
    if let Some(Val::Unknown(reason)) = values.iter().find(|value| value.is_unknown()) {
        return Val::Unknown(reason.clone());
    }
    if values.iter().all(|value| matches!(value, Val::Array(_))) {
        let mut items: Vec<Val> = Vec::new();
        for value in values {
            if let Val::Array(part) = value {
                for item in part {
                    if items.len() >= MAX_UNION_ITEMS {
                        break;
                    }
                    if !items.contains(&item) {
                        items.push(item);
                    }
                }
            }
        }
        return Val::Array(items);
    }
    if values.windows(2).all(|pair| pair[0] == pair[1]) {
        return values.swap_remove(0);
    }
    Val::unknown(format!("`{what}` is set to different values at run time"))
}

/// Whether a folded value is truthy, when that is known.
fn truthiness(value: &Val) -> Option<bool> {
    match value {
        Val::Bool(flag) => Some(*flag),
        Val::Null => Some(false),
        Val::Num(number) => Some(*number != 0.0 && !number.is_nan()),
        Val::Str(text) => Some(!text.is_empty()),
        Val::Array(_)
        | Val::Object(_)
        | Val::Zod(_)
        | Val::Module(_)
        | Val::Function
        | Val::FunctionRef { .. }
        | Val::Lambda { .. }
        | Val::Thunk(_) => Some(true),
        Val::Unknown(reason) if reason == "undefined" => Some(false),
        Val::Unknown(_) => None,
    }
}

/// A `Map`'s `[key, value]` pairs.
fn map_entries(map: Obj) -> Val {
    Val::Array(
        map.entries
            .into_iter()
            .map(|(key, value)| Val::Array(vec![Val::Str(key), value]))
            .collect(),
    )
}

/// Flattens one level of nested arrays.
fn flatten_once(items: Vec<Val>) -> Val {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Val::Array(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    Val::Array(out)
}

/// The method `name` of a class body (not a getter).
/// A function made inside a call keeps at most this many bindings around it; one made
/// under more is opaque.
const MAX_CAPTURED: usize = 16;

/// Classes followed through `extends` (and imports) when an instance is read.
const MAX_CLASS_DEPTH: usize = 6;

/// The `extends` expression of a class declaration, when it names a class.
fn class_base(class: Node<'_>) -> Option<Node<'_>> {
    let mut cursor = class.walk();
    let heritage = class
        .named_children(&mut cursor)
        .find(|child| child.kind() == "class_heritage")?;
    let mut cursor = heritage.walk();
    let mut children: Vec<Node<'_>> = heritage.named_children(&mut cursor).collect();
    // TypeScript wraps it in an `extends_clause`; JavaScript has the expression.
    if let Some(clause) = children
        .iter()
        .find(|child| child.kind() == "extends_clause")
    {
        let clause = *clause;
        let mut cursor = clause.walk();
        children = clause.named_children(&mut cursor).collect();
    }
    children
        .into_iter()
        .find(|child| child.kind() == "identifier")
}

fn class_method<'t>(class_body: Node<'t>, name: &str, text: &str) -> Option<Node<'t>> {
    let mut cursor = class_body.walk();
    class_body.named_children(&mut cursor).find(|member| {
        member.kind() == "method_definition"
            && !is_getter(*member)
            && member.field("name").map(|key| syntax::text(key, text)) == Some(name)
    })
}

/// Whether a method definition is a getter (`get name() {...}`).
fn is_getter(method: Node<'_>) -> bool {
    let mut cursor = method.walk();
    method
        .children(&mut cursor)
        .any(|child| child.kind() == "get")
}

/// A function's parameter nodes, comments left out (an arrow's bare parameter too).
fn parameter_patterns(function: Node<'_>) -> Vec<Node<'_>> {
    if let Some(parameter) = function.field("parameter") {
        return vec![parameter];
    }
    let Some(parameters) = function.field("parameters") else {
        return Vec::new();
    };
    let mut cursor = parameters.walk();
    parameters
        .named_children(&mut cursor)
        .filter(|child| child.kind() != "comment")
        .collect()
}

/// The position and node of the parameter that binds `name`.
fn parameter_position<'t>(function: Node<'t>, name: &str, text: &str) -> Option<(usize, Node<'t>)> {
    parameter_patterns(function)
        .into_iter()
        .enumerate()
        .find(|(_, pattern)| pattern_binds(*pattern, name, text))
}

/// Binds a parameter (`x`, `x = default`, `{a, b}`, TypeScript's `x: T = d`) to the
/// argument a call gives; a missing argument takes the default.
pub fn bind_parameter<'t>(
    evaluator: &Evaluator<'t, '_>,
    parameter: Node<'t>,
    value: Val,
    env: &mut Env,
) {
    let (pattern, default) = match parameter.kind() {
        "required_parameter" | "optional_parameter" => {
            (parameter.field("pattern"), parameter.field("value"))
        }
        "assignment_pattern" => (parameter.field("left"), parameter.field("right")),
        _ => (Some(parameter), None),
    };
    let Some(pattern) = pattern else {
        return;
    };
    let value = match (&value, default) {
        (Val::Unknown(reason), Some(default)) if reason == "undefined" => {
            evaluator.eval(default, env)
        }
        _ => value,
    };
    if pattern.kind() == "assignment_pattern" {
        bind_parameter(evaluator, pattern, value, env);
        return;
    }
    bind_pattern(evaluator, pattern, value, env);
}

/// The expressions a function returns: an arrow's expression body, or every `return`
/// in its body outside nested functions.
fn return_expressions(function: Node<'_>) -> Vec<Node<'_>> {
    let Some(body) = function.field("body") else {
        return Vec::new();
    };
    if body.kind() != "statement_block" {
        return vec![body];
    }
    let mut found = Vec::new();
    let mut cursor = body.walk();
    'walk: loop {
        let node = cursor.node();
        let nested = node.id() != body.id()
            && matches!(
                node.kind(),
                "arrow_function"
                    | "function_expression"
                    | "function_declaration"
                    | "function"
                    | "generator_function"
                    | "generator_function_declaration"
                    | "method_definition"
                    | "class_declaration"
                    | "class"
            );
        if node.kind() == "return_statement"
            && let Some(value) = node.named_child(0)
        {
            found.push(value);
        }
        if !nested && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.node().id() == body.id() {
                break 'walk;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    found
}

/// `name` for `exports.name`, `module.exports.name`, `exports["name"]`.
fn commonjs_export_name(left: Node<'_>, text: &str) -> Option<String> {
    let object = left.field("object")?;
    if !matches!(syntax::text(object, text), "exports" | "module.exports") {
        return None;
    }
    match left.kind() {
        "member_expression" => Some(syntax::text(left.field("property")?, text).to_owned()),
        "subscript_expression" => {
            let index = left.field("index")?;
            (index.kind() == "string").then(|| string_value(index, text))
        }
        _ => None,
    }
}

/// The value node of the property `key` of an object literal node.
fn property_node<'t>(object: Node<'t>, key: &str, text: &str) -> Option<Node<'t>> {
    if object.kind() != "object" {
        return None;
    }
    let mut cursor = object.walk();
    object.named_children(&mut cursor).find_map(|child| {
        if child.kind() != "pair" {
            return None;
        }
        let name = child.field("key")?;
        let name = match name.kind() {
            "string" => string_value(name, text),
            _ => syntax::text(name, text).to_owned(),
        };
        (name == key).then(|| child.field("value")).flatten()
    })
}

/// `"./m"` for `require("./m")` (also wrapped: `__importStar(require("./m"))`).
fn required_source(node: Node<'_>, text: &str) -> Option<String> {
    let mut node = node;
    for _ in 0..4 {
        if node.kind() != "call_expression" {
            return None;
        }
        let callee = unwrap_callee(node.field("function")?);
        let arguments = arguments_of(node);
        let first = *arguments.first()?;
        if syntax::text(callee, text) == "require" {
            return (first.kind() == "string").then(|| string_value(first, text));
        }
        node = first;
    }
    None
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
                            kind: ImportKind::Default,
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
                                kind: ImportKind::Namespace,
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
                                kind: ImportKind::Named,
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
