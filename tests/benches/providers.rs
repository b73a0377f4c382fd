//! One bench harness for every provider in the registry: the CPU time a
//! function spends on each of its samples (verification, decryption,
//! parsing, normalization, and the processability check of each Envelope),
//! plus one request signed with other secrets, refused with 401. The queue
//! is a publisher that accepts and drops, so nothing else is timed.
//!
//! `cargo bench -p inlet-tests --bench providers` (all), or a filter:
//! `cargo bench -p inlet-tests --bench providers -- lark/`. A new provider
//! is benched as soon as it is in the registry. Results: BENCHMARKS.md.

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use inlet_cli::providers::PROVIDERS;
use inlet_shared::queue::{PublishError, Publisher, QueueMessage};
use inlet_shared::samples::dev_settings;
use inlet_testkit::conformance::{NOW, forge};
use time::OffsetDateTime;

/// Accepts every message and keeps none, so a long run does not grow.
struct DroppingPublisher;

#[async_trait]
impl Publisher for DroppingPublisher {
    async fn publish(&self, _: &[QueueMessage]) -> Result<(), PublishError> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let settings = dev_settings();
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("valid time");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    for provider in PROVIDERS {
        let function = (provider.open)(&settings).unwrap_or_else(|e| panic!("{}: {e}", provider.name));
        for name in provider.sample_names {
            let Some(sample) = (provider.sample)(name, &settings, NOW, "bench") else { continue };
            let request = sample.to_incoming();
            // Time the success path, never a refusal.
            let reply = runtime.block_on(function.handle_boxed(&DroppingPublisher, &request, now));
            assert!(reply.status.is_success(), "{name}: {}", String::from_utf8_lossy(&reply.body));
            c.bench_function(&format!("{}/{name}", provider.name), |b| {
                b.iter(|| runtime.block_on(function.handle_boxed(&DroppingPublisher, &request, now)))
            });
        }
        let forged_settings = forge(&settings, provider.signing_settings);
        let first =
            provider.sample_names.iter().find_map(|name| (provider.sample)(name, &forged_settings, NOW, "bench"));
        let Some(forged) = first.filter(|_| forged_settings != settings) else { continue };
        let request = forged.to_incoming();
        let reply = runtime.block_on(function.handle_boxed(&DroppingPublisher, &request, now));
        assert_eq!(reply.status, 401, "{}: forged {}", provider.name, forged.name);
        c.bench_function(&format!("{}/refused-forged-{}", provider.name, forged.name), |b| {
            b.iter(|| runtime.block_on(function.handle_boxed(&DroppingPublisher, &request, now)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
