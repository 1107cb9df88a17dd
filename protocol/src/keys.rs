//! Organization keys: the Ed25519 signing identity, the X25519 encryption key
//! (age-compatible), and their on-disk key-file format.
//!
//! Keys are built from seeds the caller supplies, so this crate never touches
//! an OS random number generator; the node draws the seeds.

use crate::ids::OrgKey;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::fmt;
use zeroize::Zeroizing;

/// Human-readable part of an age X25519 recipient (`age1…`).
const AGE_RECIPIENT_HRP: &str = "age";
/// Human-readable part of an age X25519 identity (`AGE-SECRET-KEY-1…`).
const AGE_IDENTITY_HRP: &str = "age-secret-key-";
/// First line of every organization key file.
pub const KEY_FILE_FORMAT: &str = "riskmesh-org-key-v1";

/// Why a key or key file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not a valid Ed25519 public key (not on the curve, or not
    /// canonically encoded).
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// The text is not an age X25519 recipient (`age1…`).
    #[error("not an age X25519 recipient (expected `age1…`)")]
    InvalidRecipient,
    /// The text is not an age X25519 identity (`AGE-SECRET-KEY-1…`).
    #[error("not an age X25519 identity (expected `AGE-SECRET-KEY-1…`)")]
    InvalidIdentity,
    /// The key file is malformed; the message names the line or field.
    #[error("key file: {0}")]
    KeyFile(String),
}

impl KeyError {
    /// Stable name for metrics, logs and test vectors.
    pub fn name(&self) -> &'static str {
        match self {
            KeyError::InvalidPublicKey => "invalid_public_key",
            KeyError::InvalidRecipient => "invalid_recipient",
            KeyError::InvalidIdentity => "invalid_identity",
            KeyError::KeyFile(_) => "key_file",
        }
    }
}

/// An organization's secret signing key.
pub struct OrgSigningKey(SigningKey);

impl OrgSigningKey {
    /// Builds the key from a 32-byte seed (RFC 8032 secret key).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        OrgSigningKey(SigningKey::from_bytes(&seed))
    }

    /// The public half: the organization's identity on the wire.
    pub fn public(&self) -> OrgKey {
        OrgKey(self.0.verifying_key().to_bytes())
    }

    /// The 32-byte seed, for writing the key file.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// Signs `message` (already domain-separated by the caller's module).
    /// Signing is deterministic (RFC 8032 §5.1.6): one message always gets
    /// one signature, as the protocol requires of authors (spec §3.3).
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for OrgSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgSigningKey(public {})", self.public())
    }
}

/// Whether 32 bytes encode a curve point canonically: the y coordinate
/// (the low 255 bits, little-endian) is below p = 2^255 - 19. Point
/// decompression accepts y >= p as an alias of y - p; refusing it gives every
/// key exactly one encoding.
pub fn is_canonical_point(bytes: &[u8; 32]) -> bool {
    let top = bytes[31] & 0x7f;
    !(top == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed)
}

/// Verifies an Ed25519 signature with `verify_strict`, which rejects
/// small-order public keys and `R` values, non-canonical `R`, and malleable
/// `S`; a non-canonical public-key encoding is refused before that.
pub fn verify_strict(key: &OrgKey, message: &[u8], signature: &[u8; 64]) -> bool {
    if !is_canonical_point(&key.0) {
        return false;
    }
    let Ok(key) = VerifyingKey::from_bytes(&key.0) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(signature))
        .is_ok()
}

/// [`verify_strict`] with a key parsed in advance (a roster participant's).
/// The roster only holds keys that passed [`check_public_key`], so the
/// canonical-encoding check has already been made.
pub fn verify_strict_parsed(key: &crate::roster::ParsedKey, message: &[u8], signature: &[u8; 64]) -> bool {
    key.0
        .verify_strict(message, &Signature::from_bytes(signature))
        .is_ok()
}

/// Checks that 32 bytes are a usable Ed25519 public key.
pub fn check_public_key(key: &OrgKey) -> Result<(), KeyError> {
    if !is_canonical_point(&key.0) {
        return Err(KeyError::InvalidPublicKey);
    }
    let parsed = VerifyingKey::from_bytes(&key.0).map_err(|_| KeyError::InvalidPublicKey)?;
    if parsed.is_weak() {
        return Err(KeyError::InvalidPublicKey);
    }
    Ok(())
}

/// An organization's X25519 public encryption key (an age recipient).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptionKey(pub [u8; 32]);

impl EncryptionKey {
    /// The age recipient string, `age1…`.
    pub fn to_age_recipient(&self) -> String {
        bech32_encode(AGE_RECIPIENT_HRP, &self.0, false)
    }

    /// Parses an age recipient string.
    pub fn from_age_recipient(text: &str) -> Result<Self, KeyError> {
        let (hrp, data) = bech32::decode(text).map_err(|_| KeyError::InvalidRecipient)?;
        if hrp.to_lowercase() != AGE_RECIPIENT_HRP || text.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(KeyError::InvalidRecipient);
        }
        let bytes: [u8; 32] = data.try_into().map_err(|_| KeyError::InvalidRecipient)?;
        Ok(EncryptionKey(bytes))
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_age_recipient())
    }
}

/// An organization's X25519 secret key (an age identity).
pub struct EncryptionSecret(Zeroizing<[u8; 32]>);

impl EncryptionSecret {
    /// Builds the secret from 32 random bytes.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        EncryptionSecret(Zeroizing::new(seed))
    }

    /// The public half (`age1…`).
    pub fn public(&self) -> EncryptionKey {
        let secret = x25519_dalek::StaticSecret::from(*self.0);
        EncryptionKey(x25519_dalek::PublicKey::from(&secret).to_bytes())
    }

    /// The age identity string, `AGE-SECRET-KEY-1…`, as age writes it.
    pub fn to_age_identity(&self) -> Zeroizing<String> {
        Zeroizing::new(bech32_encode(AGE_IDENTITY_HRP, &*self.0, true))
    }

    /// Parses an age identity string.
    pub fn from_age_identity(text: &str) -> Result<Self, KeyError> {
        let (hrp, data) = bech32::decode(text).map_err(|_| KeyError::InvalidIdentity)?;
        if hrp.to_lowercase() != AGE_IDENTITY_HRP || text.chars().any(|c| c.is_ascii_lowercase()) {
            return Err(KeyError::InvalidIdentity);
        }
        let bytes: [u8; 32] = data.try_into().map_err(|_| KeyError::InvalidIdentity)?;
        Ok(EncryptionSecret(Zeroizing::new(bytes)))
    }
}

impl fmt::Debug for EncryptionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionSecret(public {:?})", self.public())
    }
}

fn bech32_encode(hrp: &str, data: &[u8], upper: bool) -> String {
    // Both human-readable parts are valid constants and the data is 32 bytes,
    // far below the bech32 length limit, so neither call can fail.
    let hrp = bech32::Hrp::parse_unchecked(hrp);
    if upper {
        bech32::encode_upper::<bech32::Bech32>(hrp, data).unwrap_or_default()
    } else {
        bech32::encode_lower::<bech32::Bech32>(hrp, data).unwrap_or_default()
    }
}

/// Everything secret an organization holds: the content of its key file.
#[derive(Debug)]
pub struct OrgSecrets {
    /// Short organization id, as on the roster.
    pub org: String,
    /// The Ed25519 signing key.
    pub signing: OrgSigningKey,
    /// The X25519 decryption key.
    pub encryption: EncryptionSecret,
}

impl OrgSecrets {
    /// Writes the key file text. The format is line-based `name = "value"`
    /// (a TOML subset), so an operator can read which organization a file
    /// belongs to and which public keys it corresponds to.
    pub fn to_key_file(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# riskmesh organization secret keys. Keep this file private.\n\
             format = \"{KEY_FILE_FORMAT}\"\n\
             org = \"{org}\"\n\
             # public signing key (the organization id on the wire): {public}\n\
             signing_seed = \"{seed}\"\n\
             # public encryption key: {recipient}\n\
             encryption_identity = \"{identity}\"\n",
            org = self.org,
            public = self.signing.public(),
            seed = hex::encode(*self.signing.seed()),
            recipient = self.encryption.public().to_age_recipient(),
            identity = self.encryption.to_age_identity().as_str(),
        ))
    }

    /// Parses a key file written by [`OrgSecrets::to_key_file`].
    pub fn from_key_file(text: &str) -> Result<Self, KeyError> {
        let mut format = None;
        let mut org = None;
        let mut seed = None;
        let mut identity = None;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || KeyError::KeyFile(format!("line {}: expected name = \"value\"", number + 1));
            let (name, value) = line.split_once('=').ok_or_else(bad)?;
            let value = value
                .trim()
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(bad)?;
            let slot = match name.trim() {
                "format" => &mut format,
                "org" => &mut org,
                "signing_seed" => &mut seed,
                "encryption_identity" => &mut identity,
                other => {
                    return Err(KeyError::KeyFile(format!(
                        "line {}: unknown field `{other}`",
                        number + 1
                    )));
                }
            };
            if slot.replace(value.to_string()).is_some() {
                return Err(KeyError::KeyFile(format!("line {}: repeated field", number + 1)));
            }
        }
        let missing = |field: &str| KeyError::KeyFile(format!("missing field `{field}`"));
        if format.as_deref() != Some(KEY_FILE_FORMAT) {
            return Err(KeyError::KeyFile(format!(
                "not a riskmesh key file (expected format = \"{KEY_FILE_FORMAT}\")"
            )));
        }
        let org = org.ok_or_else(|| missing("org"))?;
        let seed_hex = Zeroizing::new(seed.ok_or_else(|| missing("signing_seed"))?);
        let mut seed_bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(seed_hex.as_str(), &mut *seed_bytes)
            .map_err(|_| KeyError::KeyFile("signing_seed must be 64 hex digits".into()))?;
        let identity = Zeroizing::new(identity.ok_or_else(|| missing("encryption_identity"))?);
        Ok(OrgSecrets {
            org,
            signing: OrgSigningKey::from_seed(*seed_bytes),
            encryption: EncryptionSecret::from_age_identity(&identity)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips() {
        let secrets = OrgSecrets {
            org: "anthropic".into(),
            signing: OrgSigningKey::from_seed([7; 32]),
            encryption: EncryptionSecret::from_seed([9; 32]),
        };
        let text = secrets.to_key_file();
        let back = OrgSecrets::from_key_file(&text).expect("parses");
        assert_eq!(back.org, "anthropic");
        assert_eq!(back.signing.public(), secrets.signing.public());
        assert_eq!(back.encryption.public(), secrets.encryption.public());
        assert!(text.contains("AGE-SECRET-KEY-1"));
        assert!(secrets.encryption.public().to_age_recipient().starts_with("age1"));
    }

    #[test]
    fn key_file_errors_name_the_problem() {
        let err = OrgSecrets::from_key_file("format = \"x\"").expect_err("must fail");
        assert!(err.to_string().contains("not a riskmesh key file"));
        let err = OrgSecrets::from_key_file("bogus line").expect_err("must fail");
        assert!(err.to_string().contains("line 1"));
        let err =
            OrgSecrets::from_key_file(&format!("format = \"{KEY_FILE_FORMAT}\"")).expect_err("must fail");
        assert!(err.to_string().contains("missing field `org`"));
    }

    #[test]
    fn non_canonical_key_encodings_are_refused() {
        // y = p + 3 aliases y = 3: the same point, a second encoding.
        let mut alias = [0xff; 32];
        alias[0] = 0xf0;
        alias[31] = 0x7f;
        assert!(!is_canonical_point(&alias));
        assert_eq!(check_public_key(&OrgKey(alias)), Err(KeyError::InvalidPublicKey));
        assert!(!verify_strict(&OrgKey(alias), b"m", &[0; 64]));
        let mut largest_canonical = [0xff; 32];
        largest_canonical[0] = 0xec;
        largest_canonical[31] = 0x7f;
        assert!(is_canonical_point(&largest_canonical));
        let key = OrgSigningKey::from_seed([4; 32]).public();
        assert!(is_canonical_point(&key.0));
        assert_eq!(check_public_key(&key), Ok(()));
    }

    #[test]
    fn recipient_round_trips_and_rejects_wrong_kind() {
        let key = EncryptionSecret::from_seed([1; 32]).public();
        assert_eq!(
            EncryptionKey::from_age_recipient(&key.to_age_recipient()),
            Ok(key)
        );
        let identity = EncryptionSecret::from_seed([1; 32]).to_age_identity();
        assert_eq!(
            EncryptionKey::from_age_recipient(&identity),
            Err(KeyError::InvalidRecipient)
        );
    }
}
