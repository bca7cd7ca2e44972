//! Parsing only the parts of a big file that can register a tool.
//!
//! Parsing a 1 MB bundle whole costs about 250 ms, nearly all of it tree-sitter's parse
//! and the release of its tree; the registrations in it are a few KB. So for big files the
//! extractor parses *windows*: the top-level statements that spell a registration method
//! name, handed to tree-sitter as included ranges (nodes keep their real byte offsets and
//! rows, so locations do not change). Folding a registration then looks names up in the
//! windowed tree; every name that is not found there is recorded by the evaluator, and if
//! the name occurs anywhere outside the windows, the statements holding those occurrences
//! are added and the windows are read again. A name that occurs nowhere else is undefined
//! in the whole file too, so the windowed reading equals the whole-file reading.
//!
//! The statement boundaries come from a byte scan that knows strings, template literals,
//! comments, regular-expression literals and bracket depth ([`statement_starts`]). It
//! may be wrong on odd input; the caller then falls back to the whole file: when the scan
//! does not end balanced, when the windowed parse has a syntax error, or when the windows
//! grow past half the file.

use tree_sitter::{Point, Range};

/// Byte offsets where top-level statements start, ascending, starting with 0 and ending
/// with `text.len()`. `None` when the scan does not end balanced (a construct it does not
/// understand), in which case the caller parses the whole file.
///
/// A boundary is placed after a `;` at depth 0, and before a line at depth 0 that starts
/// with a declaration keyword (`const`, `let`, `var`, `function`, `async function`,
/// `class`, `export`, `import`), which covers code written without semicolons and the
/// `}` that ends a function declaration. Statements not split by either rule stay
/// together, which only makes a window larger.
pub fn statement_starts(text: &str) -> Option<Vec<usize>> {
    let bytes = text.as_bytes();
    let mut starts = vec![0usize];
    scan(text, |at, byte, depth| {
        if depth != 0 {
            return;
        }
        match byte {
            b';' => push_start(&mut starts, at + 1),
            b'\n' if starts_declaration(&bytes[at + 1..]) => push_start(&mut starts, at + 1),
            _ => {}
        }
    })?;
    push_start(&mut starts, bytes.len());
    Some(starts)
}

/// Walks `text` as JavaScript tokens and calls `on_code(offset, byte, depth)` for each
/// newline, `;` and punctuation byte that is code (not inside a string, template text,
/// comment or regular expression), with the bracket depth there. `None` when the text does
/// not end balanced and outside any literal.
fn scan(text: &str, mut on_code: impl FnMut(usize, u8, usize)) -> Option<()> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    // Depths at which a template literal's `${` opened; its `}` resumes the template.
    let mut templates: Vec<usize> = Vec::new();
    // The last significant byte outside comments and whitespace, and whether it ended a
    // keyword after which `/` starts a regular expression.
    let mut last: u8 = b';';
    let mut last_word_is_keyword = false;
    let mut i = 0usize;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b'\n' => {
                on_code(i, byte, depth);
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = memchr_newline(bytes, i);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = find(bytes, i + 2, b"*/")? + 2;
            }
            b'/' => {
                let regex = last_word_is_keyword
                    || !(last.is_ascii_alphanumeric()
                        || matches!(last, b'_' | b'$' | b')' | b']' | b'}' | b'"' | b'\'' | b'`'));
                i = if regex { skip_regex(bytes, i)? } else { i + 1 };
                last = b'/';
                last_word_is_keyword = false;
                if regex {
                    // A regex literal is an operand, like an identifier.
                    last = b'a';
                }
            }
            b'\'' | b'"' => {
                i = skip_string(bytes, i)?;
                last = byte;
                last_word_is_keyword = false;
            }
            b'`' => {
                i = skip_template(bytes, i + 1, &mut depth, &mut templates)?;
                last = b'`';
                last_word_is_keyword = false;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                last = byte;
                last_word_is_keyword = false;
                i += 1;
            }
            b')' | b']' | b'}' => {
                if depth == 0 {
                    return None;
                }
                if byte == b'}' && templates.last() == Some(&depth) {
                    templates.pop();
                    depth -= 1;
                    i = skip_template(bytes, i + 1, &mut depth, &mut templates)?;
                    last = b'`';
                } else {
                    depth -= 1;
                    last = byte;
                    i += 1;
                }
                last_word_is_keyword = false;
            }
            b';' => {
                on_code(i, byte, depth);
                last = byte;
                last_word_is_keyword = false;
                i += 1;
            }
            _ if is_ident(byte) => {
                let begin = i;
                while i < bytes.len() && is_ident(bytes[i]) {
                    i += 1;
                }
                let word = &bytes[begin..i];
                last = bytes[i - 1];
                last_word_is_keyword = REGEX_AFTER.contains(&word);
            }
            _ => {
                on_code(i, byte, depth);
                last = byte;
                last_word_is_keyword = false;
                i += 1;
            }
        }
    }
    (depth == 0 && templates.is_empty()).then_some(())
}

/// Whether the top-level statement `statement` declares `name` in the program's scope,
/// the way the evaluator's scope reads declarations: a name bound by `const`/`let`/`var`
/// (before a declarator's `=`), the name of a `function`, `class` or `enum`, or any name
/// in an `import`. Errs towards yes (a name in a type annotation counts); a statement
/// that only uses the name (`var A = z.object(...)` for `z`) does not declare it.
pub fn declares(statement: &str, name: &str) -> bool {
    let mut rest = skip_trivia(statement);
    for prefix in ["export ", "default ", "declare ", "async ", "abstract "] {
        if let Some(stripped) = rest.strip_prefix(prefix) {
            rest = skip_trivia(stripped);
        }
    }
    let has_word = |text: &str| {
        let bytes = text.as_bytes();
        text.match_indices(name).any(|(start, _)| {
            let end = start + name.len();
            (start == 0 || !is_ident(bytes[start - 1]))
                && bytes.get(end).is_none_or(|byte| !is_ident(*byte))
        })
    };
    if rest.starts_with("import") {
        return has_word(rest);
    }
    for keyword in ["function", "class ", "enum ", "const enum "] {
        if let Some(after) = rest.strip_prefix(keyword) {
            let head_end = after.find(['(', '{', '<']).unwrap_or(after.len());
            let head = &after[..head_end];
            let head = head.split(" extends ").next().unwrap_or(head);
            return has_word(head);
        }
    }
    let Some(body) = ["const ", "let ", "var ", "using "]
        .iter()
        .find_map(|keyword| rest.strip_prefix(keyword))
    else {
        return false;
    };
    // Binding parts: from the keyword or a depth-0 `,` to the next depth-0 `=`.
    let bytes = body.as_bytes();
    let mut parts: Vec<(usize, usize)> = Vec::new();
    let mut part_start = Some(0usize);
    let balanced = scan(body, |at, byte, depth| {
        if depth != 0 {
            return;
        }
        match byte {
            b'=' if part_start.is_some()
                && !matches!(bytes.get(at + 1), Some(b'=' | b'>'))
                && !matches!(
                    at.checked_sub(1).map(|before| bytes[before]),
                    Some(b'=' | b'!' | b'<' | b'>')
                ) =>
            {
                if let Some(start) = part_start.take() {
                    parts.push((start, at));
                }
            }
            b',' => {
                if let Some(start) = part_start.take() {
                    parts.push((start, at));
                }
                part_start = Some(at + 1);
            }
            _ => {}
        }
    });
    if balanced.is_none() {
        // Not understood: say yes, which only makes a window larger.
        return true;
    }
    if let Some(start) = part_start {
        parts.push((start, body.len()));
    }
    parts
        .into_iter()
        .any(|(start, end)| body.get(start..end).is_some_and(has_word))
}

/// `text` past leading whitespace and comments.
fn skip_trivia(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("//") {
            text = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return text;
        }
    }
}

/// Keywords after which `/` begins a regular expression rather than a division.
const REGEX_AFTER: &[&[u8]] = &[
    b"return",
    b"typeof",
    b"instanceof",
    b"in",
    b"of",
    b"new",
    b"delete",
    b"void",
    b"throw",
    b"case",
    b"do",
    b"else",
    b"yield",
    b"await",
];

const DECLARATION_KEYWORDS: &[&[u8]] = &[
    b"const ",
    b"let ",
    b"var ",
    b"function ",
    b"function*",
    b"async function",
    b"class ",
    b"export ",
    b"import ",
    b"import{",
];

fn starts_declaration(line: &[u8]) -> bool {
    let indent = line
        .iter()
        .position(|byte| !matches!(byte, b' ' | b'\t' | b'\r'))
        .unwrap_or(line.len());
    let rest = &line[indent..];
    DECLARATION_KEYWORDS
        .iter()
        .any(|keyword| rest.starts_with(keyword))
}

fn push_start(starts: &mut Vec<usize>, at: usize) {
    if starts.last().is_some_and(|last| *last < at) {
        starts.push(at);
    }
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|byte| *byte == b'\n')
        .map_or(bytes.len(), |offset| from + offset)
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|offset| from + offset)
}

/// Past the closing quote of the string starting at `start`; `None` if a line ends first.
fn skip_string(bytes: &[u8], start: usize) -> Option<usize> {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return None,
            byte if byte == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Scans template text from `i` (just past a backtick or a `}` that closed a `${`): to
/// past the closing backtick, or into a `${`, which raises the depth and is recorded.
fn skip_template(
    bytes: &[u8],
    mut i: usize,
    depth: &mut usize,
    templates: &mut Vec<usize>,
) -> Option<usize> {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'`' => return Some(i + 1),
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                *depth += 1;
                templates.push(*depth);
                return Some(i + 2);
            }
            _ => i += 1,
        }
    }
    None
}

/// Past the regular-expression literal starting at `start` (its flags included); `None`
/// if a line ends first.
fn skip_regex(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    let mut in_class = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return None,
            b'[' => {
                in_class = true;
                i += 1;
            }
            b']' => {
                in_class = false;
                i += 1;
            }
            b'/' if !in_class => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                    i += 1;
                }
                return Some(i);
            }
            _ => i += 1,
        }
    }
    None
}

/// Sorted, merged byte ranges of whole statements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Windows {
    spans: Vec<(usize, usize)>,
}

impl Windows {
    /// Adds the statement that holds byte `at`.
    pub fn add_statement_at(&mut self, starts: &[usize], at: usize) {
        // `starts` begins with 0 and ends with the text's length.
        let index = starts.partition_point(|start| *start <= at);
        let (Some(begin), Some(end)) = (
            starts.get(index.saturating_sub(1)),
            starts.get(index.min(starts.len() - 1)),
        ) else {
            return;
        };
        if begin < end {
            self.spans.push((*begin, *end));
        }
    }

    /// Sorts and merges touching spans.
    pub fn normalise(&mut self) {
        self.spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.spans.len());
        for (begin, end) in self.spans.drain(..) {
            match merged.last_mut() {
                Some(last) if begin <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((begin, end)),
            }
        }
        self.spans = merged;
    }

    pub fn contains(&self, at: usize) -> bool {
        let index = self.spans.partition_point(|(begin, _)| *begin <= at);
        index > 0 && at < self.spans[index - 1].1
    }

    pub fn bytes(&self) -> usize {
        self.spans.iter().map(|(begin, end)| end - begin).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The spans as tree-sitter ranges, with rows and columns from `lines`.
    pub fn ranges(&self, lines: &LineIndex) -> Vec<Range> {
        self.spans
            .iter()
            .map(|(begin, end)| Range {
                start_byte: *begin,
                end_byte: *end,
                start_point: lines.point(*begin),
                end_point: lines.point(*end),
            })
            .collect()
    }
}

/// Where each line of a text starts, for tree-sitter's points.
pub struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        LineIndex {
            newlines: text
                .bytes()
                .enumerate()
                .filter(|(_, byte)| *byte == b'\n')
                .map(|(offset, _)| offset)
                .collect(),
        }
    }

    fn point(&self, at: usize) -> Point {
        let row = self.newlines.partition_point(|newline| *newline < at);
        let line_start = if row == 0 {
            0
        } else {
            self.newlines[row - 1] + 1
        };
        Point {
            row,
            column: at - line_start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(text: &str) -> Vec<&str> {
        let starts = statement_starts(text).unwrap();
        starts
            .windows(2)
            .map(|pair| text[pair[0]..pair[1]].trim())
            .filter(|statement| !statement.is_empty())
            .collect()
    }

    #[test]
    fn splits_at_semicolons_and_declaration_lines() {
        let text = "import { z } from \"zod\";\nconst a = { b: 1 };\nfunction f() {\n  return 1;\n}\nvar x = 2\nserver.tool(\"a\", () => {});\n";
        assert_eq!(
            statements(text),
            [
                "import { z } from \"zod\";",
                "const a = { b: 1 };",
                "function f() {\n  return 1;\n}",
                "var x = 2\nserver.tool(\"a\", () => {});",
            ]
        );
    }

    #[test]
    fn strings_templates_comments_and_regexes_do_not_move_depth() {
        let text = concat!(
            "const a = \"{;\" + '(' + `x ${ { y: \"}\" }.y } ;{`;\n",
            "// a comment with { ;\n",
            "/* and { another ; */\n",
            "const r = /[/{]+;/g.test(s) ? 1 / 2 : 3;\n",
            "const s = f(a) / 2;\n",
        );
        let parts = statements(text);
        assert_eq!(parts.len(), 4, "{parts:?}");
        assert!(parts[1].starts_with("// a comment"), "{parts:?}");
        assert!(parts[2].starts_with("const r ="), "{parts:?}");
        assert!(parts[3].starts_with("const s ="), "{parts:?}");
    }

    #[test]
    fn declarations_are_told_from_uses() {
        assert!(declares("const TOOL_NAME = \"x\";", "TOOL_NAME"));
        assert!(declares("export const A = 1, B = f(A);", "B"));
        assert!(declares("var { a, b: c } = obj;", "c"));
        assert!(declares("const X: Tool = { name: \"x\" };", "X"));
        assert!(declares(
            "// note\nexport default function listTools() {}",
            "listTools"
        ));
        assert!(declares("class Cache extends Base {}", "Cache"));
        assert!(declares("import { z } from \"zod\";", "z"));
        assert!(declares(
            "var x = 1, /* y */ y = /[,=]/.test(s) ? 1 : 2, w = 3;",
            "w"
        ));
        assert!(!declares(
            "var Settings1Schema = z.object({ a: z.string() });",
            "z"
        ));
        assert!(!declares("function f(z) { return z; }", "z"));
        assert!(!declares("server.tool(NAME, () => {});", "NAME"));
        assert!(!declares("const a = (x, y) => x === y, b = 2;", "x"));
    }

    #[test]
    fn unbalanced_input_is_refused() {
        assert!(statement_starts("function f() {").is_none());
        assert!(statement_starts("const a = 'open").is_none());
        assert!(statement_starts("}").is_none());
    }

    #[test]
    fn windows_merge_and_answer_membership() {
        let text = "a;b;c;d;";
        let starts = statement_starts(text).unwrap();
        let mut windows = Windows::default();
        windows.add_statement_at(&starts, 0);
        windows.add_statement_at(&starts, 2);
        windows.add_statement_at(&starts, 6);
        windows.normalise();
        assert_eq!(windows.spans, [(0, 4), (6, 8)]);
        assert!(windows.contains(3) && !windows.contains(4) && windows.contains(7));
        assert_eq!(windows.bytes(), 6);
        let ranges = windows.ranges(&LineIndex::new("a;b;\nc;d;"));
        assert_eq!(ranges[1].start_point, Point { row: 1, column: 1 });
    }
}
