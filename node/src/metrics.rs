//! Node metrics: counters kept in atomics and rendered in the Prometheus
//! text exposition format for `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters and gauges of one node.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Entries in the store.
    pub entries_stored: AtomicU64,
    /// Connected roster peers.
    pub peers: AtomicU64,
    /// Entries accepted into a chain (from any source).
    pub accepted: AtomicU64,
    /// Entries published by this node.
    pub published: AtomicU64,
    /// Gossip payload bytes received.
    pub gossip_bytes_in: AtomicU64,
    /// Gossip payload bytes published.
    pub gossip_bytes_out: AtomicU64,
    /// Sync requests sent.
    pub sync_requests_out: AtomicU64,
    /// Sync requests served.
    pub sync_requests_in: AtomicU64,
    /// Sync response bytes received.
    pub sync_bytes_in: AtomicU64,
    /// Sync response bytes sent.
    pub sync_bytes_out: AtomicU64,
    /// Entries waiting for a predecessor.
    pub pending: AtomicU64,
    /// Equivocation proofs held.
    pub equivocations: AtomicU64,
    /// Chains cut back to a retired key's valid prefix (spec §9.6).
    pub entries_cut: AtomicU64,
    /// Sum over authors of (highest seq a peer announced - seq held).
    pub sync_lag: AtomicU64,
    /// Peer penalties applied (bad sync responses, bad requests).
    pub penalties: AtomicU64,
    /// Access requests and decisions evaluated against their release policy
    /// after they were committed (one per committed access entry; periodic
    /// scans are not counted).
    pub release_checks: AtomicU64,
    /// Releases this node prepared as author (granted requests).
    pub releases_prepared: AtomicU64,
    /// Prepared releases waiting for delivery to their requester.
    pub releases_pending: AtomicU64,
    /// Bytes (envelopes and held bodies) stored for member authors.
    pub stored_bytes_members: AtomicU64,
    /// Bytes stored for observer authors.
    pub stored_bytes_observers: AtomicU64,
    /// Bytes stored for authors no longer on the roster.
    pub stored_bytes_former: AtomicU64,
    /// New entries refused because their author's storage budget is spent.
    pub storage_budget_refusals: AtomicU64,
    /// New entries refused because free disk space is below the floor.
    pub disk_floor_refusals: AtomicU64,
    ignored: Mutex<BTreeMap<&'static str, u64>>,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts an ignored message by reason.
    pub fn ignore(&self, reason: &'static str) {
        if let Ok(mut map) = self.ignored.lock() {
            *map.entry(reason).or_default() += 1;
        }
    }

    /// Counts a rejected message by reason.
    pub fn reject(&self, reason: &'static str) {
        if let Ok(mut map) = self.rejected.lock() {
            *map.entry(reason).or_default() += 1;
        }
    }

    /// Rejected messages so far for `reason`.
    pub fn rejected(&self, reason: &str) -> u64 {
        self.rejected
            .lock()
            .map(|m| m.get(reason).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Ignored messages so far for `reason`.
    pub fn ignored(&self, reason: &str) -> u64 {
        self.ignored
            .lock()
            .map(|m| m.get(reason).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Renders the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP riskmesh_{name} {help}\n# TYPE riskmesh_{name} {kind}\nriskmesh_{name} {value}"
            );
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "entries_stored",
            "Entries in the local store.",
            "gauge",
            get(&self.entries_stored),
        );
        gauge(
            &mut out,
            "peers",
            "Connected roster peers.",
            "gauge",
            get(&self.peers),
        );
        gauge(
            &mut out,
            "entries_accepted_total",
            "Entries accepted into a chain.",
            "counter",
            get(&self.accepted),
        );
        gauge(
            &mut out,
            "entries_published_total",
            "Entries published by this node.",
            "counter",
            get(&self.published),
        );
        gauge(
            &mut out,
            "gossip_bytes_in_total",
            "Gossip payload bytes received.",
            "counter",
            get(&self.gossip_bytes_in),
        );
        gauge(
            &mut out,
            "gossip_bytes_out_total",
            "Gossip payload bytes published.",
            "counter",
            get(&self.gossip_bytes_out),
        );
        gauge(
            &mut out,
            "sync_requests_out_total",
            "Sync requests sent.",
            "counter",
            get(&self.sync_requests_out),
        );
        gauge(
            &mut out,
            "sync_requests_in_total",
            "Sync requests served.",
            "counter",
            get(&self.sync_requests_in),
        );
        gauge(
            &mut out,
            "sync_bytes_in_total",
            "Sync response bytes received.",
            "counter",
            get(&self.sync_bytes_in),
        );
        gauge(
            &mut out,
            "sync_bytes_out_total",
            "Sync response bytes sent.",
            "counter",
            get(&self.sync_bytes_out),
        );
        gauge(
            &mut out,
            "pending_entries",
            "Entries waiting for their predecessor.",
            "gauge",
            get(&self.pending),
        );
        gauge(
            &mut out,
            "equivocations",
            "Equivocation proofs held.",
            "gauge",
            get(&self.equivocations),
        );
        gauge(
            &mut out,
            "retired_key_cuts_total",
            "Chains cut back to a retired key's valid prefix when a roster arrived.",
            "counter",
            get(&self.entries_cut),
        );
        gauge(
            &mut out,
            "sync_lag_entries",
            "Entries peers announced that this node lacks.",
            "gauge",
            get(&self.sync_lag),
        );
        gauge(
            &mut out,
            "peer_penalties_total",
            "Penalties applied to misbehaving peers.",
            "counter",
            get(&self.penalties),
        );
        gauge(
            &mut out,
            "release_checks_total",
            "Committed access entries evaluated against their release policy.",
            "counter",
            get(&self.release_checks),
        );
        gauge(
            &mut out,
            "releases_prepared_total",
            "Releases prepared for delivery as author.",
            "counter",
            get(&self.releases_prepared),
        );
        gauge(
            &mut out,
            "releases_pending",
            "Prepared releases waiting for delivery.",
            "gauge",
            get(&self.releases_pending),
        );
        gauge(
            &mut out,
            "storage_budget_refusals_total",
            "New entries refused because their author's storage budget is spent.",
            "counter",
            get(&self.storage_budget_refusals),
        );
        gauge(
            &mut out,
            "disk_floor_refusals_total",
            "New entries refused because free disk space is below the floor.",
            "counter",
            get(&self.disk_floor_refusals),
        );
        let _ = writeln!(
            out,
            "# HELP riskmesh_stored_bytes Bytes of envelopes and bodies stored, by the author's role.\n\
             # TYPE riskmesh_stored_bytes gauge"
        );
        for (role, value) in [
            ("member", &self.stored_bytes_members),
            ("observer", &self.stored_bytes_observers),
            ("former", &self.stored_bytes_former),
        ] {
            let _ = writeln!(out, "riskmesh_stored_bytes{{role=\"{role}\"}} {}", get(value));
        }
        for (name, map, help) in [
            (
                "entries_ignored_total",
                &self.ignored,
                "Messages ignored, by reason.",
            ),
            (
                "entries_rejected_total",
                &self.rejected,
                "Messages rejected, by reason.",
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP riskmesh_{name} {help}\n# TYPE riskmesh_{name} counter"
            );
            if let Ok(map) = map.lock() {
                for (reason, value) in map.iter() {
                    let _ = writeln!(out, "riskmesh_{name}{{reason=\"{reason}\"}} {value}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_reasons() {
        let m = Metrics::default();
        m.reject("bad_signature");
        m.reject("bad_signature");
        m.ignore("duplicate");
        m.peers.store(3, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("riskmesh_entries_rejected_total{reason=\"bad_signature\"} 2"));
        assert!(text.contains("riskmesh_entries_ignored_total{reason=\"duplicate\"} 1"));
        assert!(text.contains("riskmesh_peers 3"));
        assert_eq!(m.rejected("bad_signature"), 2);
    }

    #[test]
    fn renders_storage_bytes_by_role_and_refusals() {
        let m = Metrics::default();
        m.stored_bytes_members.store(1 << 30, Ordering::Relaxed);
        m.stored_bytes_observers.store(42, Ordering::Relaxed);
        m.disk_floor_refusals.fetch_add(2, Ordering::Relaxed);
        m.storage_budget_refusals.fetch_add(1, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("# TYPE riskmesh_stored_bytes gauge\n"));
        assert!(text.contains("riskmesh_stored_bytes{role=\"member\"} 1073741824"));
        assert!(text.contains("riskmesh_stored_bytes{role=\"observer\"} 42"));
        assert!(text.contains("riskmesh_stored_bytes{role=\"former\"} 0"));
        assert!(text.contains("riskmesh_disk_floor_refusals_total 2"));
        assert!(text.contains("riskmesh_storage_budget_refusals_total 1"));
    }
}
