//! Writes the rationale: one or two plain sentences saying what the tool does, quoting the
//! words that decided its category and risk, e.g. "It types input into a terminal
//! ("typing it into its tmux pane") ..., so it is Execute, high risk."

use super::engine::{Evaluation, Evidence};
use super::{Quotes, RuleSet};
use crate::model::Risk;

/// How many quotes, and how many reasons, a sentence names: more reads as a list.
const MAX_QUOTES: usize = 2;
const MAX_FRAGMENTS: usize = 3;
/// Longest quote, in bytes, on either side of the words that matched.
const QUOTE_REACH: usize = 72;

/// `quotes` are cut on first use (see [`super::Quotes`]): a rule whose fragment is not
/// reached, or repeats one already said, costs no quote.
pub(super) fn write(rules: &RuleSet, evaluation: &Evaluation, quotes: &Quotes<'_>) -> String {
    let compiled = &rules.compiled;
    let category = evaluation.category;

    // The heaviest evidence for the winning category. At equal weight a rule that names a
    // signal is more specific than one that only counts a verb, so it speaks first.
    let mut deciding: Vec<usize> = Vec::new();
    deciding.extend(
        evaluation
            .fired
            .iter()
            .enumerate()
            .filter(|(_, fired)| compiled.rules[fired.rule as usize].category == Some(category))
            .map(|(position, _)| position),
    );
    deciding.sort_by(|&a, &b| {
        let (a, b) = (&evaluation.fired[a], &evaluation.fired[b]);
        let rule_a = &compiled.rules[a.rule as usize];
        let rule_b = &compiled.rules[b.rule as usize];
        rule_b
            .weight
            .total_cmp(&rule_a.weight)
            .then(rule_b.signal.is_some().cmp(&rule_a.signal.is_some()))
            .then(a.rule.cmp(&b.rule))
    });
    write_text(rules, evaluation, quotes, &deciding)
}

/// The fragments already said; a sentence names at most [`MAX_FRAGMENTS`] and the risk
/// sentence as many again, so they fit in a fixed array.
#[derive(Default)]
struct Used<'a> {
    fragments: [&'a str; 2 * MAX_FRAGMENTS],
    count: usize,
}

impl<'a> Used<'a> {
    fn contains(&self, fragment: &str) -> bool {
        self.fragments[..self.count].contains(&fragment)
    }

    fn push(&mut self, fragment: &'a str) {
        if self.count < self.fragments.len() {
            self.fragments[self.count] = fragment;
            self.count += 1;
        }
    }
}

/// [`write`] once the deciding rules are sorted: `deciding` holds their positions in
/// `evaluation.fired`, heaviest first.
fn write_text(
    rules: &RuleSet,
    evaluation: &Evaluation,
    quotes: &Quotes<'_>,
    deciding: &[usize],
) -> String {
    let category = evaluation.category;
    let risk = evaluation.risk;
    let baseline = category.baseline_risk();
    let mut used = Used::default();
    let mut reasons = Reasons::default();
    reasons.gather(
        deciding.iter().copied(),
        &mut used,
        rules,
        evaluation,
        quotes,
    );

    let mut text = String::new();
    {
        let text = &mut text;
        if evaluation.decided.is_none() || reasons.is_empty() {
            text.extend([
                "Nothing in the definition says what it does; an unknown tool may change something, so it is treated as ",
                category.as_str(),
                ", ",
            ]);
        } else {
            text.push_str("It ");
            reasons.write_to(text);
            text.extend([", so it is ", category.as_str(), ", "]);
        }
        text.extend([lower(risk), " risk."]);

        // The signals that moved risk away from the baseline, each named.
        if risk != baseline {
            let mut movers = Reasons::default();
            let moved = (evaluation.fired.iter().enumerate())
                .filter(|(_, fired)| fired.moved_risk)
                .map(|(position, _)| position);
            movers.gather(moved, &mut used, rules, evaluation, quotes);
            if !movers.is_empty() {
                let direction = if risk > baseline { "rises" } else { "falls" };
                text.extend([
                    " Risk ",
                    direction,
                    " from the ",
                    category.as_str(),
                    " baseline, ",
                    lower(baseline),
                    ", to ",
                    lower(risk),
                    " because it ",
                ]);
                movers.write_to(text);
                text.push('.');
            }
        }
        // Risk signals that fired but left the level where it was (already at their cap or
        // floor): still what a person should weigh, so they are named too.
        let mut held = Reasons::default();
        let unmoved = (evaluation.fired.iter().enumerate())
            .filter(|(_, fired)| {
                let rule = &rules.compiled.rules[fired.rule as usize];
                !fired.moved_risk
                    && rule.category.is_none()
                    && (rule.risk_step > 0 || rule.risk_at_least.is_some())
            })
            .map(|(position, _)| position);
        held.gather(unmoved, &mut used, rules, evaluation, quotes);
        if !held.is_empty() {
            text.push_str(" It also ");
            held.write_to(text);
            text.push('.');
        }
        if evaluation.confidence < 0.5
            && let Some(reason) = evaluation.low_confidence
        {
            text.push_str(" Confidence is low: ");
            text.push_str(reason);
            text.push('.');
        }
    }
    text
}

/// A risk's name in lower case, as the rationale uses it. Spelled out rather than
/// lowered character by character for every verdict (that was ~250 instructions a tool);
/// the test below holds it to `Risk::as_str`.
fn lower(risk: Risk) -> &'static str {
    match risk {
        Risk::Low => "low",
        Risk::Medium => "medium",
        Risk::High => "high",
        Risk::Critical => "critical",
    }
}

/// Reasons grouped by the words they quote, so one clause is quoted once however many
/// rules it satisfied: "hands input to an agent and types into a terminal ("...")".
/// Held in fixed arrays of borrowed text: a sentence names at most [`MAX_QUOTES`] quotes
/// and [`MAX_FRAGMENTS`] reasons.
#[derive(Default)]
struct Reasons<'a> {
    groups: [Group<'a>; MAX_QUOTES],
    used_groups: usize,
    fragments: usize,
}

impl<'a> Reasons<'a> {
    /// The rationale fragments of the rules fired at `positions`, in that order, each said
    /// once across the whole text (`used`), until this sentence is full.
    fn gather(
        &mut self,
        positions: impl Iterator<Item = usize>,
        used: &mut Used<'a>,
        rules: &'a RuleSet,
        evaluation: &Evaluation,
        quotes: &'a Quotes<'_>,
    ) {
        for position in positions {
            let fired = &evaluation.fired[position];
            let rule = &rules.compiled.rules[fired.rule as usize];
            let Some(fragment) = rule.rationale.as_deref() else {
                continue;
            };
            if used.contains(fragment) {
                continue;
            }
            if self.add(fragment, quotes.get(position), fired.evidence) {
                used.push(fragment);
            }
            if self.full() {
                break;
            }
        }
    }
}

#[derive(Default)]
struct Group<'a> {
    fragments: [&'a str; MAX_FRAGMENTS],
    count: usize,
    quote: &'a str,
    evidence: Option<Evidence>,
}

impl<'a> Reasons<'a> {
    /// Adds a reason; false when it did not fit.
    fn add(&mut self, fragment: &'a str, quote: &'a str, evidence: Evidence) -> bool {
        if self.full() {
            return false;
        }
        let groups = &mut self.groups[..self.used_groups];
        if let Some(group) = groups.iter_mut().find(|group| group.quote == quote) {
            group.fragments[group.count] = fragment;
            group.count += 1;
        } else if self.used_groups < MAX_QUOTES {
            let group = &mut self.groups[self.used_groups];
            group.fragments[0] = fragment;
            group.count = 1;
            group.quote = quote;
            group.evidence = Some(evidence);
            self.used_groups += 1;
        } else {
            return false;
        }
        self.fragments += 1;
        true
    }

    fn full(&self) -> bool {
        self.fragments >= MAX_FRAGMENTS
    }

    fn is_empty(&self) -> bool {
        self.used_groups == 0
    }

    /// Every group, joined with " and ", each with its quote.
    fn write_to(&self, text: &mut String) {
        for (index, group) in self.groups[..self.used_groups].iter().enumerate() {
            if index > 0 {
                text.push_str(" and ");
            }
            for (position, fragment) in group.fragments[..group.count].iter().enumerate() {
                if position > 0 {
                    text.push_str(" and ");
                }
                text.push_str(fragment);
            }
            let quote = group.quote;
            if quote.is_empty() {
                continue;
            }
            match group.evidence {
                Some(Evidence::Description { .. } | Evidence::Regex) => {
                    text.push_str(" (\"");
                    text.push_str(quote);
                    text.push_str("\")");
                }
                Some(Evidence::NameToken(_)) => {
                    text.push_str(" (its name is `");
                    text.push_str(quote);
                    text.push_str("`)");
                }
                _ => {
                    text.push_str(" (");
                    text.push_str(quote);
                    text.push(')');
                }
            }
        }
    }
}

/// The clause of `text` around the bytes `start..end`: out to the nearest sentence
/// boundary, at most [`QUOTE_REACH`] bytes either side, on one line.
pub(super) fn clause(text: &str, start: usize, end: usize) -> String {
    let start = start.min(text.len());
    let end = end.clamp(start, text.len());
    let bytes = text.as_bytes();
    let is_stop = |index: usize| {
        matches!(bytes[index], b'.' | b'!' | b'?' | b';' | b'\n')
            && bytes
                .get(index + 1)
                .is_none_or(|next| next.is_ascii_whitespace())
    };
    // Out to just after the last stop before `start` and up to the first stop from `end`,
    // within reach. A table finds the candidates; only those get the full check (a byte at
    // a time through `is_stop` was most of the cost of a quote).
    let lowest = start.saturating_sub(QUOTE_REACH);
    let mut from = lowest;
    let mut window = &bytes[lowest..start];
    while let Some(at) = window.iter().rposition(|&byte| STOP[usize::from(byte)]) {
        if is_stop(lowest + at) {
            from = lowest + at + 1;
            break;
        }
        window = &window[..at];
    }
    let highest = bytes.len().min(end + QUOTE_REACH);
    let mut to = highest;
    let mut offset = end;
    while let Some(at) = bytes[offset..highest]
        .iter()
        .position(|&byte| STOP[usize::from(byte)])
    {
        if is_stop(offset + at) {
            to = offset + at;
            break;
        }
        offset += at + 1;
    }
    while !text.is_char_boundary(from) {
        from += 1;
    }
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    let cut_left = from > 0 && !is_stop(from - 1);
    let cut_right = to < bytes.len() && !is_stop(to);
    let body = crate::model::trim(&text[from..to.max(from)]);
    let mut quote = String::with_capacity(body.len() + 2 * '…'.len_utf8());
    if cut_left {
        quote.push('…');
    }
    // Copies runs of ordinary characters whole; only whitespace and double quotes change.
    // Quotes sit on one line inside a sentence; hidden newlines must not break it.
    let mut last_space = false;
    let mut run = 0;
    if is_one_line(body) {
        // The common case: nothing to change, so one copy (pushing it a word at a time
        // was most of the cost of a quote).
        run = body.len();
        quote.push_str(body);
    } else if body.is_ascii() {
        // Byte by byte: decoding characters and asking Unicode whether each is whitespace
        // was the larger part of cutting a quote. These are exactly the ASCII characters
        // `char::is_whitespace` accepts.
        for (index, &byte) in body.as_bytes().iter().enumerate() {
            let whitespace = matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
            if !whitespace && byte != b'"' {
                last_space = false;
                continue;
            }
            quote.push_str(&body[run..index]);
            run = index + 1;
            last_space = push_separator(&mut quote, whitespace, last_space);
        }
    } else {
        for (index, c) in body.char_indices() {
            let whitespace = c.is_whitespace();
            if !whitespace && c != '"' {
                last_space = false;
                continue;
            }
            quote.push_str(&body[run..index]);
            run = index + c.len_utf8();
            last_space = push_separator(&mut quote, whitespace, last_space);
        }
    }
    quote.push_str(&body[run..]);
    if cut_right {
        quote.push('…');
    }
    quote
}

/// True when `body` (trimmed) is ASCII already on one line with single spaces and no
/// double quotes, so [`clause`] would copy it unchanged.
fn is_one_line(body: &str) -> bool {
    !body.bytes().any(|byte| NOT_ONE_LINE[usize::from(byte)]) && !body.contains("  ")
}

/// The bytes that can end a sentence (`is_stop` in [`clause`] also wants whitespace after).
const STOP: [bool; 256] = byte_table(b".!?;\n", false);

/// The bytes [`clause`] rewrites or cannot copy as they are: whitespace other than a
/// space, double quotes, and every byte outside ASCII.
const NOT_ONE_LINE: [bool; 256] = byte_table(b"\"\t\n\x0b\x0c\r", true);

const fn byte_table(bytes: &[u8], above_ascii: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut index = 0;
    while index < bytes.len() {
        table[bytes[index] as usize] = true;
        index += 1;
    }
    let mut byte = 128;
    while byte < 256 {
        table[byte] = above_ascii;
        byte += 1;
    }
    table
}

/// Writes what stands for a whitespace run (one space) or a double quote (a single
/// quote); returns whether the quote now ends in a space.
fn push_separator(quote: &mut String, whitespace: bool, last_space: bool) -> bool {
    if whitespace {
        if !last_space {
            quote.push(' ');
        }
        true
    } else {
        quote.push('\'');
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_is_the_risk_name_in_lower_case() {
        for &risk in Risk::ALL {
            assert_eq!(lower(risk), risk.as_str().to_ascii_lowercase());
        }
    }

    /// The clause as first written, a byte at a time: the table-driven search must cut
    /// exactly the same text.
    fn clause_reference(text: &str, start: usize, end: usize) -> String {
        let start = start.min(text.len());
        let end = end.clamp(start, text.len());
        let bytes = text.as_bytes();
        let is_stop = |index: usize| {
            matches!(bytes[index], b'.' | b'!' | b'?' | b';' | b'\n')
                && bytes
                    .get(index + 1)
                    .is_none_or(|next| next.is_ascii_whitespace())
        };
        let mut from = start;
        let lowest = start.saturating_sub(QUOTE_REACH);
        while from > lowest && !is_stop(from - 1) {
            from -= 1;
        }
        let mut to = end;
        let highest = bytes.len().min(end + QUOTE_REACH);
        while to < highest && !is_stop(to) {
            to += 1;
        }
        while !text.is_char_boundary(from) {
            from += 1;
        }
        while !text.is_char_boundary(to) {
            to -= 1;
        }
        let cut_left = from > 0 && !is_stop(from - 1);
        let cut_right = to < bytes.len() && !is_stop(to);
        let body = text[from..to.max(from)].trim();
        let mut quote = String::new();
        if cut_left {
            quote.push('…');
        }
        let mut last_space = false;
        for c in body.chars() {
            if c.is_whitespace() {
                if !last_space {
                    quote.push(' ');
                }
                last_space = true;
            } else {
                quote.push(if c == '"' { '\'' } else { c });
                last_space = false;
            }
        }
        if cut_right {
            quote.push('…');
        }
        quote
    }

    proptest::proptest! {
        #[test]
        fn clause_cuts_as_the_reference_does(
            text in "[a-z .!?;\"\n\t]{0,200}|[a-zé .;\n\u{a0}]{0,160}",
            start in 0usize..220,
            length in 0usize..12,
        ) {
            proptest::prop_assert_eq!(
                clause(&text, start, start + length),
                clause_reference(&text, start, start + length)
            );
        }
    }

    #[test]
    fn clause_stops_at_sentences_and_cuts_long_text() {
        let text = "First one. Send keys to the pane. Last.";
        let start = text.find("keys").unwrap_or(0);
        assert_eq!(clause(text, start, start + 4), "Send keys to the pane");
        let long = "x".repeat(500);
        let quote = clause(&long, 250, 251);
        assert!(quote.starts_with('…') && quote.ends_with('…'));
        assert!(quote.len() < 200);
        assert_eq!(clause("", 0, 0), "");
        let unicode = "ééééé délete ééééé";
        let at = unicode.find("délete").unwrap_or(0);
        assert!(clause(unicode, at, at + 3).contains("délete"));
    }
}
