//! The bare baseline's report: its figures are a `check::Figures` — the
//! riskmesh run's own type, so the names, JSON paths and meanings are the
//! same and `scaling::Row::from_report` reads a bare report like a riskmesh
//! one — with what a bare network does not have (sync bytes, catch-ups,
//! per-tier latency) left empty.

use crate::check::Figures;
use serde::Serialize;

/// What a bare run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BareReport {
    /// Always `bare` (tells the report from a riskmesh one).
    pub kind: String,
    /// Scenario name.
    pub scenario: String,
    /// The plan's seed.
    pub seed: u64,
    /// Whether the dial graph was connected and delivery met the
    /// scenario's `expect.delivery_ratio`.
    pub passed: bool,
    /// Whether the dial graph was connected.
    pub connected: bool,
    /// Peers each node chose to dial.
    pub degree: usize,
    /// Connections dialled (one per pair).
    pub connections: usize,
    /// Messages that failed `verify_strict` (none expected).
    pub rejected: u64,
    /// The figures, measured as a riskmesh run measures them; latency is
    /// from signing to acceptance after `verify_strict`.
    pub figures: Figures,
    /// Whether this was a release (optimized) build.
    pub release_build: bool,
}

impl BareReport {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// A few lines for people.
    pub fn summary(&self) -> String {
        let f = &self.figures;
        let opt = |v: Option<f64>, d: usize| v.map_or_else(|| "—".to_string(), |x| format!("{x:.d$}"));
        format!(
            "bare {} · {} nodes, {} dials each at most ({} connections{}), seed {}\n  delivery {}/{} = {:.2}% · latency p50 {} / p99 {} / max {} ms\n  CPU {} s · peak RSS {} MiB ({} MiB/node) · start-up {:.1} s · converged {} s\n",
            self.scenario,
            f.nodes,
            self.degree,
            self.connections,
            if self.connected { "" } else { ", NOT connected" },
            self.seed,
            f.deliveries,
            f.expected_deliveries,
            f.delivery_ratio * 100.0,
            opt(f.latency_all.p50_ms, 0),
            opt(f.latency_all.p99_ms, 0),
            opt(f.latency_all.max_ms, 0),
            opt(f.cpu_s, 1),
            opt(f.peak_rss_mib, 0),
            opt(f.rss_per_node_mib, 2),
            f.startup_s,
            opt(f.converged_after_s, 1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Bytes, Latency};
    use crate::scaling::Row;

    #[test]
    fn a_bare_report_reads_into_a_scaling_row() {
        let report = BareReport {
            kind: "bare".into(),
            scenario: "scaling".into(),
            seed: 7,
            passed: true,
            connected: true,
            degree: 8,
            connections: 100,
            rejected: 0,
            figures: Figures {
                nodes: 25,
                published: 140,
                delivery_ratio: 1.0,
                latency_all: Latency {
                    count: 3360,
                    p50_ms: Some(12.0),
                    p90_ms: Some(30.0),
                    p99_ms: Some(55.0),
                    max_ms: Some(80.0),
                },
                bytes: Bytes {
                    gossip_in: 1,
                    app_per_delivery: Some(1100.0),
                    mean_entry_bytes: Some(1100.0),
                    ..Bytes::default()
                },
                copies_per_delivery_gossip: Some(1.0),
                converged_after_s: Some(20.4),
                cpu_s: Some(3.5),
                startup_s: 0.4,
                peak_rss_mib: Some(60.0),
                rss_per_node_mib: Some(0.6),
                ..Figures::default()
            },
            release_build: true,
        };
        let value: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
        let row = Row::from_report(25, &value);
        assert!(row.passed);
        assert_eq!(row.published, 140);
        assert_eq!(row.delivery_ratio, 1.0);
        assert_eq!((row.p50_ms, row.p99_ms, row.max_ms), (12.0, 55.0, 80.0));
        assert_eq!(row.bytes_per_delivery, 1100.0);
        assert_eq!(row.copies, 1.0);
        assert_eq!(row.cpu_s, 3.5);
        assert_eq!(row.peak_rss_mib, 60.0);
        assert_eq!(row.mib_per_node, 0.6);
        assert_eq!(row.converged_s, 20.4);
        assert_eq!(row.startup_s, 0.4);
    }
}
