//! Every rule's own examples: each positive example must make the rule fire and each
//! negative must not. A rule without a passing example is unfinished.

use mcpwarden::classify::{RuleSet, ServerContext};

#[test]
fn every_rule_fires_on_its_positive_examples_and_not_on_its_negatives() {
    let rules = RuleSet::embedded().expect("the embedded rules are valid");
    let mut failures = Vec::new();
    for rule in rules.rules() {
        assert!(
            !rule.examples.positive.is_empty(),
            "rule {} has no positive example",
            rule.id
        );
        for (expect, examples) in [
            (true, &rule.examples.positive),
            (false, &rule.examples.negative),
        ] {
            for example in examples {
                let tool = example.to_tool();
                let server = example.server.clone().unwrap_or_default();
                let context = ServerContext {
                    name: "",
                    description: &server,
                };
                let fired = rules
                    .explain(&tool, &context)
                    .fired
                    .iter()
                    .any(|fired| fired.id == rule.id);
                if fired != expect {
                    failures.push(format!(
                        "{} ({}): {} example {:?} / {:?} {}",
                        rule.id,
                        rule.file.display(),
                        if expect { "positive" } else { "negative" },
                        example.name,
                        example.description,
                        if expect { "did not fire" } else { "fired" }
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} rule examples failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
