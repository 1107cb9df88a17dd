//! Every size, count and time bound of the protocol, in one place.
//!
//! Each constant is restated in `spec/protocol.md` §Limits; a change here is a
//! protocol change and moves the spec and its vectors in the same commit.

/// Largest signed envelope (COSE_Sign1 bytes) a node accepts.
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024;
/// Largest header payload inside an envelope.
pub const MAX_HEADER_BYTES: usize = 3 * 1024;
/// Largest entry body.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Largest wire entry (envelope plus body plus framing).
pub const MAX_WIRE_ENTRY_BYTES: usize = MAX_ENVELOPE_BYTES + MAX_BODY_BYTES + 64;
/// Largest signed roster document.
pub const MAX_ROSTER_BYTES: usize = 256 * 1024;
/// Deepest nesting of CBOR arrays and maps accepted anywhere.
pub const MAX_CBOR_DEPTH: usize = 8;
/// Longest network id, in bytes.
pub const MAX_NETWORK_ID_BYTES: usize = 64;
/// Longest organization id, in bytes.
pub const MAX_ORG_ID_BYTES: usize = 32;
/// Most members (of any role) in one roster.
pub const MAX_ROSTER_MEMBERS: usize = 256;
/// Most node peer ids one organization may register.
pub const MAX_NODES_PER_MEMBER: usize = 8;
/// Most bootstrap addresses one organization may register.
pub const MAX_ADDRS_PER_MEMBER: usize = 8;
/// Longest libp2p peer id, in bytes.
pub const MAX_PEER_ID_BYTES: usize = 64;
/// Longest multiaddr text.
pub const MAX_ADDR_BYTES: usize = 256;
/// Most recipients of a restricted entry.
pub const MAX_RECIPIENTS: usize = 64;
/// Longest bulletin title.
pub const MAX_TITLE_BYTES: usize = 256;
/// Longest bulletin summary.
pub const MAX_SUMMARY_BYTES: usize = 8 * 1024;
/// Longest bulletin details text.
pub const MAX_DETAILS_BYTES: usize = 128 * 1024;
/// Longest short free text (reasons, notes, list items).
pub const MAX_TEXT_BYTES: usize = 2 * 1024;
/// Most items in any list of a body (affected systems, mitigations, references).
pub const MAX_LIST_ITEMS: usize = 64;
/// How far in the future an entry's timestamp may be, relative to the
/// receiver's clock, before it is ignored.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;
/// How far beyond an author's next expected `seq` an entry may be queued.
pub const MAX_GAP_WINDOW: u64 = 4096;
/// Most out-of-order entries held for one author.
pub const MAX_PENDING_PER_AUTHOR: usize = 1024;
/// Most out-of-order entries held across all authors.
pub const MAX_PENDING_TOTAL: usize = 16 * 1024;
/// Largest `seq` an entry may carry (keeps arithmetic far from overflow and
/// within the 53-bit integers of JSON exports).
pub const MAX_SEQ: u64 = (1 << 53) - 1;
