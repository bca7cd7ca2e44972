//! Writes the rationale: one or two plain sentences saying what the tool does, quoting the
//! words that decided its category and risk, e.g. "It types input into a terminal
//! ("typing it into its tmux pane") ..., so it is Execute, high risk."

use super::RuleSet;
use super::engine::{Evaluation, Evidence};

/// How many quotes, and how many reasons, a sentence names: more reads as a list.
const MAX_QUOTES: usize = 2;
const MAX_FRAGMENTS: usize = 3;
/// Longest quote, in bytes, on either side of the words that matched.
const QUOTE_REACH: usize = 72;

pub(super) fn write(rules: &RuleSet, evaluation: &Evaluation, quotes: &[String]) -> String {
    let compiled = &rules.compiled;
    let category = evaluation.category;
    let risk = evaluation.risk;
    let baseline = category.baseline_risk();

    // The heaviest evidence for the winning category. At equal weight a rule that names a
    // signal is more specific than one that only counts a verb, so it speaks first.
    let mut deciding: Vec<_> = evaluation
        .fired
        .iter()
        .enumerate()
        .filter(|(_, fired)| compiled.rules[fired.rule as usize].category == Some(category))
        .collect();
    deciding.sort_by(|(_, a), (_, b)| {
        let rule_a = &compiled.rules[a.rule as usize];
        let rule_b = &compiled.rules[b.rule as usize];
        rule_b
            .weight
            .total_cmp(&rule_a.weight)
            .then(rule_b.signal.is_some().cmp(&rule_a.signal.is_some()))
            .then(a.rule.cmp(&b.rule))
    });
    let mut used: Vec<&str> = Vec::new();
    let mut reasons = Reasons::default();
    for (position, fired) in deciding {
        let rule = &compiled.rules[fired.rule as usize];
        let Some(fragment) = rule.rationale.as_deref() else {
            continue;
        };
        if used.contains(&fragment) {
            continue;
        }
        let quote = quotes[position].clone();
        if reasons.add(fragment, quote, fired.evidence) {
            used.push(fragment);
        }
        if reasons.full() {
            break;
        }
    }
    let reasons = reasons.render();

    let risk_word = risk.as_str().to_lowercase();
    let mut text = if evaluation.decided.is_none() || reasons.is_empty() {
        format!(
            "Nothing in the definition says what it does, so it is treated as {category} (it may change something), {risk_word} risk."
        )
    } else {
        format!(
            "It {}, so it is {category}, {risk_word} risk.",
            reasons.join(" and ")
        )
    };

    // The signals that moved risk away from the baseline, each named.
    if risk != baseline {
        let mut movers = Reasons::default();
        for (position, fired) in evaluation
            .fired
            .iter()
            .enumerate()
            .filter(|(_, fired)| fired.moved_risk)
        {
            let rule = &compiled.rules[fired.rule as usize];
            let Some(fragment) = rule.rationale.as_deref() else {
                continue;
            };
            if used.contains(&fragment) {
                continue;
            }
            let quote = quotes[position].clone();
            if movers.add(fragment, quote, fired.evidence) {
                used.push(fragment);
            }
            if movers.full() {
                break;
            }
        }
        let movers = movers.render();
        if !movers.is_empty() {
            let direction = if risk > baseline { "rises" } else { "falls" };
            text.push_str(&format!(
                " Risk {direction} from the {category} baseline, {}, to {} because it {}.",
                baseline.as_str().to_lowercase(),
                risk_word,
                movers.join(" and ")
            ));
        }
    }
    if evaluation.confidence < 0.5
        && let Some(reason) = evaluation.low_confidence
    {
        text.push_str(&format!(" Confidence is low: {reason}."));
    }
    text
}

/// Reasons grouped by the words they quote, so one clause is quoted once however many
/// rules it satisfied: "hands input to an agent and types into a terminal ("...")".
#[derive(Default)]
struct Reasons {
    groups: Vec<(Vec<String>, String, Evidence)>,
    fragments: usize,
}

impl Reasons {
    /// Adds a reason; false when it did not fit.
    fn add(&mut self, fragment: &str, quote: String, evidence: Evidence) -> bool {
        if self.full() {
            return false;
        }
        if let Some(group) = self.groups.iter_mut().find(|(_, q, _)| *q == quote) {
            group.0.push(fragment.to_owned());
        } else if self.groups.len() < MAX_QUOTES {
            self.groups
                .push((vec![fragment.to_owned()], quote, evidence));
        } else {
            return false;
        }
        self.fragments += 1;
        true
    }

    fn full(&self) -> bool {
        self.fragments >= MAX_FRAGMENTS
    }

    fn render(&self) -> Vec<String> {
        self.groups
            .iter()
            .map(|(fragments, quote, evidence)| {
                with_quote(&fragments.join(" and "), quote, *evidence)
            })
            .collect()
    }
}

fn with_quote(fragment: &str, quote: &str, evidence: Evidence) -> String {
    if quote.is_empty() {
        return fragment.to_owned();
    }
    match evidence {
        Evidence::Description { .. } => format!("{fragment} (\"{quote}\")"),
        Evidence::NameToken(_) => format!("{fragment} (its name is `{quote}`)"),
        _ => format!("{fragment} ({quote})"),
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
    let mut from = start;
    while from > 0 && start - from < QUOTE_REACH && !is_stop(from - 1) {
        from -= 1;
    }
    let mut to = end;
    while to < bytes.len() && to - end < QUOTE_REACH && !is_stop(to) {
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
    let mut quote = String::new();
    if cut_left {
        quote.push('…');
    }
    let mut last_space = false;
    for c in text[from..to.max(from)].trim().chars() {
        // Quotes sit on one line inside a sentence; hidden newlines must not break it.
        if c.is_whitespace() {
            if !last_space {
                quote.push(' ');
            }
            last_space = true;
        } else if c == '"' {
            quote.push('\'');
            last_space = false;
        } else {
            quote.push(c);
            last_space = false;
        }
    }
    if cut_right {
        quote.push('…');
    }
    quote
}

#[cfg(test)]
mod tests {
    use super::*;

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
