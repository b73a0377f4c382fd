//! How long the Lark function spends on one request, queue excluded:
//! signature check, decryption, parsing and normalization.
//!
//! `cargo bench -p lark` — results are recorded in BENCHMARKS.md.

use std::collections::HashMap;

use criterion::{Criterion, criterion_group, criterion_main};
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::runtime::HttpFunction;
use lark::LarkFunction;
use lark::samples::sample;
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;

fn bench(c: &mut Criterion) {
    let env: HashMap<&str, &str> =
        [("LARK_VERIFICATION_TOKEN", "bench-token"), ("LARK_ENCRYPT_KEY", "bench-encrypt-key")].into();
    let function = LarkFunction::from_env(&env).expect("valid settings");
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("valid time");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let publisher = MemoryPublisher::new();

    for name in ["lark-challenge-encrypted", "lark-message", "lark-card-legacy", "lark-card-legacy-encrypted"] {
        let request = sample(name, &env, NOW, "bench").expect("known sample").to_incoming();
        // Benchmark the success path, not a refusal.
        let reply = runtime.block_on(function.handle(&publisher, &request, now));
        assert_eq!(reply.status, 200, "{name}: {}", String::from_utf8_lossy(&reply.body));
        c.bench_function(&format!("handle {name}"), |b| {
            b.iter(|| runtime.block_on(function.handle(&publisher, &request, now)))
        });
    }

    let mut forged = sample("lark-message", &env, NOW, "bench").expect("known sample").to_incoming();
    forged.headers.insert("x-lark-signature", "0".repeat(64).parse().expect("header value"));
    let reply = runtime.block_on(function.handle(&publisher, &forged, now));
    assert_eq!(reply.status, 401);
    c.bench_function("refuse forged lark-message", |b| {
        b.iter(|| runtime.block_on(function.handle(&publisher, &forged, now)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
