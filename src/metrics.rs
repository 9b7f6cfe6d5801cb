//! Counters for operators, in the Prometheus text format (`/metrics`): requests and their
//! latency per route class and status, ingest outcomes; the HTTP layer adds the gauges
//! it reads at scrape time (tile cache, index memory, jobs, the store). Labels are route
//! classes, statuses and kinds only — never a layer id, so no private layer is named.
//! Lock-free: a request costs a few atomic additions.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The route classes, in the order of the counters (the names of `http::routes::Class`).
pub const CLASSES: &[&str] = &[
    "health", "catalog", "features", "tiles", "apps", "write", "upload", "admin", "none",
];
/// The statuses counted one by one; any other counts as `other`.
const STATUSES: &[u16] = &[
    200, 201, 204, 206, 304, 308, 400, 401, 403, 404, 405, 409, 412, 413, 414, 415, 422, 431, 500,
    503,
];
/// Latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Ingest outcomes.
pub const INGESTS: &[&str] = &["ok", "refused", "failed"];

pub struct Metrics {
    /// [class][status or other]
    requests: Vec<Vec<AtomicU64>>,
    /// [class][bucket], then +Inf
    buckets: Vec<Vec<AtomicU64>>,
    /// [class] in microseconds
    sum_micros: Vec<AtomicU64>,
    ingests: Vec<AtomicU64>,
}

fn counters(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: (0..CLASSES.len())
                .map(|_| counters(STATUSES.len() + 1))
                .collect(),
            buckets: (0..CLASSES.len())
                .map(|_| counters(BUCKETS.len() + 1))
                .collect(),
            sum_micros: counters(CLASSES.len()),
            ingests: counters(INGESTS.len()),
        }
    }
}

impl Metrics {
    /// Counts one answered request of a class (an index into [`CLASSES`]).
    pub fn request(&self, class: usize, status: u16, seconds: f64) {
        let class = class.min(CLASSES.len() - 1);
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len());
        self.requests[class][s].fetch_add(1, Ordering::Relaxed);
        let b = BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(BUCKETS.len());
        self.buckets[class][b].fetch_add(1, Ordering::Relaxed);
        self.sum_micros[class].fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// Counts an ingest by its outcome (an index into [`INGESTS`]).
    pub fn ingest(&self, outcome: usize) {
        if let Some(c) = self.ingests.get(outcome) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters in the Prometheus text format, followed by `gauges` (name, help,
    /// labels, value).
    pub fn render(&self, gauges: &[(&str, &str, &str, f64)]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP atlante_requests_total Requests answered, by route class and status.\n",
        );
        out.push_str("# TYPE atlante_requests_total counter\n");
        for (c, class) in CLASSES.iter().enumerate() {
            for (s, n) in self.requests[c].iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let status = STATUSES
                    .get(s)
                    .map_or("other".to_string(), |x| x.to_string());
                let _ = writeln!(
                    out,
                    "atlante_requests_total{{class=\"{class}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP atlante_request_seconds Time to answer, by route class.\n");
        out.push_str("# TYPE atlante_request_seconds histogram\n");
        for (c, class) in CLASSES.iter().enumerate() {
            let mut cumulative = 0;
            for (b, n) in self.buckets[c].iter().enumerate() {
                cumulative += n.load(Ordering::Relaxed);
                let le = BUCKETS.get(b).map_or("+Inf".to_string(), |x| x.to_string());
                let _ = writeln!(
                    out,
                    "atlante_request_seconds_bucket{{class=\"{class}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = self.sum_micros[c].load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "atlante_request_seconds_sum{{class=\"{class}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "atlante_request_seconds_count{{class=\"{class}\"}} {cumulative}"
            );
        }
        out.push_str("# HELP atlante_ingests_total Ingests, by outcome.\n");
        out.push_str("# TYPE atlante_ingests_total counter\n");
        for (i, outcome) in INGESTS.iter().enumerate() {
            let n = self.ingests[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "atlante_ingests_total{{outcome=\"{outcome}\"}} {n}");
        }
        let mut last = "";
        for (name, help, labels, value) in gauges {
            if *name != last && !help.is_empty() {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                last = name;
            }
            let labels = if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            };
            let _ = writeln!(out, "{name}{labels} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let m = Metrics::default();
        m.request(3, 200, 0.003);
        m.request(3, 200, 0.2);
        m.request(3, 999, 40.0);
        m.ingest(0);
        let t = m.render(&[("atlante_store_up", "1 when the store answers.", "", 1.0)]);
        assert!(t.contains("atlante_requests_total{class=\"tiles\",status=\"200\"} 2"));
        assert!(t.contains("atlante_requests_total{class=\"tiles\",status=\"other\"} 1"));
        assert!(t.contains("atlante_request_seconds_bucket{class=\"tiles\",le=\"0.005\"} 1"));
        assert!(t.contains("atlante_request_seconds_bucket{class=\"tiles\",le=\"+Inf\"} 3"));
        assert!(t.contains("atlante_ingests_total{outcome=\"ok\"} 1"));
        assert!(t.contains("# TYPE atlante_store_up gauge\natlante_store_up 1"));
    }
}
