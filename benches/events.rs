//! Benchmarks of the events writer's work: one batch of 512 opens written
//! to a private `redis-server` (on a unix socket) as the writer sends it,
//! one pipeline. The time per batch is the writer's encoding and reply
//! handling plus Redis's own work; divide by 512 for one open. Scanner opens
//! are the cheapest kind (a stream entry and a daily count), a person's open
//! the dearest (also the open record, the first open, and the profile's
//! `last_open_at` and `opens`). Run with `cargo bench --bench events`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentime::events::{Event, EventKind};
use opentime::expr::{Device, Opener};
use opentime::recipient::RecipientId;
use opentime::store::{Store, StoreConfig};

#[path = "../tests/support/mod.rs"]
mod support;

const BATCH: usize = opentime::events::writer::BATCH;

fn batch(opener: Opener, person: bool) -> Vec<Event> {
    let at = jiff::Timestamp::now();
    let device = Device::from_user_agent(Some(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    ));
    (0..BATCH)
        .map(|n| {
            let recipient = RecipientId::new(format!("cust-{n:06}")).expect("a valid id");
            let mut event = Event::new(
                EventKind::Open,
                "loyalty",
                "gold",
                Some(recipient),
                at,
                opener,
                person,
                device,
            );
            event.render = "9f86d081884c7d659a2feaa0c55ad015".into();
            event
        })
        .collect()
}

fn bench_events(c: &mut Criterion) {
    let redis = support::RedisServer::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let store = runtime
        .block_on(Store::open(&StoreConfig {
            redis_url: Some(redis.url().into()),
            key_prefix: "ot:".into(),
            budget: Duration::from_secs(5),
            demo_dir: "assets/demo".into(),
            tls_ca_file: None,
            topology: opentime::store::Topology::Standalone,
            report_retention_days: 400,
        }))
        .expect("the store opens");

    let mut group = c.benchmark_group("events writer");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, opener, person) in [
        ("512 scanner opens", Opener::Scanner, false),
        ("512 person opens", Opener::Human, true),
    ] {
        let events = batch(opener, person);
        group.bench_function(name, |b| {
            b.iter(|| {
                let refused = runtime
                    .block_on(store.write_events(&events))
                    .expect("Redis takes the batch");
                black_box(refused)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_events);
criterion_main!(benches);
