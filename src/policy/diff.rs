//! `policy diff`: what changed between two policies, in words, with everything that got
//! looser first — that is what a reviewer must not miss.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde::Serialize;

use super::engine::{describe_limit, tool_rule_path};
use super::model::{Condition, DefaultAction, Limit, Policy, ToolRule};

/// Which way a change moves access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Something that was refused, hidden or limited is now let through more.
    Looser,
    /// The reverse.
    Tighter,
    /// Neither clearly (a message, a mixed change): worth reading.
    Changed,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Looser => "looser",
            Direction::Tighter => "tighter",
            Direction::Changed => "changed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub direction: Direction,
    /// Where in the new policy (or the old one, for removals).
    pub path: String,
    pub message: String,
}

/// What one tool gets under a policy.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Access<'a> {
    Hidden,
    DeniedByDefault,
    AllowedByDefault,
    Configured(&'a ToolRule),
}

fn access<'a>(policy: &'a Policy, name: &str) -> Access<'a> {
    if policy
        .hide
        .iter()
        .any(|hidden| hidden == "*" || hidden == name)
    {
        return Access::Hidden;
    }
    match (policy.tools.get(name), policy.default) {
        (Some(rule), _) => Access::Configured(rule),
        (None, DefaultAction::Deny) => Access::DeniedByDefault,
        (None, DefaultAction::Allow) => Access::AllowedByDefault,
    }
}

fn restricts(rule: &ToolRule) -> bool {
    !rule.limits.is_empty()
        || !rule.require.is_empty()
        || !rule.deny_if.is_empty()
        || rule.pin.is_some()
        || rule.approval.is_some()
}

/// Every change from `old` to `new`: looser first, then tighter, then other; by path within.
pub fn diff(old: &Policy, new: &Policy) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut push = |direction, path: String, message: String| {
        changes.push(Change {
            direction,
            path,
            message,
        })
    };
    match (old.default, new.default) {
        (DefaultAction::Deny, DefaultAction::Allow) => push(
            Direction::Looser,
            "default".to_owned(),
            "the default changed from deny to allow: every tool the policy does not name is now allowed".to_owned(),
        ),
        (DefaultAction::Allow, DefaultAction::Deny) => push(
            Direction::Tighter,
            "default".to_owned(),
            "the default changed from allow to deny: tools the policy does not name are now hidden".to_owned(),
        ),
        _ => {}
    }
    let star = |policy: &Policy| policy.hide.iter().any(|name| name == "*");
    match (star(old), star(new)) {
        (true, false) => push(
            Direction::Looser,
            "hide".to_owned(),
            "\"*\" was removed from hide: tools are no longer all hidden".to_owned(),
        ),
        (false, true) => push(
            Direction::Tighter,
            "hide".to_owned(),
            "\"*\" was added to hide: every tool is now hidden".to_owned(),
        ),
        _ => {}
    }
    let empty = Vec::new();
    let old_all = old.all_tools.as_ref().map_or(&empty, |all| &all.limits);
    let new_all = new.all_tools.as_ref().map_or(&empty, |all| &all.limits);
    compare_limits(
        old_all,
        new_all,
        "all_tools.limits",
        "every tool",
        &mut push,
    );

    let names: BTreeSet<&str> = [old, new]
        .iter()
        .flat_map(|policy| {
            policy
                .tools
                .keys()
                .map(String::as_str)
                .chain(policy.hide.iter().map(String::as_str))
        })
        .filter(|name| *name != "*")
        .collect();
    for name in names {
        let path = tool_rule_path(name);
        match (access(old, name), access(new, name)) {
            (Access::Configured(before), Access::Configured(after)) => {
                compare_rules(name, &path, before, after, &mut push);
            }
            (before, after) if before == after => {}
            (Access::Hidden, Access::Configured(_)) => {
                push(
                    Direction::Looser,
                    path,
                    format!("`{name}` is no longer hidden and is now allowed, under its rule"),
                );
            }
            (Access::Hidden | Access::DeniedByDefault, Access::AllowedByDefault) => {
                push(
                    Direction::Looser,
                    path,
                    format!("`{name}` is now allowed without any rule (default allow)"),
                );
            }
            (Access::DeniedByDefault, Access::Configured(_)) => {
                push(
                    Direction::Looser,
                    path,
                    format!("`{name}` is newly allowed, under its rule"),
                );
            }
            (Access::Hidden, Access::DeniedByDefault) => {
                push(
                    Direction::Changed,
                    path,
                    format!(
                        "`{name}` is no longer listed in hide, but the default deny still hides it"
                    ),
                );
            }
            (Access::DeniedByDefault, Access::Hidden) => {
                push(
                    Direction::Changed,
                    path,
                    format!("`{name}` is now listed in hide (it was already denied by default)"),
                );
            }
            (Access::Configured(before), Access::AllowedByDefault) => {
                let direction = if restricts(before) {
                    Direction::Looser
                } else {
                    Direction::Changed
                };
                push(
                    direction,
                    path,
                    format!(
                        "`{name}` lost its rule; the default allow now lets every call through"
                    ),
                );
            }
            (Access::AllowedByDefault, Access::Configured(after)) => {
                if restricts(after) {
                    push(
                        Direction::Tighter,
                        path,
                        format!("`{name}` now has a rule restricting it"),
                    );
                }
            }
            (Access::Configured(_) | Access::AllowedByDefault, Access::Hidden) => {
                push(Direction::Tighter, path, format!("`{name}` is now hidden"));
            }
            (Access::Configured(_) | Access::AllowedByDefault, Access::DeniedByDefault) => {
                push(
                    Direction::Tighter,
                    path,
                    format!("`{name}` is no longer allowed (denied by default)"),
                );
            }
            (before, after) => {
                push(
                    Direction::Changed,
                    path,
                    format!("`{name}` changed from {before:?} to {after:?}"),
                );
            }
        }
    }
    changes.sort_by(|a, b| (a.direction, &a.path).cmp(&(b.direction, &b.path)));
    changes
}

fn compare_rules(
    name: &str,
    path: &str,
    before: &ToolRule,
    after: &ToolRule,
    push: &mut impl FnMut(Direction, String, String),
) {
    compare_limits(
        &before.limits,
        &after.limits,
        &format!("{path}.limits"),
        &format!("`{name}`"),
        push,
    );
    compare_list(
        &before.require,
        &after.require,
        describe_condition,
        &format!("{path}.require"),
        "requirement",
        push,
    );
    // deny_if rules are matched by their conditions, so a reworded refusal is one change.
    let conditions_of = |rule: &super::model::DenyRule| {
        rule.conditions
            .iter()
            .map(describe_condition)
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let old_rules: Vec<String> = before.deny_if.iter().map(conditions_of).collect();
    let new_rules: Vec<String> = after.deny_if.iter().map(conditions_of).collect();
    for (index, rule) in before.deny_if.iter().enumerate() {
        let key = &old_rules[index];
        match new_rules.iter().position(|other| other == key) {
            None => push(
                Direction::Looser,
                format!("{path}.deny_if"),
                format!("refusal rule removed: {}", describe_deny(key)),
            ),
            Some(found) if after.deny_if[found].on_deny != rule.on_deny => push(
                Direction::Changed,
                format!("{path}.deny_if[{found}].on_deny"),
                format!(
                    "refusal message changed: {:?} → {:?}",
                    rule.on_deny.as_deref().unwrap_or(""),
                    after.deny_if[found].on_deny.as_deref().unwrap_or("")
                ),
            ),
            Some(_) => {}
        }
    }
    for (index, key) in new_rules.iter().enumerate() {
        if !old_rules.contains(key) {
            push(
                Direction::Tighter,
                format!("{path}.deny_if[{index}]"),
                format!("refusal rule added: {}", describe_deny(key)),
            );
        }
    }
    match (&before.pin, &after.pin) {
        (None, Some(_)) => push(
            Direction::Tighter,
            format!("{path}.pin"),
            "definition now pinned".to_owned(),
        ),
        (Some(_), None) => push(
            Direction::Looser,
            format!("{path}.pin"),
            "pin removed: any definition of the tool is now accepted".to_owned(),
        ),
        (Some(a), Some(b)) if a != b => push(
            Direction::Looser,
            format!("{path}.pin"),
            format!(
                "pin changed: a new definition is accepted ({a} → {b}); review what the tool now does"
            ),
        ),
        _ => {}
    }
    match (&before.approval, &after.approval) {
        (None, Some(_)) => push(
            Direction::Tighter,
            format!("{path}.approval"),
            "calls now need a person's approval".to_owned(),
        ),
        (Some(_), None) => push(
            Direction::Looser,
            format!("{path}.approval"),
            "approval removed: calls no longer need a person".to_owned(),
        ),
        (Some(a), Some(b)) if a != b => push(
            Direction::Changed,
            format!("{path}.approval"),
            "approval message changed".to_owned(),
        ),
        _ => {}
    }
}

fn describe_deny(conditions: &str) -> String {
    if conditions.is_empty() {
        "refuse every call".to_owned()
    } else {
        format!("refuse when {conditions}")
    }
}

fn describe_condition(condition: &Condition) -> String {
    match &condition.value {
        Some(value) => format!("{} {} {value}", condition.path, condition.op.as_str()),
        None => format!("{} {}", condition.path, condition.op.as_str()),
    }
}

fn compare_list<T: PartialEq>(
    before: &[T],
    after: &[T],
    describe: impl Fn(&T) -> String,
    path: &str,
    what: &str,
    push: &mut impl FnMut(Direction, String, String),
) {
    for item in before.iter().filter(|item| !after.contains(item)) {
        push(
            Direction::Looser,
            path.to_owned(),
            format!("{what} removed: {}", describe(item)),
        );
    }
    for (index, item) in after
        .iter()
        .enumerate()
        .filter(|(_, item)| !before.contains(item))
    {
        push(
            Direction::Tighter,
            format!("{path}[{index}]"),
            format!("{what} added: {}", describe(item)),
        );
    }
}

/// Calls per second a limit allows; a longer window at the same rate allows bigger bursts.
fn allowance(limit: &Limit) -> (f64, i64) {
    (
        limit.max as f64 / limit.window.seconds() as f64,
        limit.window.seconds(),
    )
}

fn compare_limits(
    before: &[Limit],
    after: &[Limit],
    path: &str,
    whose: &str,
    push: &mut impl FnMut(Direction, String, String),
) {
    for old in before {
        match after.iter().position(|new| new.counter == old.counter) {
            None => push(
                Direction::Looser,
                path.to_owned(),
                format!(
                    "limit removed from {whose}: {} (counter `{}`)",
                    describe_limit(old),
                    old.counter
                ),
            ),
            Some(index) => {
                let new = &after[index];
                if new == old {
                    continue;
                }
                let (old_rate, old_burst) = allowance(old);
                let (new_rate, new_burst) = allowance(new);
                let amount = new_rate
                    .partial_cmp(&old_rate)
                    .unwrap_or(Ordering::Equal)
                    .then(new_burst.cmp(&old_burst));
                // A stricter scope shares one count among more callers.
                let sharing = old.scope.strictness().cmp(&new.scope.strictness());
                let direction = match (amount, sharing) {
                    (Ordering::Greater, Ordering::Greater | Ordering::Equal)
                    | (Ordering::Equal, Ordering::Greater) => Direction::Looser,
                    (Ordering::Less, Ordering::Less | Ordering::Equal)
                    | (Ordering::Equal, Ordering::Less) => Direction::Tighter,
                    _ => Direction::Changed,
                };
                let verb = match direction {
                    Direction::Looser => "loosened",
                    Direction::Tighter => "tightened",
                    Direction::Changed => "changed",
                };
                push(
                    direction,
                    format!("{path}[{index}]"),
                    format!(
                        "limit on {whose} {verb}: {} → {} (counter `{}`)",
                        describe_limit(old),
                        describe_limit(new),
                        new.counter
                    ),
                );
            }
        }
    }
    for (index, new) in after.iter().enumerate() {
        if !before.iter().any(|old| old.counter == new.counter) {
            push(
                Direction::Tighter,
                format!("{path}[{index}]"),
                format!(
                    "limit added to {whose}: {} (counter `{}`)",
                    describe_limit(new),
                    new.counter
                ),
            );
        }
    }
}
