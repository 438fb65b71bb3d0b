//! Every metric the server exports, in one place, with its help text.
//!
//! Labels are bounded: routes, template names and variant ids come from the
//! loaded templates, webhook and feed names from the configuration, outcomes and
//! opener classes from fixed lists. No label
//! ever holds a recipient id, a token or a query value.

use std::time::Instant;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub const REQUESTS: (&str, &str) = (
    "opentime_requests_total",
    "HTTP requests by route, template, variant and outcome.",
);
pub const REQUEST_SECONDS: (&str, &str) = (
    "opentime_request_duration_seconds",
    "Time from a request's arrival to its response head, by route.",
);
pub const STORE_SECONDS: (&str, &str) = (
    "opentime_store_duration_seconds",
    "Time spent on one recipient state lookup, including failed ones.",
);
pub const STORE_ERRORS: (&str, &str) = (
    "opentime_store_errors_total",
    "State lookups that failed, by kind (timeout, unavailable); the default variant was served.",
);
pub const RENDER_SECONDS: (&str, &str) = (
    "opentime_render_duration_seconds",
    "Time to render and encode one image, on the blocking pool.",
);
pub const RENDERS: (&str, &str) = (
    "opentime_renders_total",
    "Images rendered (cache misses that ran a render).",
);
pub const RENDERS_IN_FLIGHT: (&str, &str) = ("opentime_renders_in_flight", "Renders running now.");
pub const RENDER_QUEUE: (&str, &str) = (
    "opentime_render_queue",
    "Requests waiting for a render slot now.",
);
pub const CACHE_LOOKUPS: (&str, &str) = (
    "opentime_render_cache_lookups_total",
    "Render cache lookups by result (hit, miss).",
);
pub const CACHE_BYTES: (&str, &str) = (
    "opentime_render_cache_bytes",
    "Bytes of images held in the render cache.",
);
pub const GLYPH_CACHE_BYTES: (&str, &str) = (
    "opentime_glyph_cache_bytes",
    "Bytes of rasterized glyphs held in the glyph cache.",
);
pub const SHAPE_CACHE_BYTES: (&str, &str) = (
    "opentime_shape_cache_bytes",
    "Bytes of shaped text runs held in the shaping cache.",
);
pub const MISSING_GLYPH_RENDERS: (&str, &str) = (
    "opentime_missing_glyph_renders_total",
    "Renders whose text had a character no bundled font of its family has; the character was left out, never drawn as a box.",
);
pub const LOCALE_FALLBACKS: (&str, &str) = (
    "opentime_locale_fallbacks_total",
    "Locales that CLDR could not read in a text's words helpers, written in English instead.",
);
pub const FALLBACKS: (&str, &str) = (
    "opentime_fallbacks_total",
    "Pre-rendered fallback images served, by template and reason (render_error, overload, anonymous_budget).",
);
pub const RENDERS_AHEAD: (&str, &str) = (
    "opentime_renders_ahead_total",
    "Countdown seconds rendered ahead of the requests that will want them.",
);
pub const DEADLINE_ERRORS: (&str, &str) = (
    "opentime_deadline_errors_total",
    "Countdown deadlines that did not resolve or parse, by template; each counted as expired.",
);
pub const CONDITION_ERRORS: (&str, &str) = (
    "opentime_condition_errors_total",
    "Conditions that failed at run time and counted as false, by template.",
);
pub const PARAMS_DROPPED: (&str, &str) = (
    "opentime_params_dropped_total",
    "Declared query parameters dropped for exceeding their max length, by template.",
);
pub const GEO_LOOKUPS: (&str, &str) = (
    "opentime_geo_lookups_total",
    "People's requests looked up in the geo database, by outcome (located, not_found, error, forwarded_untrusted: behind a forwarded header the server does not trust, so not looked up).",
);
pub const OPENS: (&str, &str) = (
    "opentime_opens_total",
    "Image requests by template, variant and opener class (human, apple_proxy, gmail_proxy, yahoo_proxy, scanner).",
);
pub const CLICKS: (&str, &str) = (
    "opentime_clicks_total",
    "Click-throughs by template, variant and opener class.",
);
pub const CONVERSIONS: (&str, &str) = (
    "opentime_conversions_total",
    "Conversions reported through the API, by result (counted, duplicate, unattributed, refused).",
);
pub const VOTES: (&str, &str) = (
    "opentime_votes_total",
    "Poll votes by poll, option and result (counted, unchanged, machine, retracted, anonymous, store_error).",
);
pub const PREFERENCE_CHANGES: (&str, &str) = (
    "opentime_preference_changes_total",
    "Saved changes to recipients' email preferences, by source (preference_center, one_click).",
);
pub const EVENTS_BUFFERED: (&str, &str) = (
    "opentime_events_buffered",
    "Events waiting in memory to be written to the store.",
);
pub const EVENTS_WRITTEN: (&str, &str) = (
    "opentime_events_written_total",
    "Events written to the store.",
);
pub const EVENT_BATCHES: (&str, &str) = (
    "opentime_event_batches_total",
    "Batches of events written to the store (events written / batches is the mean batch).",
);
pub const EVENTS_DROPPED: (&str, &str) = (
    "opentime_events_dropped_total",
    "Events dropped because the in-memory buffer was full (the store was down for long).",
);
pub const EVENT_WRITE_ERRORS: (&str, &str) = (
    "opentime_event_write_errors_total",
    "Event batches the store did not take, by kind (each retried), and single writes it refused for good (kind refused).",
);
pub const COUPONS: (&str, &str) = (
    "opentime_coupons_total",
    "Coupon code lookups at first opens and clicks, by pool and result (drawn, exhausted, error).",
);
pub const LOCKS: (&str, &str) = (
    "opentime_locks_total",
    "Renders locked at a first human open, by template and result (locked, error).",
);
pub const REMOTE_IMAGES: (&str, &str) = (
    "opentime_remote_images_total",
    "Image layers from a URL in state, by result (ok, not_allowed, timeout, ...).",
);
pub const REMOTE_IMAGE_CACHE_BYTES: (&str, &str) = (
    "opentime_remote_image_cache_bytes",
    "Bytes of decoded remote images held in their cache.",
);
pub const SOURCE_CALLS: (&str, &str) = (
    "opentime_source_calls_total",
    "Calls made to templates' sources (customer APIs), by source (template/name).",
);
pub const SOURCE_HITS: (&str, &str) = (
    "opentime_source_hits_total",
    "Source answers served from cache (this replica's or Redis), by source.",
);
pub const SOURCE_STALE: (&str, &str) = (
    "opentime_source_stale_total",
    "Opens given a source's last good answer because a fresh one could not be had, by source.",
);
pub const SOURCE_ERRORS: (&str, &str) = (
    "opentime_source_errors_total",
    "Source answers that could not be had, by source and kind (timeout, status, bad_json, too_large, fetch, circuit_open, ...).",
);
pub const SOURCE_SECONDS: (&str, &str) = (
    "opentime_source_seconds",
    "Time of calls to templates' sources, by source.",
);
pub const SOURCE_CIRCUITS_OPEN: (&str, &str) = (
    "opentime_source_circuit_open",
    "1 while a source host is skipped after a run of failures (circuit breaker), by host.",
);
pub const EXPERIMENT_WINNERS: (&str, &str) = (
    "opentime_experiment_winner",
    "1 for the winning arm of each decided experiment, by experiment and arm.",
);
pub const SHARED_CACHE_LOOKUPS: (&str, &str) = (
    "opentime_shared_cache_lookups_total",
    "Lookups in the render cache shared in Redis, after a local miss, by result (hit, miss, error).",
);
pub const SHARED_CACHE_WRITES: (&str, &str) = (
    "opentime_shared_cache_writes_total",
    "Renders offered to the shared cache, by result (stored, full, too_large, error, dropped: the writer's queue was full), and renders kept in their replica because they were asked for once (not_repeated).",
);
pub const SHARED_CACHE_WRITE_BATCHES: (&str, &str) = (
    "opentime_shared_cache_write_batches_total",
    "Batches of renders written to the shared cache, two Redis round trips each.",
);
pub const RECOMPRESSIONS: (&str, &str) = (
    "opentime_render_recompressions_total",
    "Cached PNGs re-encoded smaller after a hit, by result (smaller, not_smaller, postponed: no render slot was free, tried again at a later hit).",
);
pub const RECOMPRESSED_BYTES_SAVED: (&str, &str) = (
    "opentime_render_recompressed_bytes_saved_total",
    "Bytes the compact encodings of cached PNGs saved, each counted once, at its re-encoding.",
);
pub const WARM_RECIPIENTS: (&str, &str) = (
    "opentime_warm_recipients_total",
    "Recipients handled by cache warming jobs, by result (rendered, cached, error).",
);
pub const WEBHOOK_DELIVERED: (&str, &str) = (
    "opentime_webhook_events_delivered_total",
    "Events a webhook's receiver took (answered 2xx), by webhook.",
);
pub const WEBHOOK_RETRIES: (&str, &str) = (
    "opentime_webhook_retries_total",
    "Deliveries a webhook's receiver did not take (an answer other than 2xx, or none), each tried again later, by webhook.",
);
pub const WEBHOOK_FAILED: (&str, &str) = (
    "opentime_webhook_events_failed_total",
    "Events given up after their receiver failed every attempt for a day, by webhook.",
);
pub const WEBHOOK_PENDING: (&str, &str) = (
    "opentime_webhook_pending_events",
    "Entries of the events stream a webhook has yet to go through (read and not acknowledged, or not read yet), by webhook; every replica reports the same figure.",
);
pub const FEED_REFRESHES: (&str, &str) = (
    "opentime_feed_refreshes_total",
    "Product feed refreshes this replica ran, by feed and result (ok, error).",
);
pub const FEED_ITEMS: (&str, &str) = (
    "opentime_feed_items",
    "Items of a product feed this replica serves, by feed.",
);
pub const FEED_REFRESH_SECONDS: (&str, &str) = (
    "opentime_feed_refresh_duration_seconds",
    "Time one product feed refresh took (fetch, parse and store), by feed, failed ones included.",
);
pub const TEMPLATES_LOADED: (&str, &str) =
    ("opentime_templates_loaded", "Templates in the live set.");
pub const CONNECTIONS_REFUSED: (&str, &str) = (
    "opentime_connections_refused_total",
    "Connections closed at accept, by reason (per_ip: the address held its share of the connection slots).",
);
pub const BUILD_INFO: (&str, &str) = (
    "opentime_build_info",
    "Always 1; its version label is the running build's version.",
);
pub const STORE_UP: (&str, &str) = (
    "opentime_store_up",
    "Whether the store answered its last health check (1) or not (0); replicas serve default variants while it is 0.",
);
pub const TEMPLATE_RELOADS: (&str, &str) = (
    "opentime_template_reloads_total",
    "Template reloads by result (ok, partial: some files kept their previous version).",
);

/// Buckets from 100 µs to 2.5 s: the image path lives at the low end, and a
/// slow store or render must still be visible.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Buckets from 10 ms to 5 min: a feed refresh fetches and parses a whole
/// catalogue.
const FEED_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The server's metrics and the registry that exports them.
pub struct Metrics {
    registry: Registry,
    names: Vec<String>,
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub store_seconds: Histogram,
    pub store_errors: IntCounterVec,
    pub render_seconds: Histogram,
    pub renders: IntCounter,
    pub renders_in_flight: IntGauge,
    pub render_queue: IntGauge,
    pub cache_lookups: IntCounterVec,
    pub cache_bytes: IntGauge,
    pub glyph_cache_bytes: IntGauge,
    pub shape_cache_bytes: IntGauge,
    pub missing_glyph_renders: IntCounter,
    /// Brought up to `words::locale_fallbacks()` at each scrape.
    pub locale_fallbacks: IntCounter,
    pub fallbacks: IntCounterVec,
    pub condition_errors: IntCounterVec,
    pub deadline_errors: IntCounterVec,
    pub renders_ahead: IntCounter,
    pub params_dropped: IntCounterVec,
    pub geo_lookups: IntCounterVec,
    pub opens: IntCounterVec,
    pub clicks: IntCounterVec,
    pub conversions: IntCounterVec,
    pub votes: IntCounterVec,
    pub preference_changes: IntCounterVec,
    pub events_buffered: IntGauge,
    pub events_written: IntCounter,
    pub event_batches: IntCounter,
    pub events_dropped: IntCounter,
    pub event_write_errors: IntCounterVec,
    pub coupons: IntCounterVec,
    pub locks: IntCounterVec,
    pub remote_images: IntCounterVec,
    pub remote_image_cache_bytes: IntGauge,
    pub source_calls: IntCounterVec,
    pub source_hits: IntCounterVec,
    pub source_stale: IntCounterVec,
    pub source_errors: IntCounterVec,
    pub source_seconds: HistogramVec,
    pub source_circuit_open: IntGaugeVec,
    pub experiment_winners: IntGaugeVec,
    pub templates_loaded: IntGauge,
    pub store_up: IntGauge,
    pub connections_refused: IntCounterVec,
    pub template_reloads: IntCounterVec,
    pub shared_cache_lookups: IntCounterVec,
    pub shared_cache_writes: IntCounterVec,
    pub shared_cache_write_batches: IntCounter,
    pub recompressions: IntCounterVec,
    pub recompressed_bytes_saved: IntCounter,
    pub warm_recipients: IntCounterVec,
    pub webhook_delivered: IntCounterVec,
    pub webhook_retries: IntCounterVec,
    pub webhook_failed: IntCounterVec,
    pub webhook_pending: IntGaugeVec,
    pub feed_refreshes: IntCounterVec,
    pub feed_items: IntGaugeVec,
    pub feed_refresh_seconds: HistogramVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics(..)")
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        // Every series name exported, also before a labelled metric has
        // its first child (gathering shows only those that have one).
        let names = std::cell::RefCell::new(Vec::new());
        let series = |name: &str, histogram: bool| {
            let mut names = names.borrow_mut();
            names.push(name.to_string());
            if histogram {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.push(format!("{name}{suffix}"));
                }
            }
        };
        let counter = |(name, help): (&str, &str), labels: &[&str]| {
            series(name, false);
            let metric = IntCounterVec::new(Opts::new(name, help), labels)
                .expect("metric names and labels are valid constants");
            registry
                .register(Box::new(metric.clone()))
                .expect("each metric is registered once");
            metric
        };
        let gauge = |(name, help): (&str, &str)| {
            series(name, false);
            let metric = IntGauge::new(name, help).expect("metric names are valid constants");
            registry
                .register(Box::new(metric.clone()))
                .expect("each metric is registered once");
            metric
        };
        let gauges = |(name, help): (&str, &str), labels: &[&str]| {
            series(name, false);
            let metric = IntGaugeVec::new(Opts::new(name, help), labels)
                .expect("metric names and labels are valid constants");
            registry
                .register(Box::new(metric.clone()))
                .expect("each metric is registered once");
            metric
        };
        let histograms = |(name, help): (&str, &str), labels: &[&str]| {
            series(name, true);
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            let metric = HistogramVec::new(opts, labels)
                .expect("metric names and labels are valid constants");
            registry
                .register(Box::new(metric.clone()))
                .expect("each metric is registered once");
            metric
        };
        let histogram = |(name, help): (&str, &str)| {
            series(name, true);
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            let metric = Histogram::with_opts(opts).expect("metric names are valid constants");
            registry
                .register(Box::new(metric.clone()))
                .expect("each metric is registered once");
            metric
        };
        series(BUILD_INFO.0, false);
        let build_info = IntGaugeVec::new(Opts::new(BUILD_INFO.0, BUILD_INFO.1), &["version"])
            .expect("metric names and labels are valid constants");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry
            .register(Box::new(build_info))
            .expect("each metric is registered once");
        // RSS, CPU and open file descriptors, read from /proc at each scrape.
        #[cfg(target_os = "linux")]
        {
            for name in [
                "process_cpu_seconds_total",
                "process_open_fds",
                "process_max_fds",
                "process_virtual_memory_bytes",
                "process_resident_memory_bytes",
                "process_start_time_seconds",
                "process_threads",
            ] {
                series(name, false);
            }
            registry
                .register(Box::new(
                    prometheus::process_collector::ProcessCollector::for_self(),
                ))
                .expect("the process collector is registered once");
        }
        series(REQUEST_SECONDS.0, true);
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(REQUEST_SECONDS.0, REQUEST_SECONDS.1)
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("metric names and labels are valid constants");
        registry
            .register(Box::new(request_seconds.clone()))
            .expect("each metric is registered once");
        series(FEED_REFRESH_SECONDS.0, true);
        let feed_refresh_seconds = HistogramVec::new(
            HistogramOpts::new(FEED_REFRESH_SECONDS.0, FEED_REFRESH_SECONDS.1)
                .buckets(FEED_BUCKETS.to_vec()),
            &["feed"],
        )
        .expect("metric names and labels are valid constants");
        registry
            .register(Box::new(feed_refresh_seconds.clone()))
            .expect("each metric is registered once");
        let plain_counter = |(name, help): (&str, &str)| {
            series(name, false);
            let counter = IntCounter::new(name, help).expect("valid constant");
            registry
                .register(Box::new(counter.clone()))
                .expect("each metric is registered once");
            counter
        };
        let renders = plain_counter(RENDERS);
        let mut metrics = Metrics {
            requests: counter(REQUESTS, &["route", "template", "variant", "outcome"]),
            request_seconds,
            store_seconds: histogram(STORE_SECONDS),
            store_errors: counter(STORE_ERRORS, &["kind"]),
            render_seconds: histogram(RENDER_SECONDS),
            renders,
            renders_in_flight: gauge(RENDERS_IN_FLIGHT),
            render_queue: gauge(RENDER_QUEUE),
            cache_lookups: counter(CACHE_LOOKUPS, &["result"]),
            cache_bytes: gauge(CACHE_BYTES),
            glyph_cache_bytes: gauge(GLYPH_CACHE_BYTES),
            shape_cache_bytes: gauge(SHAPE_CACHE_BYTES),
            missing_glyph_renders: plain_counter(MISSING_GLYPH_RENDERS),
            locale_fallbacks: plain_counter(LOCALE_FALLBACKS),
            fallbacks: counter(FALLBACKS, &["template", "reason"]),
            condition_errors: counter(CONDITION_ERRORS, &["template"]),
            deadline_errors: counter(DEADLINE_ERRORS, &["template"]),
            renders_ahead: plain_counter(RENDERS_AHEAD),
            params_dropped: counter(PARAMS_DROPPED, &["template"]),
            geo_lookups: counter(GEO_LOOKUPS, &["outcome"]),
            opens: counter(OPENS, &["template", "variant", "opener"]),
            clicks: counter(CLICKS, &["template", "variant", "opener"]),
            conversions: counter(CONVERSIONS, &["result"]),
            votes: counter(VOTES, &["poll", "option", "result"]),
            preference_changes: counter(PREFERENCE_CHANGES, &["source"]),
            events_buffered: gauge(EVENTS_BUFFERED),
            events_written: plain_counter(EVENTS_WRITTEN),
            event_batches: plain_counter(EVENT_BATCHES),
            events_dropped: plain_counter(EVENTS_DROPPED),
            event_write_errors: counter(EVENT_WRITE_ERRORS, &["kind"]),
            coupons: counter(COUPONS, &["pool", "result"]),
            locks: counter(LOCKS, &["template", "result"]),
            remote_images: counter(REMOTE_IMAGES, &["result"]),
            remote_image_cache_bytes: gauge(REMOTE_IMAGE_CACHE_BYTES),
            source_calls: counter(SOURCE_CALLS, &["source"]),
            source_hits: counter(SOURCE_HITS, &["source"]),
            source_stale: counter(SOURCE_STALE, &["source"]),
            source_errors: counter(SOURCE_ERRORS, &["source", "kind"]),
            source_seconds: histograms(SOURCE_SECONDS, &["source"]),
            source_circuit_open: gauges(SOURCE_CIRCUITS_OPEN, &["host"]),
            experiment_winners: gauges(EXPERIMENT_WINNERS, &["experiment", "arm"]),
            templates_loaded: gauge(TEMPLATES_LOADED),
            store_up: gauge(STORE_UP),
            connections_refused: counter(CONNECTIONS_REFUSED, &["reason"]),
            template_reloads: counter(TEMPLATE_RELOADS, &["result"]),
            shared_cache_lookups: counter(SHARED_CACHE_LOOKUPS, &["result"]),
            shared_cache_writes: counter(SHARED_CACHE_WRITES, &["result"]),
            shared_cache_write_batches: plain_counter(SHARED_CACHE_WRITE_BATCHES),
            recompressions: counter(RECOMPRESSIONS, &["result"]),
            recompressed_bytes_saved: plain_counter(RECOMPRESSED_BYTES_SAVED),
            warm_recipients: counter(WARM_RECIPIENTS, &["result"]),
            webhook_delivered: counter(WEBHOOK_DELIVERED, &["webhook"]),
            webhook_retries: counter(WEBHOOK_RETRIES, &["webhook"]),
            webhook_failed: counter(WEBHOOK_FAILED, &["webhook"]),
            webhook_pending: gauges(WEBHOOK_PENDING, &["webhook"]),
            feed_refreshes: counter(FEED_REFRESHES, &["feed", "result"]),
            feed_items: gauges(FEED_ITEMS, &["feed"]),
            feed_refresh_seconds,
            registry,
            names: Vec::new(),
        };
        metrics.names = names.into_inner();
        metrics
    }

    /// Every series name `/metrics` can show (histograms with their
    /// `_bucket`, `_sum` and `_count`), for checking dashboards and alert
    /// rules against what is really exported.
    pub fn series_names(&self) -> &[String] {
        &self.names
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> Vec<u8> {
        let mut buffer = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding into a Vec cannot fail");
        buffer
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// Records the time since its creation into a histogram when dropped, so
/// that errors and cancelled requests are timed too.
pub struct TimerGuard {
    histogram: Histogram,
    started: Instant,
}

impl TimerGuard {
    /// Starts timing; a `Histogram` is a cheap shared handle, so passing a
    /// clone is fine.
    pub fn new(histogram: Histogram) -> TimerGuard {
        TimerGuard {
            histogram,
            started: Instant::now(),
        }
    }
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

/// Raises a gauge while alive and lowers it when dropped.
pub struct GaugeGuard<'a>(&'a IntGauge);

impl<'a> GaugeGuard<'a> {
    pub fn new(gauge: &'a IntGauge) -> GaugeGuard<'a> {
        gauge.inc();
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
