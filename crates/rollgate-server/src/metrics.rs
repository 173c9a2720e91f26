//! Prometheus text metrics: a request counter by matched route, method and
//! status (unmatched paths are counted under `route="unmatched"` so a scanner
//! cannot grow the label set); task runs by status (read from the store, so
//! every replica reports the same queue); and a histogram of the durations
//! of the task runs this process finished, by outcome.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// Upper bounds (seconds) of the task run duration histogram's buckets.
const DURATION_BUCKETS: [f64; 8] = [1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0];

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    in_flight: AtomicU64,
    /// Outcome → histogram of finished run durations.
    run_durations: Mutex<BTreeMap<String, Histogram>>,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    fn record(&self, route: String, method: String, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((route, method, status)).or_default() += 1;
    }

    pub(crate) fn record_task_run(&self, outcome: &str, duration: std::time::Duration) {
        let seconds = duration.as_secs_f64();
        let mut map = self.run_durations.lock().unwrap_or_else(|e| e.into_inner());
        let histogram = map.entry(outcome.to_string()).or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(DURATION_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// `run_counts`: task runs by status in the store (`None` when the store
    /// could not be read; the gauge is then left out).
    pub(crate) fn render(&self, run_counts: Option<&[(String, i64)]>) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP rollgate_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE rollgate_http_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for ((route, method, status), count) in requests.iter() {
            let _ = writeln!(
                out,
                "rollgate_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP rollgate_http_requests_in_flight HTTP requests being served.\n");
        out.push_str("# TYPE rollgate_http_requests_in_flight gauge\n");
        let _ = writeln!(
            out,
            "rollgate_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        if let Some(counts) = run_counts {
            out.push_str("# HELP rollgate_task_runs Task runs in the metadata store by status.\n");
            out.push_str("# TYPE rollgate_task_runs gauge\n");
            for (status, count) in counts {
                let _ = writeln!(out, "rollgate_task_runs{{status=\"{status}\"}} {count}");
            }
        }
        out.push_str("# HELP rollgate_task_run_duration_seconds Durations of the task runs this process finished, by outcome.\n");
        out.push_str("# TYPE rollgate_task_run_duration_seconds histogram\n");
        let durations = self.run_durations.lock().unwrap_or_else(|e| e.into_inner());
        for (status, histogram) in durations.iter() {
            for (bucket, bound) in histogram.buckets.iter().zip(DURATION_BUCKETS) {
                let _ = writeln!(
                    out,
                    "rollgate_task_run_duration_seconds_bucket{{status=\"{status}\",le=\"{bound}\"}} {bucket}"
                );
            }
            let _ = writeln!(
                out,
                "rollgate_task_run_duration_seconds_bucket{{status=\"{status}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "rollgate_task_run_duration_seconds_sum{{status=\"{status}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "rollgate_task_run_duration_seconds_count{{status=\"{status}\"}} {}",
                histogram.count
            );
        }
        out
    }
}

pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    // Only standard methods become labels, so the label set stays bounded.
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m.to_string(),
        _ => "OTHER".to_string(),
    };
    let metrics = &state.inner.metrics;
    metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let response = next.run(request).await;
    metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    metrics.record(route, method, response.status().as_u16());
    response
}
