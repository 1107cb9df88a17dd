//! The requester node's answer to a release delivered over the direct
//! release stream (spec §8): a short verdict, typed here so both ends agree
//! on its bytes and its meaning.

use crate::limits::MAX_RELEASE_VERDICT_BYTES;

const OK: &[u8] = b"ok";
const MISMATCH: &[u8] = b"mismatch";
const REFUSED: &[u8] = b"refused: ";
const ALREADY: &str = "already received";

/// What the requester's node says about a release it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryVerdict {
    /// Verified against the commitments and committed; the receipt follows.
    Accepted,
    /// An opening signed by the author does not match its commitment; the
    /// requester keeps the fault proof (the signed release cut to that
    /// opening).
    Mismatch,
    /// An earlier delivery of this release was already accepted (its
    /// `Accepted` answer was lost).
    AlreadyReceived,
    /// Not accepted now; the text says why (not yet synced, busy, not ours).
    Refused(String),
}

impl DeliveryVerdict {
    /// Whether the author's node may stop delivering: the requester holds
    /// the release, or has proof that it is faulty.
    pub fn is_final(&self) -> bool {
        !matches!(self, DeliveryVerdict::Refused(_))
    }

    /// The verdict's bytes on the wire, at most [`MAX_RELEASE_VERDICT_BYTES`]
    /// (a long refusal text is cut at a character boundary).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            DeliveryVerdict::Accepted => OK.to_vec(),
            DeliveryVerdict::Mismatch => MISMATCH.to_vec(),
            DeliveryVerdict::AlreadyReceived => [REFUSED, ALREADY.as_bytes()].concat(),
            DeliveryVerdict::Refused(why) => {
                let room = MAX_RELEASE_VERDICT_BYTES - REFUSED.len();
                let mut end = why.len().min(room);
                while !why.is_char_boundary(end) {
                    end -= 1;
                }
                [REFUSED, &why.as_bytes()[..end]].concat()
            }
        }
    }

    /// Reads a verdict. Anything that is not a known verdict (over the cap,
    /// not UTF-8, unknown words) counts as a refusal, so the author retries
    /// rather than stops.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        if bytes.len() > MAX_RELEASE_VERDICT_BYTES {
            return DeliveryVerdict::Refused("verdict over its size cap".into());
        }
        match bytes {
            OK => DeliveryVerdict::Accepted,
            MISMATCH => DeliveryVerdict::Mismatch,
            _ => match bytes.strip_prefix(REFUSED).map(std::str::from_utf8) {
                Some(Ok(ALREADY)) => DeliveryVerdict::AlreadyReceived,
                Some(Ok(why)) => DeliveryVerdict::Refused(why.to_string()),
                _ => DeliveryVerdict::Refused("unreadable verdict".into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_round_trip_with_their_historic_bytes() {
        for (verdict, bytes) in [
            (DeliveryVerdict::Accepted, &b"ok"[..]),
            (DeliveryVerdict::Mismatch, b"mismatch"),
            (DeliveryVerdict::AlreadyReceived, b"refused: already received"),
            (DeliveryVerdict::Refused("busy".into()), b"refused: busy"),
        ] {
            assert_eq!(verdict.to_bytes(), bytes);
            assert_eq!(DeliveryVerdict::from_bytes(bytes), verdict);
        }
    }

    #[test]
    fn unknown_oversized_or_garbled_verdicts_are_refusals() {
        for bytes in [
            &b"OK"[..],
            b"",
            b"refused: \xff\xfe",
            &[b'x'; MAX_RELEASE_VERDICT_BYTES + 1][..],
        ] {
            assert!(!DeliveryVerdict::from_bytes(bytes).is_final(), "{bytes:?}");
        }
    }

    #[test]
    fn long_refusals_are_cut_to_the_cap_on_a_char_boundary() {
        let verdict = DeliveryVerdict::Refused("é".repeat(MAX_RELEASE_VERDICT_BYTES));
        let bytes = verdict.to_bytes();
        assert!(bytes.len() <= MAX_RELEASE_VERDICT_BYTES);
        assert!(std::str::from_utf8(&bytes).is_ok());
    }
}
