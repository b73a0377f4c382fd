//! How long the Grafana function spends on one notification, queue
//! excluded: HMAC or credential check, parsing and the per-alert split.
//!
//! `cargo bench -p grafana`

use std::collections::HashMap;

use criterion::{Criterion, criterion_group, criterion_main};
use grafana::GrafanaFunction;
use grafana::samples::sample;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::runtime::HttpFunction;
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;

fn bench(c: &mut Criterion) {
    let env: HashMap<&str, &str> = [
        ("GRAFANA_BASIC_AUTH", "grafana:bench-password"),
        ("GRAFANA_BEARER_TOKENS", "bench-token"),
        ("GRAFANA_HMAC_SECRET", "bench-hmac-secret"),
        ("GRAFANA_HMAC_TIMESTAMP_HEADER", "X-Grafana-Alerting-Timestamp"),
    ]
    .into();
    let function = GrafanaFunction::from_env(&env).expect("valid settings");
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("valid time");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let publisher = MemoryPublisher::new();

    for name in grafana::samples::NAMES {
        let request = sample(name, &env, NOW, "bench").expect("known sample").to_incoming();
        // Benchmark the success path, not a refusal.
        let reply = runtime.block_on(function.handle(&publisher, &request, now));
        assert_eq!(reply.status, 200, "{name}: {}", String::from_utf8_lossy(&reply.body));
        c.bench_function(&format!("handle {name}"), |b| {
            b.iter(|| runtime.block_on(function.handle(&publisher, &request, now)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
