//! The author's side of a log: turning drafts into signed, chained entries.

use crate::body::Body;
use crate::entry::{HEADER_VERSION, Header, Kind, Tier, sign_header};
use crate::ids::{EntryId, Hash32, OrgKey};
use crate::keys::OrgSigningKey;
use crate::roster::Roster;
use crate::validate::{RejectReason, VerifiedEntry, verify_entry};

/// What an author wants to publish.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Entry kind.
    pub kind: Kind,
    /// Tier.
    pub tier: Tier,
    /// Body (for the restricted tier, the age ciphertext).
    pub body: Body,
    /// Recipients, for the restricted tier.
    pub recipients: Option<Vec<OrgKey>>,
}

/// The position of an author's log: what the next entry must link to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogWriter {
    network: String,
    next_seq: u64,
    head: Option<EntryId>,
    last_timestamp_ms: u64,
}

impl LogWriter {
    /// A log with no entries yet.
    pub fn new(network: &str) -> Self {
        LogWriter {
            network: network.to_string(),
            next_seq: 1,
            head: None,
            last_timestamp_ms: 0,
        }
    }

    /// Resumes after `head`, the entry at `seq`, timestamped `timestamp_ms`.
    pub fn resume(network: &str, seq: u64, head: EntryId, timestamp_ms: u64) -> Self {
        LogWriter {
            network: network.to_string(),
            next_seq: seq + 1,
            head: Some(head),
            last_timestamp_ms: timestamp_ms,
        }
    }

    /// The seq the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Signs the draft as the next entry and verifies it against the roster
    /// exactly as a receiver would, so an author never emits an entry its
    /// peers reject. The log advances only on success. The timestamp is
    /// `now_ms`, raised to the previous entry's if the clock went backwards.
    pub fn append(
        &mut self,
        key: &OrgSigningKey,
        roster: &Roster,
        draft: &Draft,
        now_ms: u64,
    ) -> Result<VerifiedEntry, RejectReason> {
        let mut recipients = draft.recipients.clone();
        if let Some(list) = recipients.as_mut() {
            list.sort();
            list.dedup();
        }
        let body = draft.body.to_bytes();
        let header = Header {
            version: HEADER_VERSION,
            network: self.network.clone(),
            author: key.public(),
            seq: self.next_seq,
            prev: self.head,
            timestamp_ms: now_ms.max(self.last_timestamp_ms),
            tier: draft.tier,
            kind: draft.kind,
            body_hash: Hash32::of(&body),
            body_len: body.len() as u64,
            recipients,
        };
        let envelope = sign_header(key, &header);
        let entry = verify_entry(roster, &envelope, Some(&body))?;
        self.next_seq += 1;
        self.head = Some(entry.id());
        self.last_timestamp_ms = header.timestamp_ms;
        Ok(entry)
    }
}
