//! JSON paths (`tools.send_message.limits[0].window`) and where they sit in a policy file
//! (line and column), so every `policy check` error can point at the text.
//!
//! Why a hand-written scanner: serde_json gives positions only for syntax errors, and the
//! crates that keep spans through deserialisation either replace `serde_json::Value` with
//! their own tree or lag behind serde. We only need "where does this path start", over
//! text that serde_json has already accepted, which is a small recursive walk. It also
//! finds duplicate object keys, which serde_json silently resolves (the last one wins) —
//! a real hazard in a security policy.

use std::collections::HashMap;
use std::fmt;

/// One step into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the root of a document. Displays as `tools.send_message.limits[0]`; keys
/// that are not plain identifiers display quoted: `tools["fs.read"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JsonPath(pub Vec<Segment>);

impl JsonPath {
    pub fn root() -> JsonPath {
        JsonPath(Vec::new())
    }

    pub fn key(&self, key: impl Into<String>) -> JsonPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.into()));
        JsonPath(segments)
    }

    pub fn index(&self, index: usize) -> JsonPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        JsonPath(segments)
    }

    /// The path without its last segment; the root stays the root.
    pub fn parent(&self) -> JsonPath {
        let mut segments = self.0.clone();
        segments.pop();
        JsonPath(segments)
    }

    /// Builds a path from a root-relative list of keys, for tests and callers that think
    /// in strings: `JsonPath::from_keys(["tools", "x"])`.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> JsonPath {
        JsonPath(
            keys.into_iter()
                .map(|key| Segment::Key(key.to_owned()))
                .collect(),
        )
    }
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(root)");
        }
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if is_plain_key(key) => {
                    if position > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) => {
                    let quoted = serde_json::Value::String(key.clone()).to_string();
                    write!(f, "[{quoted}]")?;
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A 1-based line and column (the column counts characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where each value of a document starts, and where its key starts when it is an object member.
#[derive(Debug, Default)]
pub struct PositionIndex {
    values: HashMap<JsonPath, Position>,
    keys: HashMap<JsonPath, Position>,
    /// Object keys written twice: the path of the second occurrence and where it is.
    pub duplicates: Vec<(JsonPath, Position)>,
}

impl PositionIndex {
    /// Indexes `text`. Never fails: on text that is not JSON it indexes what it could read.
    pub fn build(text: &str) -> PositionIndex {
        let mut scanner = Scanner {
            chars: text.char_indices().peekable(),
            text,
            line: 1,
            column: 1,
            index: PositionIndex::default(),
        };
        scanner.skip_whitespace();
        let _ = scanner.value(&JsonPath::root(), 0);
        scanner.index
    }

    /// Where the value at `path` starts.
    pub fn value(&self, path: &JsonPath) -> Option<Position> {
        self.values.get(path).copied()
    }

    /// Where the key of the member at `path` starts.
    pub fn key(&self, path: &JsonPath) -> Option<Position> {
        self.keys.get(path).copied()
    }

    /// The best position for a message about `path`: the value, else the nearest ancestor's.
    pub fn locate(&self, path: &JsonPath) -> Position {
        let mut current = path.clone();
        loop {
            if let Some(position) = self.value(&current) {
                return position;
            }
            if current.0.is_empty() {
                return Position { line: 1, column: 1 };
            }
            current = current.parent();
        }
    }

    /// For a message about a member that should not be there (an unknown field): its key.
    pub fn locate_key(&self, path: &JsonPath) -> Position {
        self.key(path).unwrap_or_else(|| self.locate(path))
    }
}

/// Deep nesting is refused rather than recursed into: policies are shallow, and the
/// scanner must not overflow the stack on hostile input.
const MAX_DEPTH: usize = 128;

struct Scanner<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    text: &'a str,
    line: usize,
    column: usize,
    index: PositionIndex,
}

/// The scanner stopped: the text is not JSON from here on.
struct Stop;

impl Scanner<'_> {
    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }

    fn bump(&mut self) -> Option<(usize, char)> {
        let next = self.chars.next()?;
        if next.1 == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(next)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), Stop> {
        match self.bump() {
            Some((_, c)) if c == wanted => Ok(()),
            _ => Err(Stop),
        }
    }

    fn value(&mut self, path: &JsonPath, depth: usize) -> Result<(), Stop> {
        if depth > MAX_DEPTH {
            return Err(Stop);
        }
        // The first occurrence of a duplicated key keeps its place; the duplicate is reported.
        let position = self.position();
        self.index.values.entry(path.clone()).or_insert(position);
        match self.peek().ok_or(Stop)? {
            '{' => self.object(path, depth),
            '[' => self.array(path, depth),
            '"' => self.string().map(drop),
            _ => {
                // A number, true, false or null: everything up to a delimiter.
                while let Some(c) = self.peek() {
                    if matches!(c, ',' | '}' | ']' | ' ' | '\t' | '\n' | '\r') {
                        break;
                    }
                    self.bump();
                }
                Ok(())
            }
        }
    }

    fn object(&mut self, path: &JsonPath, depth: usize) -> Result<(), Stop> {
        self.expect('{')?;
        self.skip_whitespace();
        if self.peek() == Some('}') {
            self.bump();
            return Ok(());
        }
        let mut seen = std::collections::HashSet::new();
        loop {
            self.skip_whitespace();
            let key_position = self.position();
            let key = self.string()?;
            let member = path.key(key.clone());
            if !seen.insert(key) {
                self.index.duplicates.push((member.clone(), key_position));
            }
            self.index
                .keys
                .entry(member.clone())
                .or_insert(key_position);
            self.skip_whitespace();
            self.expect(':')?;
            self.skip_whitespace();
            self.value(&member, depth + 1)?;
            self.skip_whitespace();
            match self.bump() {
                Some((_, ',')) => continue,
                Some((_, '}')) => return Ok(()),
                _ => return Err(Stop),
            }
        }
    }

    fn array(&mut self, path: &JsonPath, depth: usize) -> Result<(), Stop> {
        self.expect('[')?;
        self.skip_whitespace();
        if self.peek() == Some(']') {
            self.bump();
            return Ok(());
        }
        let mut index = 0;
        loop {
            self.skip_whitespace();
            self.value(&path.index(index), depth + 1)?;
            index += 1;
            self.skip_whitespace();
            match self.bump() {
                Some((_, ',')) => continue,
                Some((_, ']')) => return Ok(()),
                _ => return Err(Stop),
            }
        }
    }

    /// Reads a string literal and decodes it with serde_json, so escapes mean exactly what
    /// they mean to the deserialiser.
    fn string(&mut self) -> Result<String, Stop> {
        let (start, quote) = self.bump().ok_or(Stop)?;
        if quote != '"' {
            return Err(Stop);
        }
        loop {
            match self.bump().ok_or(Stop)? {
                (_, '\\') => {
                    self.bump().ok_or(Stop)?;
                }
                (end, '"') => {
                    let literal = self.text.get(start..end + 1).ok_or(Stop)?;
                    return serde_json::from_str(literal).map_err(|_| Stop);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_display_like_code() {
        let path = JsonPath::root()
            .key("tools")
            .key("send_message")
            .key("limits")
            .index(0);
        assert_eq!(path.to_string(), "tools.send_message.limits[0]");
        assert_eq!(
            JsonPath::root().key("tools").key("fs.read").to_string(),
            r#"tools["fs.read"]"#
        );
        assert_eq!(JsonPath::root().to_string(), "(root)");
    }

    #[test]
    fn index_finds_values_keys_and_duplicates() {
        let text = "{\n  \"a\": [1, {\"b\": \"x\\\"y\"}],\n  \"a\": true\n}";
        let index = PositionIndex::build(text);
        let a = JsonPath::from_keys(["a"]);
        assert_eq!(index.key(&a), Some(Position { line: 2, column: 3 }));
        assert_eq!(
            index.value(&a.index(1).key("b")),
            Some(Position {
                line: 2,
                column: 18
            })
        );
        assert_eq!(index.duplicates.len(), 1);
        assert_eq!(index.duplicates[0].1, Position { line: 3, column: 3 });
    }

    #[test]
    fn index_survives_broken_text() {
        let index = PositionIndex::build("{\"a\": [1, ");
        assert!(index.value(&JsonPath::from_keys(["a"])).is_some());
        assert_eq!(
            index.locate(&JsonPath::from_keys(["zz"])),
            Position { line: 1, column: 1 }
        );
    }
}
