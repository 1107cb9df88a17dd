//! Hashes and identifiers: entry ids, body hashes, roster hashes, organization keys.

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 digest used as an identifier (entry id, body hash, roster hash).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Hash32(Sha256::digest(bytes).into())
    }

    /// SHA-256 of the concatenation of `parts`.
    pub fn of_parts(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Hash32(hasher.finalize().into())
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Hash32(out))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.to_hex()[..16])
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An entry id: SHA-256 over the exact signed envelope bytes.
pub type EntryId = Hash32;

/// An organization's public signing key (Ed25519, 32 bytes); it is the
/// organization's identity on the wire and the author field of its entries.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgKey(pub [u8; 32]);

impl OrgKey {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        Hash32::from_hex(text).map(|h| OrgKey(h.0))
    }
}

impl fmt::Debug for OrgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgKey({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for OrgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Both identifiers travel as a CBOR byte string of exactly 32 bytes.
macro_rules! bytes32_cbor {
    ($t:ident) => {
        impl<C> minicbor::Encode<C> for $t {
            fn encode<W: minicbor::encode::Write>(
                &self,
                e: &mut minicbor::Encoder<W>,
                _ctx: &mut C,
            ) -> Result<(), minicbor::encode::Error<W::Error>> {
                e.bytes(&self.0)?;
                Ok(())
            }
        }

        impl<'b, C> minicbor::Decode<'b, C> for $t {
            fn decode(d: &mut minicbor::Decoder<'b>, _ctx: &mut C) -> Result<Self, minicbor::decode::Error> {
                let bytes = d.bytes()?;
                let array: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| minicbor::decode::Error::message("expected 32 bytes"))?;
                Ok($t(array))
            }
        }
    };
}

bytes32_cbor!(Hash32);
bytes32_cbor!(OrgKey);
