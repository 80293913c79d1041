//! Service metrics in the Prometheus text exposition format (version 0.0.4), kept by hand: a
//! few counters and one latency histogram per endpoint, behind a mutex that is held only for a
//! handful of additions per request.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets; `+Inf` is implicit.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The endpoints reported under their own label; any other path is reported as `other`, so the
/// number of label values stays bounded whatever clients send.
pub const ENDPOINTS: [&str; 7] = [
    "/",
    "/healthz",
    "/metrics",
    "/report",
    "/v1/explain",
    "/v1/model",
    "/v1/predict",
];

/// The label of KServe's V1 predict path, `POST /v1/models/NAME:predict`, whatever the name.
pub const KSERVE_PREDICT: &str = "/v1/models/NAME:predict";
/// The label of KServe's V2 inference path, `POST /v2/models/NAME/infer`, whatever the name.
pub const KSERVE_V2_INFER: &str = "/v2/models/NAME/infer";

/// Cumulative latency histogram of one endpoint.
#[derive(Clone, Debug, Default)]
struct Histogram {
    /// Count per bucket of [`LATENCY_BUCKETS`] (not cumulative), plus one for `+Inf`.
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; LATENCY_BUCKETS.len() + 1];
        }
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// (endpoint, status) -> responses.
    requests: BTreeMap<(&'static str, u16), u64>,
    /// endpoint -> latency.
    latency: BTreeMap<&'static str, Histogram>,
    texts: u64,
    batches: u64,
    batch_failures: u64,
    evicted: u64,
}

/// Counters of the service; cheap to update from any thread.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    in_flight: AtomicI64,
}

/// Counts a request as in flight until dropped (also when the client goes away mid-request).
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The label value under which a request path is counted.
pub fn endpoint_label(path: &str) -> &'static str {
    if let Some(rest) = path.strip_prefix("/v1/models/")
        && rest.ends_with(":predict")
    {
        return KSERVE_PREDICT;
    }
    if let Some(rest) = path.strip_prefix("/v2/models/")
        && rest.ends_with("/infer")
    {
        return KSERVE_V2_INFER;
    }
    ENDPOINTS
        .iter()
        .find(|&&e| e == path)
        .copied()
        .unwrap_or("other")
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere while counting; the counts are still
        // usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the start of a request; it counts as in flight until the guard is dropped.
    pub fn request_started(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records a finished request: its endpoint label, status code and latency.
    pub fn request_finished(&self, endpoint: &'static str, status: u16, elapsed: Duration) {
        let mut m = self.lock();
        *m.requests.entry((endpoint, status)).or_default() += 1;
        m.latency
            .entry(endpoint)
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Records one forward pass of the model over `texts` texts.
    pub fn batch_done(&self, texts: usize) {
        let mut m = self.lock();
        m.texts += texts as u64;
        m.batches += 1;
    }

    /// Records a forward pass of the model that panicked.
    pub fn batch_failed(&self) {
        self.lock().batch_failures += 1;
    }

    /// Records a connection closed to give its slot to a new one (`--max-connections`).
    pub fn connection_evicted(&self) {
        self.lock().evicted += 1;
    }

    /// Texts classified so far.
    pub fn texts_classified(&self) -> u64 {
        self.lock().texts
    }

    /// The metrics in the Prometheus text format; `queued_jobs` is the model worker's queue
    /// length (see [`super::Worker::queued`]).
    pub fn render(&self, queued_jobs: usize) -> String {
        let m = self.lock();
        let mut s = String::new();
        render_requests(&m, &mut s);
        render_latency(&m, &mut s);
        let _ = writeln!(
            s,
            "# HELP textcnn_http_requests_in_flight Requests being handled now.\n\
             # TYPE textcnn_http_requests_in_flight gauge\n\
             textcnn_http_requests_in_flight {}\n\
             # HELP textcnn_texts_classified_total Texts run through the model.\n\
             # TYPE textcnn_texts_classified_total counter\n\
             textcnn_texts_classified_total {}\n\
             # HELP textcnn_model_batches_total Forward passes of the model (concurrent requests are batched).\n\
             # TYPE textcnn_model_batches_total counter\n\
             textcnn_model_batches_total {}\n\
             # HELP textcnn_model_batch_failures_total Forward passes in which the model failed (panicked).\n\
             # TYPE textcnn_model_batch_failures_total counter\n\
             textcnn_model_batch_failures_total {}\n\
             # HELP textcnn_model_queue_jobs Requests waiting in the model worker's queue.\n\
             # TYPE textcnn_model_queue_jobs gauge\n\
             textcnn_model_queue_jobs {queued_jobs}\n\
             # HELP textcnn_connections_evicted_total Connections without a request in flight closed to give their slot to a new connection (--max-connections).\n\
             # TYPE textcnn_connections_evicted_total counter\n\
             textcnn_connections_evicted_total {}",
            self.in_flight.load(Ordering::Relaxed),
            m.texts,
            m.batches,
            m.batch_failures,
            m.evicted
        );
        s
    }
}

/// The request counters: responses by endpoint and status, errors (4xx/5xx) by endpoint.
fn render_requests(m: &Inner, s: &mut String) {
    let _ = writeln!(
        s,
        "# HELP textcnn_http_requests_total HTTP responses by endpoint and status code.\n\
         # TYPE textcnn_http_requests_total counter"
    );
    for ((endpoint, status), n) in &m.requests {
        let _ = writeln!(
            s,
            "textcnn_http_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
        );
    }
    let _ = writeln!(
        s,
        "# HELP textcnn_http_errors_total HTTP responses with a 4xx or 5xx status, by endpoint.\n\
         # TYPE textcnn_http_errors_total counter"
    );
    let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
    for ((endpoint, status), n) in &m.requests {
        if *status >= 400 {
            *errors.entry(endpoint).or_default() += n;
        }
    }
    for (endpoint, n) in &errors {
        let _ = writeln!(
            s,
            "textcnn_http_errors_total{{endpoint=\"{endpoint}\"}} {n}"
        );
    }
}

/// The request duration histogram per endpoint (cumulative buckets, sum, count).
fn render_latency(m: &Inner, s: &mut String) {
    let _ = writeln!(
        s,
        "# HELP textcnn_http_request_duration_seconds Time from request to response, by endpoint.\n\
         # TYPE textcnn_http_request_duration_seconds histogram"
    );
    for (endpoint, h) in &m.latency {
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += h.buckets[i];
            let _ = writeln!(
                s,
                "textcnn_http_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            s,
            "textcnn_http_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {}\n\
             textcnn_http_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {}\n\
             textcnn_http_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {}",
            h.count, h.sum, h.count
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_labels_are_bounded() {
        let m = Metrics::default();
        for ms in [0, 2, 7, 2000, 9000] {
            let _guard = m.request_started();
            m.request_finished(
                endpoint_label("/v1/predict"),
                200,
                Duration::from_millis(ms),
            );
        }
        drop(m.request_started());
        m.request_finished(endpoint_label("/nope/x"), 404, Duration::ZERO);
        m.batch_failed();
        let s = m.render(3);
        assert!(s.contains("le=\"0.0005\"} 1\n"), "{s}");
        assert!(
            s.contains("endpoint=\"/v1/predict\",le=\"0.01\"} 3\n"),
            "{s}"
        );
        assert!(s.contains("endpoint=\"/v1/predict\",le=\"5\"} 4\n"), "{s}");
        assert!(
            s.contains("endpoint=\"/v1/predict\",le=\"+Inf\"} 5\n"),
            "{s}"
        );
        assert!(s.contains("textcnn_http_errors_total{endpoint=\"other\"} 1\n"));
        assert!(s.contains("textcnn_http_requests_in_flight 0\n"));
        assert!(s.contains("textcnn_model_batch_failures_total 1\n"), "{s}");
        assert!(s.contains("textcnn_model_queue_jobs 3\n"), "{s}");
        assert!(s.ends_with("textcnn_connections_evicted_total 0\n"), "{s}");
    }
}
