//! Sync messages: the request-response protocol that repairs what gossip
//! missed. Peers exchange per-author heads, then fetch missing ranges in
//! bounded batches; rosters and equivocation proofs travel the same way.
//!
//! Every request and response is canonical CBOR with its own size cap, and
//! a range response must be checkable against its request: same author,
//! contiguous seqs from the requested start, no more than asked.
//!
//! Wire shape (spec §13): both enums encode as a 2-element array
//! `[variant, value]`. A variant with named fields has a map as `value`
//! (`[1, {0: author, 1: from_seq, 2: count}]`); the unit variant
//! [`SyncRequest::Heads`] has the empty array (`[0, []]`, bytes `82 00 80`);
//! a variant with one unnamed field wraps it in a 1-element array
//! (`[4, ["reason"]]` for [`SyncResponse::Refused`], `[1, [[entry, ...]]]`
//! for [`SyncResponse::Entries`]). This is how `minicbor`'s derive encodes
//! enums; the spec pins these bytes so other implementations match them.
//!
//! The size and count bounds live in [`crate::limits`] and are re-exported
//! here for callers that think of them as sync parameters.

use crate::cbor::{self, CborError};
use crate::chain::EquivocationProof;
use crate::entry::WireEntry;
use crate::ids::{EntryId, Hash32, OrgKey};
pub use crate::limits::{
    MAX_HEADS, MAX_PROOFS_PER_RESPONSE, MAX_ROSTERS_PER_RESPONSE, MAX_SYNC_RANGE, MAX_SYNC_REQUEST_BYTES,
    MAX_SYNC_RESPONSE_BYTES,
};
use crate::limits::{MAX_ROSTER_BYTES, MAX_SEQ, MAX_WIRE_ENTRY_BYTES};
use minicbor::{Decode, Encode};

/// The head of one author's log as a peer holds it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct Head {
    /// The author.
    #[n(0)]
    pub author: OrgKey,
    /// Seq of the last contiguous entry held.
    #[n(1)]
    pub seq: u64,
    /// Its id.
    #[n(2)]
    pub id: EntryId,
}

/// A sync request. CBOR `[variant, value]`: `[0, []]` for heads, `[n, {fields}]`
/// for the others (spec §13).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// "What do you hold?"
    #[n(0)]
    Heads,
    /// "Send `author`'s entries from `from_seq`, at most `count`."
    #[n(1)]
    #[cbor(map)]
    Range {
        /// The author.
        #[n(0)]
        author: OrgKey,
        /// First seq wanted.
        #[n(1)]
        from_seq: u64,
        /// How many, at most [`MAX_SYNC_RANGE`].
        #[n(2)]
        count: u64,
    },
    /// "Send roster versions after `after_version`."
    #[n(2)]
    #[cbor(map)]
    Rosters {
        /// The newest version the requester holds.
        #[n(0)]
        after_version: u64,
    },
    /// "Send equivocation proofs, skipping the first `skip`."
    #[n(3)]
    #[cbor(map)]
    Proofs {
        /// How many the requester already has (proofs are served oldest first).
        #[n(0)]
        skip: u64,
    },
    /// "This is the digest of what I hold ([`heads_digest`]); send your
    /// heads only if yours differs." A periodic round between peers that
    /// hold the same costs this request and [`SyncResponse::InSync`].
    #[n(4)]
    #[cbor(map)]
    Digest {
        /// The requester's digest.
        #[n(0)]
        digest: Hash32,
    },
}

/// A sync response. CBOR `[variant, value]`: `[0, {fields}]` for heads, and
/// `[n, [field]]` (the single field wrapped in a 1-element array) for the
/// others (spec §13).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum SyncResponse {
    /// The responder's heads, its roster version and its proof count.
    #[n(0)]
    #[cbor(map)]
    Heads {
        /// One head per author held, ascending by author.
        #[n(0)]
        heads: Vec<Head>,
        /// Newest roster version held.
        #[n(1)]
        roster_version: u64,
        /// Equivocation proofs held.
        #[n(2)]
        proofs: u64,
    },
    /// Entries of one author, contiguous from the requested seq.
    #[n(1)]
    Entries(#[n(0)] Vec<WireEntry>),
    /// Signed roster versions (CBOR of `SignedRoster`), ascending.
    #[n(2)]
    Rosters(#[n(0)] Vec<minicbor::bytes::ByteVec>),
    /// Equivocation proofs.
    #[n(3)]
    Proofs(#[n(0)] Vec<EquivocationProof>),
    /// The request was refused (over a limit, malformed); the text says why.
    #[n(4)]
    Refused(#[n(0)] String),
    /// The answer to a [`SyncRequest::Digest`] that matches the responder's
    /// own digest: nothing to exchange.
    #[n(5)]
    InSync,
}

/// Domain separation of [`heads_digest`].
pub const HEADS_DIGEST_PREFIX: &[u8] = b"riskmesh-heads-v1\0";

/// The digest of what a node holds: SHA-256 of [`HEADS_DIGEST_PREFIX`]
/// followed by the canonical bytes of the [`SyncResponse::Heads`] it would
/// send (heads ascending by author, roster version, proof count), so two
/// nodes agree on the digest exactly when they would send the same heads
/// answer (spec §13.1).
pub fn heads_digest(heads: &[Head], roster_version: u64, proofs: u64) -> Hash32 {
    let response = HeadsRef {
        heads,
        roster_version,
        proofs,
    };
    let bytes = cbor::encode(&response);
    Hash32::of_parts(&[HEADS_DIGEST_PREFIX, &bytes])
}

/// [`SyncResponse::Heads`] by reference, so the digest is computed without
/// copying the heads; it encodes to the same bytes.
struct HeadsRef<'a> {
    heads: &'a [Head],
    roster_version: u64,
    proofs: u64,
}

impl<C> minicbor::Encode<C> for HeadsRef<'_> {
    fn encode<W: minicbor::encode::Write>(
        &self,
        e: &mut minicbor::Encoder<W>,
        ctx: &mut C,
    ) -> Result<(), minicbor::encode::Error<W::Error>> {
        e.array(2)?.u8(0)?.map(3)?;
        e.u8(0)?.array(self.heads.len() as u64)?;
        for head in self.heads {
            head.encode(e, ctx)?;
        }
        e.u8(1)?.u64(self.roster_version)?;
        e.u8(2)?.u64(self.proofs)?;
        Ok(())
    }
}

/// Why a sync message is unacceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Not canonical CBOR of the message structure, or over its size cap.
    #[error("sync message encoding: {0}")]
    Encoding(#[from] CborError),
    /// A request asks for more than the limits allow.
    #[error("sync request over a limit: {0}")]
    OverLimit(&'static str),
    /// A response does not answer its request (wrong author, gaps, too many,
    /// out of order); the peer that sent it is at fault.
    #[error("sync response does not match the request: {0}")]
    Mismatch(&'static str),
}

impl SyncError {
    /// Stable name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            SyncError::Encoding(_) => "encoding",
            SyncError::OverLimit(_) => "over_limit",
            SyncError::Mismatch(_) => "mismatch",
        }
    }
}

impl SyncRequest {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(self)
    }

    /// Decodes a request and checks its limits.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SyncError> {
        let request: SyncRequest = cbor::decode_canonical(bytes, MAX_SYNC_REQUEST_BYTES)?;
        if let SyncRequest::Range { from_seq, count, .. } = &request {
            if *count == 0 || *count > MAX_SYNC_RANGE {
                return Err(SyncError::OverLimit("range count must be 1..=512"));
            }
            if *from_seq == 0 || from_seq.checked_add(*count).is_none() {
                return Err(SyncError::OverLimit(
                    "range start must be at least 1 and not overflow",
                ));
            }
        }
        Ok(request)
    }
}

impl SyncResponse {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(self)
    }

    /// Decodes a response (canonical form and overall size only; check it
    /// against its request with [`check_response`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SyncError> {
        Ok(cbor::decode_canonical(bytes, MAX_SYNC_RESPONSE_BYTES)?)
    }
}

/// Checks the shape of a response against its request, before any entry is
/// verified: a range response holds at most `count` entries (each within the
/// wire-entry cap as encoded); heads are ascending and within [`MAX_HEADS`]; proofs and
/// rosters within their caps. Entry contents (author, contiguous seqs) are
/// checked after verification with [`check_range`].
pub fn check_response(request: &SyncRequest, response: &SyncResponse) -> Result<(), SyncError> {
    match (request, response) {
        (_, SyncResponse::Refused(_)) | (SyncRequest::Digest { .. }, SyncResponse::InSync) => Ok(()),
        (SyncRequest::Heads | SyncRequest::Digest { .. }, SyncResponse::Heads { heads, .. }) => {
            if heads.len() > MAX_HEADS {
                return Err(SyncError::Mismatch("too many heads"));
            }
            if !heads.windows(2).all(|w| w[0].author < w[1].author)
                || heads.iter().any(|h| h.seq == 0 || h.seq > MAX_SEQ)
            {
                return Err(SyncError::Mismatch(
                    "heads must be ascending by author with 1 <= seq <= MAX_SEQ",
                ));
            }
            Ok(())
        }
        (SyncRequest::Range { count, .. }, SyncResponse::Entries(entries)) => {
            if entries.len() as u64 > *count {
                return Err(SyncError::Mismatch("more entries than requested"));
            }
            if entries.iter().any(|e| e.encoded_len() > MAX_WIRE_ENTRY_BYTES) {
                return Err(SyncError::Mismatch("an entry is over the size cap"));
            }
            Ok(())
        }
        (SyncRequest::Rosters { .. }, SyncResponse::Rosters(rosters)) => {
            if rosters.len() > MAX_ROSTERS_PER_RESPONSE || rosters.iter().any(|r| r.len() > MAX_ROSTER_BYTES)
            {
                return Err(SyncError::Mismatch("too many or too large rosters"));
            }
            Ok(())
        }
        (SyncRequest::Proofs { .. }, SyncResponse::Proofs(proofs)) => {
            if proofs.len() > MAX_PROOFS_PER_RESPONSE {
                return Err(SyncError::Mismatch("too many proofs"));
            }
            Ok(())
        }
        _ => Err(SyncError::Mismatch("response type does not answer the request")),
    }
}

/// Checks verified range entries: every entry is by the requested author,
/// seqs are contiguous from the requested start. A range that would run
/// past `u64::MAX` is not contiguous (no seq follows `u64::MAX`).
pub fn check_range(author: &OrgKey, from_seq: u64, headers: &[(OrgKey, u64)]) -> Result<(), SyncError> {
    for (i, (entry_author, seq)) in headers.iter().enumerate() {
        if entry_author != author {
            return Err(SyncError::Mismatch("entry by another author"));
        }
        let expected = u64::try_from(i).ok().and_then(|i| from_seq.checked_add(i));
        if expected != Some(*seq) {
            return Err(SyncError::Mismatch(
                "entries not contiguous from the requested seq",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Hash32;

    #[test]
    fn requests_round_trip_and_limits_hold() {
        let author = OrgKey([1; 32]);
        for request in [
            SyncRequest::Heads,
            SyncRequest::Range {
                author,
                from_seq: 1,
                count: 512,
            },
            SyncRequest::Rosters { after_version: 1 },
            SyncRequest::Proofs { skip: 0 },
        ] {
            assert_eq!(SyncRequest::from_bytes(&request.to_bytes()), Ok(request));
        }
        let huge = SyncRequest::Range {
            author,
            from_seq: 1,
            count: 513,
        };
        assert!(matches!(
            SyncRequest::from_bytes(&huge.to_bytes()),
            Err(SyncError::OverLimit(_))
        ));
        let zero = SyncRequest::Range {
            author,
            from_seq: 0,
            count: 1,
        };
        assert!(matches!(
            SyncRequest::from_bytes(&zero.to_bytes()),
            Err(SyncError::OverLimit(_))
        ));
        let overflow = SyncRequest::Range {
            author,
            from_seq: u64::MAX,
            count: 2,
        };
        assert!(matches!(
            SyncRequest::from_bytes(&overflow.to_bytes()),
            Err(SyncError::OverLimit(_))
        ));
        assert!(SyncRequest::from_bytes(&[0xff; 2000]).is_err());
    }

    #[test]
    fn message_shapes_match_the_spec() {
        // Spec §13: the unit variant carries `[]`, single fields a 1-element array.
        assert_eq!(SyncRequest::Heads.to_bytes(), [0x82, 0x00, 0x80]);
        assert_eq!(
            SyncResponse::Refused("no".into()).to_bytes(),
            [0x82, 0x04, 0x81, 0x62, b'n', b'o']
        );
        assert_eq!(
            SyncRequest::Rosters { after_version: 1 }.to_bytes(),
            [0x82, 0x02, 0xa1, 0x00, 0x01]
        );
    }

    #[test]
    fn responses_are_checked_against_requests() {
        let author = OrgKey([1; 32]);
        let range = SyncRequest::Range {
            author,
            from_seq: 5,
            count: 1,
        };
        let two = SyncResponse::Entries(vec![
            WireEntry {
                envelope: vec![1],
                body: None,
            };
            2
        ]);
        assert!(check_response(&range, &two).is_err());
        assert!(check_response(&SyncRequest::Heads, &two).is_err());
        let heads = SyncResponse::Heads {
            heads: vec![
                Head {
                    author: OrgKey([2; 32]),
                    seq: 1,
                    id: Hash32([0; 32]),
                },
                Head {
                    author: OrgKey([1; 32]),
                    seq: 1,
                    id: Hash32([0; 32]),
                },
            ],
            roster_version: 1,
            proofs: 0,
        };
        assert!(check_response(&SyncRequest::Heads, &heads).is_err());
        let bytes = heads.to_bytes();
        assert_eq!(SyncResponse::from_bytes(&bytes), Ok(heads));
        // A head no entry can have (the eclipse attack of the review: fake
        // heads up to u64::MAX) is refused; MAX_SEQ itself is allowed.
        for (seq, ok) in [(MAX_SEQ + 1, false), (u64::MAX, false), (MAX_SEQ, true)] {
            let heads = SyncResponse::Heads {
                heads: vec![Head {
                    author,
                    seq,
                    id: Hash32([0; 32]),
                }],
                roster_version: 1,
                proofs: 0,
            };
            assert_eq!(
                check_response(&SyncRequest::Heads, &heads).is_ok(),
                ok,
                "seq {seq}"
            );
        }
        assert!(check_range(&author, 5, &[(author, 5), (author, 6)]).is_ok());
        assert!(check_range(&author, 5, &[(author, 6)]).is_err());
        assert!(check_range(&author, 5, &[(OrgKey([9; 32]), 5)]).is_err());
    }

    #[test]
    fn the_digest_is_the_hash_of_the_heads_answer_and_a_no_op_round_is_small() {
        let heads: Vec<Head> = (0..50u8)
            .map(|i| Head {
                author: OrgKey([i; 32]),
                seq: u64::from(i) + 1,
                id: Hash32([i; 32]),
            })
            .collect();
        let answer = SyncResponse::Heads {
            heads: heads.clone(),
            roster_version: 3,
            proofs: 2,
        };
        let digest = heads_digest(&heads, 3, 2);
        assert_eq!(
            digest,
            Hash32::of_parts(&[HEADS_DIGEST_PREFIX, &answer.to_bytes()])
        );
        // Any difference in what the answer says changes the digest.
        assert_ne!(digest, heads_digest(&heads, 4, 2));
        assert_ne!(digest, heads_digest(&heads, 3, 1));
        assert_ne!(digest, heads_digest(&heads[1..], 3, 2));
        let request = SyncRequest::Digest { digest };
        assert_eq!(SyncRequest::from_bytes(&request.to_bytes()), Ok(request.clone()));
        assert_eq!(&request.to_bytes()[..5], &[0x82, 0x04, 0xa1, 0x00, 0x58]);
        assert_eq!(SyncResponse::InSync.to_bytes(), [0x82, 0x05, 0x80]);
        // The bound: a no-op sync of a 50-author network in at most
        // 256 bytes (request plus response, before transport framing).
        assert!(request.to_bytes().len() + SyncResponse::InSync.to_bytes().len() <= 256);
        assert!(check_response(&request, &SyncResponse::InSync).is_ok());
        assert!(check_response(&request, &answer).is_ok());
        assert!(check_response(&SyncRequest::Heads, &SyncResponse::InSync).is_err());
        assert!(check_response(&SyncRequest::Proofs { skip: 0 }, &SyncResponse::InSync).is_err());
    }

    /// The digest of the heads answer spec §13 shows as an example (one head:
    /// author 0x11…, seq 1, id 0x22…; roster version 1; no proofs), pinned
    /// so `spec/verify_vectors.py` checks the same bytes.
    #[test]
    fn the_spec_example_digest() {
        let heads = [Head {
            author: OrgKey([0x11; 32]),
            seq: 1,
            id: Hash32([0x22; 32]),
        }];
        assert_eq!(
            heads_digest(&heads, 1, 0).to_string(),
            "c0e01ecc64c4dd224a4ecb3a1bb0185da055d53f7f95b8cf13b5374f2a14dc0b"
        );
    }

    /// Fuzz target `sync_messages` (regression): `check_range` computed
    /// `from_seq + i` unchecked, so a start near `u64::MAX` with matching
    /// entries panicked with an overflow in debug builds (and wrapped to 0 in
    /// release). Seqs past `u64::MAX` cannot exist: the range is refused.
    #[test]
    fn check_range_near_u64_max_refuses_instead_of_overflowing() {
        let author = OrgKey([1; 32]);
        // The minimized crash: start at u64::MAX, a matching entry, then any
        // second entry by the author.
        assert!(check_range(&author, u64::MAX, &[(author, u64::MAX), (author, 0)]).is_err());
        let from = u64::MAX - 1;
        assert!(check_range(&author, from, &[(author, from), (author, u64::MAX)]).is_ok());
        assert_eq!(
            check_range(&author, from, &[(author, from), (author, u64::MAX), (author, 0)]),
            Err(SyncError::Mismatch(
                "entries not contiguous from the requested seq"
            ))
        );
    }
}
