//! What the store hands back and takes in besides verified entries: stored
//! entries with their indexed fields, insert outcomes, list filters, heads,
//! equivocations and counters.

use riskmesh_protocol::validate::{RejectReason, verify_wire};
use riskmesh_protocol::{
    Category, EntryId, EquivocationProof, Kind, OrgKey, Roster, Severity, Tier, VerifiedEntry, WireEntry,
};

/// The indexed fields of a stored entry: everything a list or status view
/// needs without decoding the envelope or body.
///
/// `category`, `severity` and `target` come from the body, so they are
/// `None` when the body is absent (never received, purged, or encrypted to
/// recipients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// Entry id (SHA-256 of the envelope).
    pub id: EntryId,
    /// Author organization.
    pub author: OrgKey,
    /// Position in the author's log.
    pub seq: u64,
    /// Author's timestamp, Unix ms.
    pub timestamp_ms: u64,
    /// Tier.
    pub tier: Tier,
    /// Kind.
    pub kind: Kind,
    /// Category of a plaintext bulletin or correction.
    pub category: Option<Category>,
    /// Severity of a plaintext bulletin or correction.
    pub severity: Option<Severity>,
    /// The entry this one refers to: the superseded entry of a correction,
    /// the target of a retraction, ack, access request or access receipt,
    /// the request of an access decision.
    pub target: Option<EntryId>,
    /// Body length from the header.
    pub body_len: u64,
    /// Whether the body is stored.
    pub has_body: bool,
    /// Whether the author retracted this entry with `purge`; its body is
    /// then gone for good and will not be stored if offered again.
    pub purged: bool,
    /// When this node stored the entry, Unix ms (the node's clock).
    pub received_ms: u64,
}

/// A stored entry: its indexed fields, the exact envelope bytes and the body
/// (unless absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Indexed fields.
    pub meta: EntryMeta,
    /// The exact COSE_Sign1 bytes as received.
    pub envelope: Vec<u8>,
    /// The body bytes, if stored.
    pub body: Option<Vec<u8>>,
}

impl StoredEntry {
    /// The wire form, to serve in sync or export.
    pub fn to_wire(&self) -> WireEntry {
        WireEntry {
            envelope: self.envelope.clone(),
            body: self.body.clone(),
        }
    }

    /// Re-verifies the stored bytes against a roster (offline `verify`, or
    /// reading a decoded header). Storage does not vouch for bytes on disk.
    pub fn verify(&self, roster: &Roster) -> Result<VerifiedEntry, RejectReason> {
        verify_wire(roster, &self.to_wire())
    }
}

/// What happened to one entry of an [`insert_entries`](super::Store::insert_entries) batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertOutcome {
    /// A new entry: the header is stored, and the body with it if it came
    /// with one and was not purged.
    Stored {
        /// Whether the body was stored.
        body_stored: bool,
    },
    /// The same entry was already stored; nothing changed.
    Duplicate,
    /// The entry was stored without a body and now came with one, which
    /// was added.
    BodyAdded,
    /// A different entry is stored at the same author and seq: an
    /// equivocation. Nothing was stored; build the proof from the two.
    Conflict {
        /// The entry already stored at (author, seq).
        existing: EntryId,
    },
    /// The entry does not extend its author's stored chain (the entry at
    /// `seq - 1` is missing or is not `prev`). Nothing was stored. The node
    /// stores only chain-accepted entries, so this points to a caller bug.
    NotLinked,
}

/// The result for one entry of a batch, in input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inserted {
    /// The entry's id.
    pub id: EntryId,
    /// What happened.
    pub outcome: InsertOutcome,
    /// For a newly stored retraction with `purge`: the target whose stored
    /// body this batch dropped (`None` if the target or its body was not
    /// held; the purge is recorded either way).
    pub purged: Option<EntryId>,
}

impl Inserted {
    /// Whether the entry is newly stored (the node should forward it).
    pub fn is_new(&self) -> bool {
        matches!(self.outcome, InsertOutcome::Stored { .. })
    }
}

/// Filters for [`list`](super::Store::list); every field left `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this tier.
    pub tier: Option<Tier>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only this category.
    pub category: Option<Category>,
    /// Only at least this severity.
    pub min_severity: Option<Severity>,
    /// Only this author.
    pub author: Option<OrgKey>,
    /// Only entries timestamped at or after this time, Unix ms.
    pub since_ms: Option<u64>,
    /// Continue a listing after this entry (keyset paging): pass the id of
    /// the last entry of the previous page.
    pub after: Option<EntryId>,
    /// Most entries to return; `None` or anything above
    /// [`MAX_LIST_LIMIT`](super::MAX_LIST_LIMIT) means that cap.
    pub limit: Option<usize>,
}

/// An author's head: its highest stored entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The author.
    pub author: OrgKey,
    /// Seq of the head.
    pub seq: u64,
    /// Id of the head.
    pub id: EntryId,
    /// Timestamp of the head, Unix ms (what `LogWriter::resume` needs).
    pub timestamp_ms: u64,
}

/// One author's accepted chain, as [`ChainValidator::restore`] takes it.
///
/// [`ChainValidator::restore`]: riskmesh_protocol::ChainValidator::restore
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorChain {
    /// The author.
    pub author: OrgKey,
    /// Ids in seq order, starting at seq 1.
    pub ids: Vec<EntryId>,
    /// Timestamp of the last entry, Unix ms.
    pub last_timestamp_ms: u64,
}

/// A stored equivocation proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEquivocation {
    /// The equivocating author.
    pub author: OrgKey,
    /// The seq at which it showed two entries.
    pub seq: u64,
    /// The proof, as received (verify it against the roster to rely on it).
    pub proof: EquivocationProof,
    /// When this node stored it, Unix ms.
    pub received_ms: u64,
}

/// Counters for status output and metrics. Computing them scans the entry
/// table, so a node reads them once at start and keeps its own counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Stored entries.
    pub entries: u64,
    /// Stored bodies.
    pub bodies: u64,
    /// Total bytes of stored bodies.
    pub body_bytes: u64,
    /// Entries per tier, indexed like [`Tier::ALL`].
    pub by_tier: [u64; 4],
    /// Entries per kind, indexed like [`Kind::ALL`].
    pub by_kind: [u64; 7],
    /// Authors with at least one entry.
    pub authors: u64,
    /// Purge records.
    pub purges: u64,
    /// Stored equivocation proofs.
    pub equivocations: u64,
    /// Stored roster versions.
    pub rosters: u64,
}
