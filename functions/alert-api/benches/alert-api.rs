//! How long the custom alert function spends on one request, queue
//! excluded: key check, parsing and normalization.
//!
//! `cargo bench -p alert-api`

use std::collections::HashMap;

use alert_api::AlertApiFunction;
use alert_api::samples::sample;
use criterion::{Criterion, criterion_group, criterion_main};
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::runtime::HttpFunction;
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;

fn bench(c: &mut Criterion) {
    let env: HashMap<&str, &str> = [("ALERT_API_KEYS", "bench-key"), ("ALERT_BOT_IDS", "bench-bot")].into();
    let function = AlertApiFunction::from_env(&env).expect("valid settings");
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("valid time");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let publisher = MemoryPublisher::new();

    for name in alert_api::samples::NAMES {
        let request = sample(name, &env, NOW, "bench").expect("known sample").to_incoming();
        // Benchmark the success path, not a refusal.
        let reply = runtime.block_on(function.handle(&publisher, &request, now));
        assert_eq!(reply.status, 202, "{name}: {}", String::from_utf8_lossy(&reply.body));
        c.bench_function(&format!("handle {name}"), |b| {
            b.iter(|| runtime.block_on(function.handle(&publisher, &request, now)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
