//! Test fixtures for the store: databases in temporary directories and
//! authors that publish real signed entries from the protocol's testkit.

use super::Store;
use riskmesh_protocol::body::RetractionBody;
use riskmesh_protocol::testkit::{self, Consortium};
use riskmesh_protocol::{
    Body, BulletinBody, Category, Draft, EntryId, Kind, LogWriter, OrgKey, Severity, Tier, VerifiedEntry,
};
use std::path::PathBuf;
use tempfile::TempDir;

/// A fixed "now" for entries and receipts.
pub(crate) const NOW: u64 = 1_700_000_000_000;

/// A fresh database in its own temporary directory (kept alive by the
/// returned `TempDir`).
pub(crate) fn new_store() -> (TempDir, PathBuf, Store) {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("node.db");
    let store = Store::create(&path).expect("create store");
    (dir, path, store)
}

/// An organization publishing into its own log, one second per entry.
pub(crate) struct Author<'a> {
    consortium: &'a Consortium,
    org: &'static str,
    log: LogWriter,
    now: u64,
}

impl<'a> Author<'a> {
    pub(crate) fn new(consortium: &'a Consortium, org: &'static str) -> Self {
        Author {
            consortium,
            org,
            log: LogWriter::new(testkit::NETWORK),
            now: NOW,
        }
    }

    pub(crate) fn key(&self) -> OrgKey {
        self.consortium.org(self.org).signing.public()
    }

    pub(crate) fn post(&mut self, kind: Kind, tier: Tier, body: Body) -> VerifiedEntry {
        self.now += 1000;
        let draft = Draft {
            kind,
            tier,
            body,
            recipients: None,
        };
        self.log
            .append(
                &self.consortium.org(self.org).signing,
                &self.consortium.roster,
                &draft,
                self.now,
            )
            .expect("fixture entry verifies")
    }

    /// A consortium bulletin with the given title.
    pub(crate) fn bulletin(&mut self, title: &str) -> VerifiedEntry {
        self.post(
            Kind::Bulletin,
            Tier::Consortium,
            Body::Bulletin(testkit::sample_bulletin(title)),
        )
    }

    /// A bulletin with chosen tier, category and severity.
    pub(crate) fn bulletin_with(
        &mut self,
        tier: Tier,
        category: Category,
        severity: Severity,
    ) -> VerifiedEntry {
        let body = BulletinBody {
            category: Some(category),
            severity: Some(severity),
            ..testkit::sample_bulletin("classified")
        };
        self.post(Kind::Bulletin, tier, Body::Bulletin(body))
    }

    /// `n` consortium bulletins.
    pub(crate) fn bulletins(&mut self, n: usize) -> Vec<VerifiedEntry> {
        (0..n).map(|i| self.bulletin(&format!("finding {i}"))).collect()
    }

    /// A retraction of `target`, purging its body if `purge`.
    pub(crate) fn retract(&mut self, target: EntryId, purge: bool) -> VerifiedEntry {
        let body = RetractionBody {
            target,
            reason: "published in error".into(),
            purge,
        };
        self.post(Kind::Retraction, Tier::Consortium, Body::Retraction(body))
    }
}
