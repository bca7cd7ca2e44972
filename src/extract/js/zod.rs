//! Zod schemas to JSON Schema, read from the syntax of the Zod chain.
//!
//! A chain is recognised by its method names (`string()`, `.optional()`, `.describe()`),
//! never by the receiver's identifier: compiled code writes `zod_1.z.string()` or
//! `(0, zod_1.z)`, bundlers rename `z` to anything. The output follows what the SDKs
//! send in `tools/list` (zod-to-json-schema and `z.toJSONSchema`): `type`, `properties`,
//! `required` (the keys that are neither optional nor defaulted), `description`,
//! `enum`/`const`, `anyOf` for unions, `items` for arrays, bounds from `min`/`max`.
//! Modifiers that only matter at run time (`refine`, `transform`, `trim`) keep the
//! schema as it is. Anything not understood marks the schema incomplete, which lowers
//! the tool's confidence; it is never invented.

use serde_json::{Map, Value, json};
use tree_sitter::Node;

use super::value::{Env, Evaluator, Obj, Val, number_json};
use crate::extract::syntax::Field as _;

/// A Zod schema as JSON Schema, plus what only the parent object needs to know.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Zod {
    pub schema: Map<String, Value>,
    /// `.optional()`, `.default(...)`, `.nullish()`: not required in the parent object.
    pub optional: bool,
    /// Every part of the chain was understood.
    pub complete: bool,
}

impl Zod {
    fn of(schema: Value) -> Zod {
        Zod {
            schema: match schema {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            optional: false,
            complete: true,
        }
    }

    fn incomplete(mut self) -> Zod {
        self.complete = false;
        self
    }

    fn kind(&self) -> Option<&str> {
        self.schema.get("type").and_then(Value::as_str)
    }
}

/// Names that start a Zod chain when called on the `z` namespace (whatever it is called).
const CONSTRUCTORS: &[&str] = &[
    "string",
    "number",
    "int",
    "int32",
    "uint32",
    "float32",
    "float64",
    "bigint",
    "boolean",
    "date",
    "null",
    "undefined",
    "void",
    "any",
    "unknown",
    "never",
    "object",
    "strictObject",
    "looseObject",
    "array",
    "enum",
    "nativeEnum",
    "literal",
    "union",
    "discriminatedUnion",
    "intersection",
    "tuple",
    "record",
    "map",
    "set",
    "optional",
    "nullable",
    "nullish",
    "lazy",
    "email",
    "url",
    "uuid",
    "guid",
    "iso",
    "custom",
    "instanceof",
    "promise",
    "function",
];

pub fn is_constructor(method: &str) -> bool {
    CONSTRUCTORS.contains(&method)
}

/// `z.<method>(arguments)`.
pub fn construct<'t>(
    evaluator: &Evaluator<'t, '_>,
    method: &str,
    arguments: &[Node<'t>],
    env: &Env,
) -> Val {
    let argument = |index: usize| {
        arguments
            .get(index)
            .map(|node| evaluator.eval(*node, env))
            .unwrap_or_else(|| Val::unknown("missing argument"))
    };
    let zod = match method {
        "string" => Zod::of(json!({"type": "string"})),
        "email" => Zod::of(json!({"type": "string", "format": "email"})),
        "url" => Zod::of(json!({"type": "string", "format": "uri"})),
        "uuid" | "guid" => Zod::of(json!({"type": "string", "format": "uuid"})),
        "number" | "float32" | "float64" => Zod::of(json!({"type": "number"})),
        "int" | "int32" | "uint32" | "bigint" => Zod::of(json!({"type": "integer"})),
        "boolean" => Zod::of(json!({"type": "boolean"})),
        "date" => Zod::of(json!({"type": "string", "format": "date-time"})),
        "null" => Zod::of(json!({"type": "null"})),
        "any" | "unknown" | "undefined" | "void" | "never" => Zod::of(json!({})),
        "object" | "strictObject" | "looseObject" => match argument(0) {
            Val::Object(shape) => object_from_shape(&shape),
            Val::Unknown(_) if arguments.is_empty() => object_from_shape(&Obj::default()),
            _ => Zod::of(json!({"type": "object"})).incomplete(),
        },
        "array" | "set" => {
            let items = to_zod(argument(0));
            let mut zod = Zod::of(json!({"type": "array", "items": Value::Object(items.schema)}));
            zod.complete = items.complete;
            zod
        }
        "enum" => enum_of(argument(0)),
        "nativeEnum" => match argument(0) {
            Val::Object(object) => enum_of(Val::Array(
                object
                    .entries
                    .into_iter()
                    // TypeScript numeric enums also map names back from numbers.
                    .map(|(_, value)| value)
                    .collect(),
            )),
            _ => Zod::of(json!({})).incomplete(),
        },
        "literal" => match argument(0) {
            Val::Array(values) => enum_of(Val::Array(values)),
            value => {
                let (constant, complete) = value.to_json();
                let mut schema = Map::new();
                if let Some(kind) = json_type(&constant) {
                    schema.insert("type".to_owned(), json!(kind));
                }
                schema.insert("const".to_owned(), constant);
                Zod {
                    schema,
                    optional: false,
                    complete,
                }
            }
        },
        "union" => union_of(argument(0)),
        "discriminatedUnion" => union_of(argument(1)),
        "intersection" => {
            let (left, right) = (to_zod(argument(0)), to_zod(argument(1)));
            let complete = left.complete && right.complete;
            let mut zod = Zod::of(json!({"allOf": [left.schema, right.schema]}));
            zod.complete = complete;
            zod
        }
        "tuple" => match argument(0) {
            Val::Array(items) => {
                let items: Vec<Zod> = items.into_iter().map(to_zod).collect();
                let complete = items.iter().all(|item| item.complete);
                let count = items.len();
                let schemas: Vec<Value> = items
                    .into_iter()
                    .map(|item| Value::Object(item.schema))
                    .collect();
                let mut zod = Zod::of(json!({
                    "type": "array", "prefixItems": schemas,
                    "minItems": count, "maxItems": count,
                }));
                zod.complete = complete;
                zod
            }
            _ => Zod::of(json!({"type": "array"})).incomplete(),
        },
        "record" | "map" => {
            let values = if arguments.len() >= 2 {
                to_zod(argument(1))
            } else {
                to_zod(argument(0))
            };
            let mut zod = Zod::of(json!({
                "type": "object", "additionalProperties": Value::Object(values.schema),
            }));
            zod.complete = values.complete;
            zod
        }
        "optional" | "nullable" | "nullish" => {
            return modifier(evaluator, to_zod(argument(0)), method, &[], env);
        }
        // `z.iso.datetime()` and friends arrive here as `iso`; `lazy`, `custom`,
        // `instanceof`, `promise`, `function` say nothing readable about the shape.
        _ => Zod::of(json!({})).incomplete(),
    };
    Val::Zod(Box::new(zod))
}

/// `<schema>.<method>(arguments)`.
pub fn modifier<'t>(
    evaluator: &Evaluator<'t, '_>,
    mut zod: Zod,
    method: &str,
    arguments: &[Node<'t>],
    env: &Env,
) -> Val {
    let argument = |index: usize| {
        arguments
            .get(index)
            .map(|node| evaluator.eval(*node, env))
            .unwrap_or_else(|| Val::unknown("missing argument"))
    };
    match method {
        "optional" => zod.optional = true,
        "nullable" => zod = nullable(zod),
        "nullish" => {
            zod = nullable(zod);
            zod.optional = true;
        }
        "default" | "prefault" | "catch" => {
            zod.optional = true;
            if method == "default" {
                match argument(0) {
                    Val::Function | Val::Unknown(_) => {}
                    value => {
                        let (default, complete) = value.to_json();
                        if complete {
                            zod.schema.insert("default".to_owned(), default);
                        }
                    }
                }
            }
        }
        "describe" => match argument(0) {
            Val::Str(description) => {
                zod.schema
                    .insert("description".to_owned(), Value::String(description));
            }
            _ => zod.complete = false,
        },
        "meta" => {
            if let Val::Object(meta) = argument(0) {
                for key in ["title", "description"] {
                    if let Some(Val::Str(text)) = meta.get(key) {
                        zod.schema
                            .insert(key.to_owned(), Value::String(text.clone()));
                    }
                }
            }
        }
        "min" | "max" | "length" | "gte" | "lte" | "gt" | "lt" | "nonempty" | "positive"
        | "nonnegative" | "negative" | "nonpositive" | "multipleOf" | "step" => {
            let bound = match argument(0) {
                Val::Num(number) => Some(number),
                _ if arguments.is_empty() => None,
                _ => {
                    zod.complete = false;
                    None
                }
            };
            bounds(&mut zod, method, bound);
        }
        "int" | "safe" => {
            if zod.kind() == Some("number") {
                zod.schema.insert("type".to_owned(), json!("integer"));
            }
        }
        "email" => format(&mut zod, "email"),
        "url" => format(&mut zod, "uri"),
        "uuid" | "guid" => format(&mut zod, "uuid"),
        "datetime" => format(&mut zod, "date-time"),
        "date" => format(&mut zod, "date"),
        "time" => format(&mut zod, "time"),
        "ip" | "ipv4" => format(&mut zod, "ipv4"),
        "ipv6" => format(&mut zod, "ipv6"),
        "regex" => {
            let pattern = arguments.first().and_then(|node| {
                (node.kind() == "regex")
                    .then(|| node.field("pattern"))
                    .flatten()
            });
            match pattern {
                Some(pattern) => {
                    zod.schema.insert(
                        "pattern".to_owned(),
                        Value::String(evaluator.node_text(pattern).to_owned()),
                    );
                }
                None => zod.complete = false,
            }
        }
        "array" => {
            let complete = zod.complete;
            zod = Zod::of(json!({"type": "array", "items": Value::Object(zod.schema)}));
            zod.complete = complete;
        }
        "or" => {
            let other = to_zod(argument(0));
            let complete = zod.complete && other.complete;
            zod = Zod::of(json!({"anyOf": [zod.schema, other.schema]}));
            zod.complete = complete;
        }
        "and" => {
            let other = to_zod(argument(0));
            let complete = zod.complete && other.complete;
            zod = Zod::of(json!({"allOf": [zod.schema, other.schema]}));
            zod.complete = complete;
        }
        "extend" | "merge" | "safeExtend" | "augment" => {
            let extra = match argument(0) {
                Val::Object(shape) => object_from_shape(&shape),
                Val::Zod(other) => *other,
                _ => Zod::default().incomplete(),
            };
            zod = merge_objects(zod, extra);
        }
        "partial" => match argument(0) {
            Val::Object(mask) => {
                let keys: Vec<String> = mask.entries.into_iter().map(|(key, _)| key).collect();
                retain_required(&mut zod, |name| !keys.iter().any(|key| key == name));
            }
            _ => {
                zod.schema.remove("required");
            }
        },
        "required" => {
            if let Some(Value::Object(properties)) = zod.schema.get("properties") {
                let all: Vec<Value> = properties.keys().map(|key| json!(key)).collect();
                zod.schema.insert("required".to_owned(), Value::Array(all));
            }
        }
        "pick" | "omit" => match argument(0) {
            Val::Object(mask) => {
                let keys: Vec<String> = mask.entries.into_iter().map(|(key, _)| key).collect();
                let keep = |name: &str| keys.iter().any(|key| key == name) == (method == "pick");
                if let Some(Value::Object(properties)) = zod.schema.get_mut("properties") {
                    properties.retain(|name, _| keep(name));
                }
                retain_required(&mut zod, keep);
            }
            _ => zod.complete = false,
        },
        "keyof" => {
            let keys: Vec<Value> = match zod.schema.get("properties") {
                Some(Value::Object(properties)) => properties.keys().map(|k| json!(k)).collect(),
                _ => Vec::new(),
            };
            zod = Zod::of(json!({"type": "string", "enum": keys}));
        }
        "strict" | "passthrough" | "strip" | "nonstrict" | "catchall" | "loose" | "refine"
        | "superRefine" | "check" | "transform" | "pipe" | "brand" | "readonly" | "trim"
        | "toLowerCase" | "toUpperCase" | "startsWith" | "endsWith" | "includes" | "finite"
        | "unwrap" | "overwrite" | "openapi" | "lowercase" | "uppercase" | "normalize" => {}
        // An unknown method: keep what is known, but say the schema may be partial.
        _ => zod.complete = false,
    }
    Val::Zod(Box::new(zod))
}

/// A property of a schema: `FooSchema.shape` (the raw shape, for `inputSchema:
/// FooSchema.shape`), `.element` of an array.
pub fn property(zod: &Zod, name: &str) -> Val {
    match name {
        "shape" => {
            let Some(Value::Object(properties)) = zod.schema.get("properties") else {
                return Val::unknown("`.shape` of a schema that is not an object");
            };
            let required = required_names(zod);
            let entries = properties
                .iter()
                .map(|(key, schema)| {
                    let mut property = Zod::of(schema.clone());
                    property.optional = !required.iter().any(|name| name == key);
                    property.complete = zod.complete;
                    (key.clone(), Val::Zod(Box::new(property)))
                })
                .collect();
            Val::Object(Obj {
                entries,
                location: None,
                is_map: false,
                classes: Vec::new(),
            })
        }
        "element" => match zod.schema.get("items") {
            Some(items) => Val::Zod(Box::new(Zod::of(items.clone()))),
            None => Val::unknown("`.element` of a schema that is not an array"),
        },
        _ => Val::unknown(format!("the property `{name}` of a Zod schema")),
    }
}

/// `z.object(shape)` for a folded shape.
pub fn object_from_shape(shape: &Obj) -> Zod {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut complete = true;
    for (name, value) in &shape.entries {
        let zod = to_zod(value.clone());
        complete &= zod.complete;
        if !zod.optional {
            required.push(json!(name));
        }
        properties.insert(name.clone(), Value::Object(zod.schema));
    }
    let mut schema = Map::new();
    schema.insert("type".to_owned(), json!("object"));
    schema.insert("properties".to_owned(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".to_owned(), Value::Array(required));
    }
    Zod {
        schema,
        optional: false,
        complete,
    }
}

/// A folded value that should be a Zod schema. A JSON-like literal in a shape (from
/// `Val::from_json`, e.g. a converted schema) is taken as the JSON Schema it is.
fn to_zod(value: Val) -> Zod {
    match value {
        Val::Zod(zod) => *zod,
        Val::Object(object) => {
            let (schema, complete) = Val::Object(object).to_json();
            let mut zod = Zod::of(schema);
            zod.complete = complete;
            zod
        }
        _ => Zod::of(json!({})).incomplete(),
    }
}

/// Whether every value of an object literal is a Zod schema: the SDK's test for a raw
/// shape (`{a: z.string()}`); an empty object counts.
pub fn is_raw_shape(object: &Obj) -> bool {
    object
        .entries
        .iter()
        .all(|(_, value)| matches!(value, Val::Zod(_)))
}

fn enum_of(values: Val) -> Zod {
    let Val::Array(values) = values else {
        if let Val::Object(object) = values {
            // Zod 4 `z.enum({A: "a"})`.
            return enum_of(Val::Array(
                object.entries.into_iter().map(|(_, value)| value).collect(),
            ));
        }
        return Zod::of(json!({})).incomplete();
    };
    let mut complete = true;
    let mut literals = Vec::new();
    for value in values {
        match value {
            Val::Str(text) => literals.push(Value::String(text)),
            Val::Num(number) => literals.push(number_json(number)),
            Val::Bool(flag) => literals.push(Value::Bool(flag)),
            _ => complete = false,
        }
    }
    let kinds: Vec<&str> = literals.iter().filter_map(json_type).collect();
    let mut schema = Map::new();
    if let Some(first) = kinds.first()
        && kinds.iter().all(|kind| kind == first)
    {
        schema.insert("type".to_owned(), json!(first));
    }
    schema.insert("enum".to_owned(), Value::Array(literals));
    Zod {
        schema,
        optional: false,
        complete,
    }
}

fn union_of(options: Val) -> Zod {
    let Val::Array(options) = options else {
        return Zod::of(json!({})).incomplete();
    };
    let options: Vec<Zod> = options.into_iter().map(to_zod).collect();
    let complete = options.iter().all(|option| option.complete);
    let schemas: Vec<Value> = options
        .into_iter()
        .map(|option| Value::Object(option.schema))
        .collect();
    let mut zod = Zod::of(json!({"anyOf": schemas}));
    zod.complete = complete;
    zod
}

fn nullable(zod: Zod) -> Zod {
    let Zod {
        mut schema,
        optional,
        complete,
    } = zod;
    match schema
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_owned)
    {
        Some(kind) if kind != "null" => {
            schema.insert("type".to_owned(), json!([kind, "null"]));
            Zod {
                schema,
                optional,
                complete,
            }
        }
        _ => Zod {
            schema: match json!({"anyOf": [schema, {"type": "null"}]}) {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            optional,
            complete,
        },
    }
}

fn bounds(zod: &mut Zod, method: &str, bound: Option<f64>) {
    let kind = zod.kind().unwrap_or_default().to_owned();
    let (low, high) = match kind.as_str() {
        "string" => ("minLength", "maxLength"),
        "array" => ("minItems", "maxItems"),
        "object" => ("minProperties", "maxProperties"),
        _ => ("minimum", "maximum"),
    };
    let numeric = matches!(kind.as_str(), "number" | "integer");
    let mut set = |key: &str, value: f64| {
        zod.schema.insert(key.to_owned(), number_json(value));
    };
    match (method, bound) {
        ("min" | "gte", Some(value)) => set(low, value),
        ("max" | "lte", Some(value)) => set(high, value),
        ("length", Some(value)) => {
            set(low, value);
            set(high, value);
        }
        ("gt", Some(value)) if numeric => set("exclusiveMinimum", value),
        ("lt", Some(value)) if numeric => set("exclusiveMaximum", value),
        ("multipleOf" | "step", Some(value)) if numeric => set("multipleOf", value),
        ("nonempty", _) => set(low, 1.0),
        ("positive", _) => set("exclusiveMinimum", 0.0),
        ("nonnegative", _) => set("minimum", 0.0),
        ("negative", _) => set("exclusiveMaximum", 0.0),
        ("nonpositive", _) => set("maximum", 0.0),
        _ => {}
    }
}

fn format(zod: &mut Zod, format: &str) {
    zod.schema
        .insert("format".to_owned(), Value::String(format.to_owned()));
}

fn required_names(zod: &Zod) -> Vec<String> {
    match zod.schema.get("required") {
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(|name| name.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn retain_required(zod: &mut Zod, keep: impl Fn(&str) -> bool) {
    let required: Vec<Value> = required_names(zod)
        .into_iter()
        .filter(|name| keep(name))
        .map(Value::String)
        .collect();
    if required.is_empty() {
        zod.schema.remove("required");
    } else {
        zod.schema
            .insert("required".to_owned(), Value::Array(required));
    }
}

fn merge_objects(mut base: Zod, extra: Zod) -> Zod {
    let mut required = required_names(&base);
    let extra_required = required_names(&extra);
    let extra_properties = match extra.schema.get("properties") {
        Some(Value::Object(properties)) => properties.clone(),
        _ => Map::new(),
    };
    let properties = base
        .schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(properties) = properties {
        for (name, schema) in extra_properties {
            required.retain(|existing| *existing != name);
            if extra_required.contains(&name) {
                required.push(name.clone());
            }
            properties.insert(name, schema);
        }
    }
    base.complete &= extra.complete;
    let required: Vec<Value> = required.into_iter().map(Value::String).collect();
    if required.is_empty() {
        base.schema.remove("required");
    } else {
        base.schema
            .insert("required".to_owned(), Value::Array(required));
    }
    base
}

fn json_type(value: &Value) -> Option<&'static str> {
    Some(match value {
        Value::String(_) => "string",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        _ => return None,
    })
}
