//! Prometheus text metrics: a request counter by matched route, method and
//! status. Unmatched paths are counted under `route="unmatched"` so a scanner
//! cannot grow the label set.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    in_flight: AtomicU64,
}

impl Metrics {
    fn record(&self, route: String, method: String, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((route, method, status)).or_default() += 1;
    }

    pub(crate) fn render(&self) -> String {
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
