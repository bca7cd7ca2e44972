//! tree-sitter plumbing shared by the language extractors: one parser per thread and
//! grammar, parse with a size of work bounded, error and depth checks, node text.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::ControlFlow;

use tree_sitter::{Node, Parser, Tree};

use super::walk::Language;

/// How deep extractors follow a syntax tree. Real code stays far below; anything deeper is
/// generated or hostile and is reported as [`SkipReason::TooDeep`](super::SkipReason).
pub const MAX_DEPTH: usize = 256;

/// Parsing gives up after this many progress callbacks (tree-sitter calls back every few
/// hundred bytes of work), so a pathological file cannot stall a crawl.
const MAX_PROGRESS_CALLS: usize = 2_000_000;

fn grammar(language: Language) -> tree_sitter::Language {
    match language {
        Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
        Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
        Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
        Language::Python => tree_sitter_python::LANGUAGE.into(),
        Language::Go => tree_sitter_go::LANGUAGE.into(),
        Language::Rust => tree_sitter_rust::LANGUAGE.into(),
        // Manifests are JSON and read with serde_json; the JavaScript grammar parses JSON
        // too, for callers that want positions.
        Language::Manifest => tree_sitter_javascript::LANGUAGE.into(),
    }
}

thread_local! {
    static PARSERS: RefCell<HashMap<Language, Parser>> = RefCell::new(HashMap::new());
}

/// Parses `text` as `language`, reusing this thread's parser. `None` when the grammar
/// cannot be loaded or the parse was cut off.
pub fn parse(language: Language, text: &str) -> Option<Tree> {
    parse_ranges(language, text, &[])
}

/// Parses only `ranges` of `text` (tree-sitter's included ranges; empty means all of it).
/// Nodes keep their offsets and rows in the whole text. The parser is reset to the whole
/// text afterwards, so the next caller on this thread is unaffected.
pub fn parse_ranges(language: Language, text: &str, ranges: &[tree_sitter::Range]) -> Option<Tree> {
    PARSERS.with(|parsers| {
        let mut parsers = parsers.borrow_mut();
        let parser = match parsers.entry(language) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let mut parser = Parser::new();
                parser.set_language(&grammar(language)).ok()?;
                entry.insert(parser)
            }
        };
        if !ranges.is_empty() {
            parser.set_included_ranges(ranges).ok()?;
        }
        let bytes = text.as_bytes();
        let mut calls = 0usize;
        let mut progress = |_: &tree_sitter::ParseState| {
            calls += 1;
            if calls > MAX_PROGRESS_CALLS {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let options = tree_sitter::ParseOptions::new().progress_callback(&mut progress);
        let tree = parser.parse_with_options(
            &mut |offset, _| bytes.get(offset..).unwrap_or_default(),
            None,
            Some(options),
        );
        if tree.is_none() {
            parser.reset();
        }
        if !ranges.is_empty() {
            // An empty list restores the default: the whole document.
            let _ = parser.set_included_ranges(&[]);
        }
        tree
    })
}

/// Parses a file for an extractor: the tree and the row of its first syntax error, or why
/// the file cannot be read (the parser gave up; code nested deeper than [`MAX_DEPTH`]).
///
/// JavaScript and TypeScript nest blocks in braces, so a byte scan of bracket depth
/// ([`brackets_deeper_than`]) decides whether the exact tree walk is needed at all. Python
/// nests by indentation, and the Go and Rust extractors recurse over expressions that
/// nest without brackets, so those always get the exact walk.
pub fn parse_for_extraction(
    language: Language,
    text: &str,
) -> Result<(Tree, Option<usize>), super::SkipReason> {
    let (tree, error_row) = parse_unchecked_depth(language, text)?;
    let cheap_check_suffices = matches!(
        language,
        Language::TypeScript | Language::Tsx | Language::JavaScript
    );
    let too_deep = if cheap_check_suffices {
        brackets_deeper_than(text, MAX_DEPTH) && deeper_than(&tree, MAX_DEPTH)
    } else {
        deeper_than(&tree, MAX_DEPTH)
    };
    if too_deep {
        return Err(super::SkipReason::TooDeep);
    }
    Ok((tree, error_row))
}

/// [`parse_for_extraction`] without the depth check, for an extractor that walks the
/// whole tree anyway and checks depth on that walk (Python): the tree and the row of its
/// first syntax error.
pub fn parse_unchecked_depth(
    language: Language,
    text: &str,
) -> Result<(Tree, Option<usize>), super::SkipReason> {
    let tree = parse(language, text).ok_or_else(|| {
        super::SkipReason::Unreadable(format!(
            "the {} parser gave up on this file",
            language.label()
        ))
    })?;
    let error_row = first_error_row(&tree);
    Ok((tree, error_row))
}

/// The 0-based row of the first ERROR or MISSING node, if the parse had any.
pub fn first_error_row(tree: &Tree) -> Option<usize> {
    let root = tree.root_node();
    if !root.has_error() {
        return None;
    }
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        if node.is_error() || node.is_missing() {
            return Some(node.start_position().row);
        }
        // Descend only into subtrees that hold the error.
        if node.has_error() && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return Some(root.start_position().row);
            }
        }
    }
}

/// Whether any node lies deeper than `limit`; iterative, so it is safe on any input.
pub fn deeper_than(tree: &Tree, limit: usize) -> bool {
    let mut cursor = tree.walk();
    let mut depth = 0usize;
    loop {
        if cursor.goto_first_child() {
            depth += 1;
            if depth > limit {
                return true;
            }
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return false;
            }
            depth -= 1;
        }
    }
}

/// Whether brackets (`(`, `[`, `{`) ever nest deeper than `limit` in `text`, ignoring
/// strings and comments: a byte scan, a hundred times cheaper than walking the tree. Code
/// nested deeper than `limit` in the tree nearly always is in brackets too, so extractors
/// run [`deeper_than`] only when this says yes. (Long operator or member chains nest the
/// tree without brackets; the extractors' own recursion is bounded for those.)
pub fn brackets_deeper_than(text: &str, limit: usize) -> bool {
    let mut depth = 0usize;
    for byte in text.bytes() {
        match byte {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// `child_by_field_name` with the field's id looked up once per thread, grammar and
/// name. tree-sitter finds a field id by comparing the name with the grammar's field
/// names one by one (about 850 instructions a call on the fixture corpus, 250,000 calls);
/// extractors ask for fields by name everywhere, so they call this instead.
pub trait Field<'t> {
    fn field(&self, name: &'static str) -> Option<Node<'t>>;
}

impl<'t> Field<'t> for Node<'t> {
    fn field(&self, name: &'static str) -> Option<Node<'t>> {
        let language = self.language();
        let key = (grammar_key(&language), name.as_ptr() as usize, name.len());
        let id = FIELD_IDS.with(|ids| {
            if let Some(id) = ids.borrow().get(&key) {
                return *id;
            }
            let id = language.field_id_for_name(name);
            ids.borrow_mut().insert(key, id);
            id
        })?;
        self.child_by_field_id(id.get())
    }
}

/// A cheap hasher for keys made of pointers and lengths (no untrusted input reaches it).
#[derive(Default)]
struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }
    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A grammar's identity: its `Language` pointer, read through `Language`'s `Hash` (the
/// pointer is its only field), and the mixing above is one-to-one on a single word.
fn grammar_key(language: &tree_sitter::Language) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = WordHasher::default();
    language.hash(&mut hasher);
    hasher.finish()
}

type FieldIds = HashMap<
    (u64, usize, usize),
    Option<std::num::NonZeroU16>,
    std::hash::BuildHasherDefault<WordHasher>,
>;

thread_local! {
    static FIELD_IDS: RefCell<FieldIds> = RefCell::new(FieldIds::default());
}

/// Appends the named children of `node` to `out`, read with `cursor` (reset to `node`):
/// a whole-tree walk then needs one cursor, not one allocated per node.
pub fn named_children_into<'t>(
    cursor: &mut tree_sitter::TreeCursor<'t>,
    node: Node<'t>,
    out: &mut Vec<Node<'t>>,
) {
    cursor.reset(node);
    if !cursor.goto_first_child() {
        return;
    }
    loop {
        let child = cursor.node();
        if child.is_named() {
            out.push(child);
        }
        if !cursor.goto_next_sibling() {
            return;
        }
    }
}

/// Whether a walk that meets `node` at `depth` has found the tree deeper than
/// [`MAX_DEPTH`]: exactly what [`deeper_than`] says when every node is visited, for the
/// extractors that walk the whole tree anyway instead of walking it once more.
pub fn too_deep_at(node: Node<'_>, depth: usize) -> bool {
    depth >= MAX_DEPTH && node.child_count() > 0
}

/// `node` and its ancestors up to `root`, innermost first; `None` when `node` is not in
/// `root`'s tree.
///
/// tree-sitter 0.26 keeps no parent links: `Node::parent` descends from the root every
/// time, so climbing `d` levels with it costs `d` descents. One descent here finds the
/// whole chain.
pub fn ancestors<'t>(root: Node<'t>, node: Node<'t>) -> Option<Vec<Node<'t>>> {
    let mut chain = vec![root];
    let mut current = root;
    while current.id() != node.id() {
        current = current.child_with_descendant(node)?;
        chain.push(current);
    }
    chain.reverse();
    Some(chain)
}

/// The source text of a node ("" if the range is not valid UTF-8, which cannot happen for
/// text that came in as `&str` unless the grammar splits a character).
pub fn text<'a>(node: Node<'_>, source: &'a str) -> &'a str {
    source.get(node.byte_range()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_finds_errors() {
        let tree = parse(Language::TypeScript, "const a = 1;\nconst b = ;\n").unwrap();
        assert_eq!(first_error_row(&tree), Some(1));
        let tree = parse(Language::Python, "x = 1\n").unwrap();
        assert_eq!(first_error_row(&tree), None);
    }

    #[test]
    fn bracket_depth_is_a_cheap_first_look() {
        assert!(brackets_deeper_than(&"[".repeat(300), MAX_DEPTH));
        assert!(!brackets_deeper_than("f(a[1], {b: (c)})", MAX_DEPTH));
        assert!(!brackets_deeper_than(&"()".repeat(10_000), MAX_DEPTH));
    }

    #[test]
    fn fields_by_cached_id_are_fields_by_name() {
        for (language, source) in [
            (Language::JavaScript, "server.tool(\"a\", {}, f);\n"),
            (Language::TypeScript, "server.tool(\"a\", {}, f);\n"),
            (Language::Python, "mcp.tool(name=\"a\")\n"),
        ] {
            let tree = parse(language, source).unwrap();
            let mut cursor = tree.walk();
            let mut checked = 0;
            loop {
                let node = cursor.node();
                for name in [
                    "function",
                    "arguments",
                    "object",
                    "property",
                    "name",
                    "value",
                ] {
                    // Twice: the first fills the cache, the second reads it.
                    assert_eq!(node.field(name), node.child_by_field_name(name));
                    assert_eq!(node.field(name), node.child_by_field_name(name));
                    checked += 1;
                }
                if cursor.goto_first_child() {
                    continue;
                }
                while !cursor.goto_next_sibling() {
                    if !cursor.goto_parent() {
                        break;
                    }
                }
                if cursor.node() == tree.root_node() {
                    break;
                }
            }
            assert!(checked > 30);
            assert_eq!(tree.root_node().field("no_such_field"), None);
        }
    }

    #[test]
    fn ancestors_are_the_parent_chain() {
        let tree = parse(Language::JavaScript, "function f() { if (a) { g(b); } }\n").unwrap();
        let root = tree.root_node();
        let b = root.descendant_for_byte_range(26, 27).unwrap();
        assert_eq!(b.kind(), "identifier");
        let mut expected = vec![b];
        while let Some(parent) = expected.last().unwrap().parent() {
            expected.push(parent);
        }
        assert_eq!(ancestors(root, b).unwrap(), expected);
        assert_eq!(ancestors(root, root).unwrap(), vec![root]);
        let other = parse(Language::JavaScript, "x;\n").unwrap();
        assert!(ancestors(root, other.root_node().child(0).unwrap()).is_none());
    }

    #[test]
    fn depth_is_measured_without_recursion() {
        let deep = format!("x = {}1{}\n", "[".repeat(5000), "]".repeat(5000));
        let tree = parse(Language::Python, &deep).unwrap();
        assert!(deeper_than(&tree, MAX_DEPTH));
        let tree = parse(Language::Python, "x = [[1]]\n").unwrap();
        assert!(!deeper_than(&tree, MAX_DEPTH));
    }
}
