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
pub const MAX_ROSTER_MEMBERS: usize = 512;
/// Most retired signing keys one roster carries (they accumulate over the
/// consortium's life: every removal, rotation and compromise adds one).
pub const MAX_RETIRED_KEYS: usize = 1024;
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
/// Most bytes (envelope plus body, as received) of out-of-order entries held
/// for one author. The count bounds alone let one author park 1024 entries
/// of 260 KiB, a quarter of a gigabyte, in memory until restart; this holds
/// 1024 entries of 8 KiB, or 31 of the largest, which covers an honest
/// author's burst while the sync that fills the gap runs.
pub const MAX_PENDING_BYTES_PER_AUTHOR: usize = 8 * 1024 * 1024;
/// Most bytes (envelope plus body) of out-of-order entries held across all
/// authors: eight authors' full queues.
pub const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;
/// Largest `seq` an entry may carry (keeps arithmetic far from overflow and
/// within the 53-bit integers of JSON exports).
pub const MAX_SEQ: u64 = (1 << 53) - 1;
/// Latest `timestamp_ms` a header may carry: the largest integer JSON (and
/// so every export and API consumer) represents exactly. It is about the year
/// 287396, so no honest clock reaches it.
pub const MAX_TIMESTAMP_MS: u64 = (1 << 53) - 1;
/// Largest encoded equivocation proof: two envelopes plus map framing.
pub const MAX_PROOF_BYTES: usize = 2 * MAX_ENVELOPE_BYTES + 16;
/// Largest quorum denominator a roster policy may use; it keeps the quorum
/// product (signers times denominator) far from overflow.
pub const MAX_QUORUM_DENOMINATOR: u64 = 1000;

// Any single entry fits an empty queue, and one author cannot fill them all.
const _: () = assert!(MAX_WIRE_ENTRY_BYTES <= MAX_PENDING_BYTES_PER_AUTHOR);
const _: () = assert!(MAX_PENDING_BYTES_PER_AUTHOR < MAX_PENDING_BYTES);

// Sync (request-response repair). `crate::sync` re-exports these.

/// Most entries a range request may ask for.
pub const MAX_SYNC_RANGE: u64 = 512;
/// Largest encoded sync request.
pub const MAX_SYNC_REQUEST_BYTES: usize = 1024;
/// Largest encoded sync response. A range response stops adding entries
/// before it would exceed this (but always carries at least one entry if the
/// responder has any, which fits because one wire entry is far smaller).
pub const MAX_SYNC_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Most equivocation proofs in one sync response.
pub const MAX_PROOFS_PER_RESPONSE: usize = 64;
/// Most roster versions in one sync response. Eight full-size rosters take
/// half of [`MAX_SYNC_RESPONSE_BYTES`], so a response at both caps still
/// encodes with its framing.
pub const MAX_ROSTERS_PER_RESPONSE: usize = 8;
/// Most heads in one sync response (one per roster participant).
pub const MAX_HEADS: usize = MAX_ROSTER_MEMBERS;

/// Bytes of CBOR framing allowed per item of a sync response (an array or
/// byte-string head is at most 9 bytes; maps of a few small keys add a few
/// more), and for the response itself.
const FRAMING: usize = 16;

// A sync response filled to every per-type cap must still fit the response
// cap, so a responder never has to choose between a cap and a valid message.
const _: () =
    assert!(MAX_ROSTERS_PER_RESPONSE * (MAX_ROSTER_BYTES + FRAMING) + FRAMING <= MAX_SYNC_RESPONSE_BYTES);
const _: () =
    assert!(MAX_PROOFS_PER_RESPONSE * (MAX_PROOF_BYTES + FRAMING) + FRAMING <= MAX_SYNC_RESPONSE_BYTES);
const _: () = assert!(MAX_WIRE_ENTRY_BYTES + 2 * FRAMING <= MAX_SYNC_RESPONSE_BYTES);
/// Largest signed release (the author's openings of withheld fields), before
/// the age encryption to the requester.
pub const MAX_RELEASE_BYTES: usize = 1024 * 1024;
/// Largest release request on the direct release stream: the age ciphertext
/// of a signed release (at most [`MAX_RELEASE_BYTES`]) plus age's header and
/// per-chunk overhead.
pub const MAX_SEALED_RELEASE_BYTES: usize = MAX_RELEASE_BYTES + 64 * 1024;
/// Largest release verdict (`ok`, `mismatch`, `refused: <reason>`).
pub const MAX_RELEASE_VERDICT_BYTES: usize = 1024;
/// Largest age header (everything before the payload, through the `---`
/// MAC line) a node hands to its age implementation: 64 X25519 stanzas of
/// about 100 bytes plus age's grease stanza fit in a quarter of it. Checked
/// before any parse, because a crafted header costs the parser time
/// quadratic in its size.
pub const MAX_AGE_HEADER_BYTES: usize = 16 * 1024;
/// Most stanzas (`-> ` lines) in an age header: one per recipient
/// ([`MAX_RECIPIENTS`]) plus one grease stanza and one spare.
pub const MAX_AGE_STANZAS: usize = MAX_RECIPIENTS + 2;
