//! Safe, unique file names for report pages, made from untrusted server and tool names.
//!
//! A slug holds only `a-z`, `0-9` and `-`, never starts or ends with `-`, is at most
//! [`MAX_SLUG_LEN`] bytes and is never empty, so a page path built from slugs cannot leave
//! the output folder, needs no URL escaping and means the same file on case-insensitive
//! file systems.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

/// Long enough to read, short enough that `servers/<slug>/<slug>.html` stays far below
/// every file system's path limit.
pub const MAX_SLUG_LEN: usize = 60;

/// Names Windows refuses as file names whatever the extension, and `index`, which is the
/// server page inside a server's folder.
const RESERVED: &[&str] = &[
    "index", "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
    "com8", "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// The slug of `name` before collisions are resolved: lower-case ASCII letters and digits,
/// every other run of characters becomes one `-`. A name with no ASCII letter or digit
/// (`工具`, `...`) gets `<fallback>-<8 hex digits of its SHA-256>` so that distinct names
/// still get distinct, stable slugs.
pub fn slugify(name: &str, fallback: &str) -> String {
    let mut slug = String::with_capacity(name.len().min(MAX_SLUG_LEN));
    let mut pending_dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    if slug.is_empty() {
        let digest = Sha256::digest(name.as_bytes());
        slug = format!(
            "{fallback}-{:02x}{:02x}{:02x}{:02x}",
            digest[0], digest[1], digest[2], digest[3]
        );
    }
    if slug.len() > MAX_SLUG_LEN {
        slug.truncate(MAX_SLUG_LEN);
        while slug.ends_with('-') {
            slug.pop();
        }
    }
    slug
}

/// Hands out slugs that are unique within one folder. Feed names in a fixed order (the
/// catalogue's name order) and the same catalogue always gives the same file names.
#[derive(Debug, Default)]
pub struct SlugAllocator {
    used: HashSet<String>,
}

impl SlugAllocator {
    pub fn new() -> SlugAllocator {
        SlugAllocator::default()
    }

    /// A slug for `name` that this allocator has not handed out before: the plain slug, or
    /// the slug with `-2`, `-3`, ... appended when it is taken or reserved.
    pub fn allocate(&mut self, name: &str, fallback: &str) -> String {
        let base = slugify(name, fallback);
        if !self.is_taken(&base) {
            self.used.insert(base.clone());
            return base;
        }
        let mut counter = 2u64;
        loop {
            let candidate = format!("{base}-{counter}");
            if !self.is_taken(&candidate) {
                self.used.insert(candidate.clone());
                return candidate;
            }
            counter += 1;
        }
    }

    fn is_taken(&self, slug: &str) -> bool {
        RESERVED.contains(&slug) || self.used.contains(slug)
    }

    /// Every slug handed out so far.
    pub fn used(&self) -> &HashSet<String> {
        &self.used
    }

    /// Forgets every slug handed out, keeping the allocation for reuse.
    pub fn clear(&mut self) {
        self.used.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_safe(slug: &str) -> bool {
        !slug.is_empty()
            && slug.len() <= MAX_SLUG_LEN + 8
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-')
    }

    #[test]
    fn slugify_keeps_only_safe_characters() {
        let check = |name: &str, expected: &str| assert_eq!(slugify(name, "tool"), expected);
        check("send_message", "send-message");
        check(
            "io.github.example-labs/tmux-agents",
            "io-github-example-labs-tmux-agents",
        );
        check("../../etc/passwd", "etc-passwd");
        check("..", "tool-5ec1f7e7"); // the first 4 bytes of SHA-256("..")
        check("C:\\Windows\\system32", "c-windows-system32");
        check("<script>alert(1)</script>", "script-alert-1-script");
        check("  Read File  ", "read-file");
        check("naïve-café", "na-ve-caf");
    }

    #[test]
    fn names_without_ascii_get_distinct_hashed_slugs() {
        let a = slugify("工具", "tool");
        let b = slugify("道具", "tool");
        assert!(a.starts_with("tool-") && b.starts_with("tool-"));
        assert_ne!(a, b);
        assert!(is_safe(&a) && is_safe(&b));
        assert_eq!(slugify("", "server").len(), "server-".len() + 8);
    }

    #[test]
    fn long_names_are_cut_without_a_trailing_dash() {
        let name = format!("{}_{}", "a".repeat(MAX_SLUG_LEN - 1), "b".repeat(50));
        let slug = slugify(&name, "tool");
        assert_eq!(slug, "a".repeat(MAX_SLUG_LEN - 1));
    }

    #[test]
    fn allocator_resolves_collisions_and_reserved_names() {
        let mut slugs = SlugAllocator::new();
        assert_eq!(slugs.allocate("send_message", "tool"), "send-message");
        assert_eq!(slugs.allocate("Send-Message", "tool"), "send-message-2");
        assert_eq!(slugs.allocate("send.message", "tool"), "send-message-3");
        // A name that is literally an earlier collision's result still gets its own slug.
        assert_eq!(slugs.allocate("send-message-2", "tool"), "send-message-2-2");
        assert_eq!(slugs.allocate("index", "tool"), "index-2");
        assert_eq!(slugs.allocate("CON", "tool"), "con-2");
        slugs.clear();
        assert_eq!(slugs.allocate("send_message", "tool"), "send-message");
    }

    #[test]
    fn every_allocated_slug_is_safe_and_unique() {
        let names = [
            "a",
            "A",
            "a!",
            "../a",
            "/",
            "\\",
            ".",
            "..",
            "",
            " ",
            "é",
            "%2e%2e",
            "a/../../b",
            "nul",
            "index.html",
            "x\0y",
        ];
        let mut slugs = SlugAllocator::new();
        let mut seen = HashSet::new();
        for name in names {
            let slug = slugs.allocate(name, "tool");
            assert!(is_safe(&slug), "{name:?} gave unsafe slug {slug:?}");
            assert!(seen.insert(slug.clone()), "{name:?} reused {slug:?}");
        }
    }
}
