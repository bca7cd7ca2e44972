//! Decision latency of the policy engine: what the gateway adds to every `tools/call`
//! before forwarding it. Run with `cargo bench --bench policy`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mcpwarden::policy::{self, CallContext, Counters, InMemoryCounters};
use serde_json::json;
use time::macros::datetime;

fn decisions(c: &mut Criterion) {
    let text = std::fs::read_to_string("data/example-policy.json").expect("example policy");
    let compiled = policy::load(&text).expect("valid");
    let counters = InMemoryCounters::new();
    let context = CallContext {
        grant: Some("grant-1"),
        session: Some("session-1"),
        ..CallContext::new(datetime!(2025-06-01 12:00:00 UTC))
    };
    let allowed = json!({"target": "multiagent:1.0", "message": "please run the tests"});
    let refused = json!({"target": "multiagent:1.0", "message": "C-c"});

    c.bench_function("decide/allow_with_limit_and_release", |b| {
        b.iter(|| {
            let decision =
                compiled.decide("send_message", black_box(&allowed), &context, &counters);
            // Give the unit back so the limit never fills during the run.
            if let Some(reservation) = decision.reservation {
                counters.release(reservation);
            }
        })
    });
    c.bench_function("decide/deny_if", |b| {
        b.iter(|| compiled.decide("send_message", black_box(&refused), &context, &counters))
    });
    c.bench_function("decide/hidden_by_default", |b| {
        b.iter(|| compiled.decide(black_box("write_file"), &allowed, &context, &counters))
    });
    c.bench_function("decide/read_no_rules", |b| {
        b.iter(|| compiled.decide(black_box("read_file"), &allowed, &context, &counters))
    });
    c.bench_function("load/example_policy", |b| {
        b.iter(|| policy::load(black_box(&text)))
    });
}

criterion_group!(benches, decisions);
criterion_main!(benches);
