//! The riskmesh protocol: identities, roster, entries, tiers, deterministic
//! CBOR, signatures, chain validation and redaction commitments.
//!
//! This crate is pure: it performs no I/O, reads no clock and draws no
//! randomness. Time (`now_ms`) and random bytes (key seeds, salts) are
//! arguments, so every behaviour is reproducible in tests and simulations.
//! The normative description is `spec/protocol.md`.

#![deny(missing_docs)]

pub mod age_header;
pub mod body;
pub mod cbor;
pub mod chain;
pub mod delivery;
pub mod entry;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod log;
pub mod redaction;
pub mod release;
pub mod roster;
pub mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod validate;

pub use body::{Body, BulletinBody, Category, Severity};
pub use chain::{ChainValidator, EquivocationProof, Fork, IngestReport};
pub use entry::{Header, Kind, Tier, WireEntry};
pub use ids::{EntryId, Hash32, OrgKey};
pub use keys::{EncryptionKey, EncryptionSecret, OrgSecrets, OrgSigningKey};
pub use log::{Draft, LogWriter};
pub use roster::{Member, Role, Roster, RosterDoc, SignedRoster};
pub use validate::{IgnoreReason, Outcome, RejectReason, VerifiedEntry, verify_entry};
