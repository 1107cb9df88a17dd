//! Plaintext of withheld fields and restricted bodies in the node's memory:
//! the buffers the node owns are overwritten with zeros when dropped, so a
//! later look at the process's memory (a core dump, a swapped-out page, a
//! bug that reads freed memory) finds less of it.
//!
//! [`Zeroizing`] (from the `zeroize` crate) wraps byte buffers: decrypted
//! plaintext and the CBOR of openings before they are encrypted. [`Wiped`]
//! does the same for the protocol's and the API's structures that hold
//! plaintext in `String`s and `Vec`s ([`Wipe`] says which of their fields).
//! SECURITY.md lists what is wiped and what is not (copies made inside the
//! protocol crate, age, serde_json and hyper).

use riskmesh_protocol::limits::MAX_BODY_BYTES;
use riskmesh_protocol::redaction::Reveal;
use riskmesh_protocol::release::{Release, SignedRelease};
use riskmesh_protocol::{Body, BulletinBody, cbor};
use std::ops::Deref;
pub use zeroize::Zeroizing;

/// A value whose plaintext can be overwritten in place.
pub trait Wipe {
    /// Overwrites with zeros every plaintext buffer the value owns (whole
    /// capacity, not just length) and leaves those buffers empty.
    fn wipe(&mut self);
}

/// Owns a value holding plaintext and wipes it when dropped.
///
/// It hands out shared references only: a change through `&mut` (a push
/// that reallocates, a truncate, a field replaced) would free plaintext
/// unwiped. Its `Debug` prints no content.
pub struct Wiped<T: Wipe>(T);

/// Openings of withheld fields (salt and canonical CBOR value each), wiped
/// when dropped.
pub type Openings = Wiped<Vec<Reveal>>;

impl<T: Wipe> Wiped<T> {
    /// Takes ownership of `value`.
    pub fn new(value: T) -> Self {
        Wiped(value)
    }
}

impl<T: Wipe> Wiped<Vec<T>> {
    /// An empty vector with room for `capacity` items.
    pub fn with_capacity(capacity: usize) -> Self {
        Wiped(Vec::with_capacity(capacity))
    }

    /// Appends an item. Stay within the capacity given at creation: growing
    /// moves the items and frees the old buffer unwiped (the items' heap
    /// buffers move intact, but inline bytes such as a salt stay behind).
    pub fn push(&mut self, item: T) {
        debug_assert!(self.0.len() < self.0.capacity(), "a wiped vector grew");
        self.0.push(item);
    }
}

impl<T: Wipe> From<T> for Wiped<T> {
    fn from(value: T) -> Self {
        Wiped(value)
    }
}

impl<T: Wipe + Default> Default for Wiped<T> {
    fn default() -> Self {
        Wiped(T::default())
    }
}

impl<T: Wipe> Deref for Wiped<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Wipe> Drop for Wiped<T> {
    fn drop(&mut self) {
        self.0.wipe();
    }
}

impl<T: Wipe> std::fmt::Debug for Wiped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wiped(..)")
    }
}

/// Serializes the value itself, so an API answer can be wiped once axum has
/// written it out.
impl<T: Wipe + serde::Serialize> serde::Serialize for Wiped<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Implements [`Wipe`] for a struct by zeroizing the named fields (texts,
/// lists of texts, bytes), leaving the others (ids, names, numbers) alone.
macro_rules! wipe_fields {
    ($type:ident { $($field:ident),+ $(,)? }) => {
        impl $crate::plaintext::Wipe for $type {
            fn wipe(&mut self) {
                $(::zeroize::Zeroize::zeroize(&mut self.$field);)+
            }
        }
    };
}
pub(crate) use wipe_fields;

impl<T: Wipe> Wipe for Vec<T> {
    fn wipe(&mut self) {
        self.iter_mut().for_each(Wipe::wipe);
        self.clear();
    }
}

impl<T: Wipe> Wipe for Option<T> {
    fn wipe(&mut self) {
        if let Some(value) = self {
            value.wipe();
        }
    }
}

wipe_fields!(Reveal { salt, value });

impl Wipe for Release {
    fn wipe(&mut self) {
        self.reveals.wipe();
    }
}

// Release v2: the payload binds the openings by digest (not secret); the
// openings travel beside it.
impl Wipe for SignedRelease {
    fn wipe(&mut self) {
        self.reveals.wipe();
    }
}

// Every text a bulletin carries: at the restricted tier all of it is
// plaintext, and a full hazardous finding holds its withheld fields here.
wipe_fields!(BulletinBody {
    title,
    summary,
    affected,
    details,
    mitigations,
    references
});

/// A decoded body: a bulletin's texts (other kinds carry no plaintext of a
/// restricted body or a withheld field).
impl Wipe for Body {
    fn wipe(&mut self) {
        if let Body::Bulletin(bulletin) = self {
            bulletin.wipe();
        }
    }
}

/// The canonical CBOR of an opening, in a buffer wiped when dropped (sized
/// for the value plus the map, the field code, the 32-byte salt and the
/// byte-string headers, so it never grows).
pub fn encode_reveal(reveal: &Reveal) -> Zeroizing<Vec<u8>> {
    sized(reveal.value.len() + 64, |out| cbor::encode_into(reveal, out))
}

/// The canonical CBOR of a bulletin body, in a buffer wiped when dropped
/// (sized for the largest body allowed).
pub fn encode_bulletin(body: &BulletinBody) -> Zeroizing<Vec<u8>> {
    sized(MAX_BODY_BYTES, |out| cbor::encode_into(body, out))
}

/// The canonical bytes of a signed release, in a buffer wiped when dropped
/// (sized for the payload plus the author key, the signature and headers).
pub fn encode_release(signed: &SignedRelease) -> Zeroizing<Vec<u8>> {
    sized(signed.payload.len() + 128, |out| cbor::encode_into(signed, out))
}

/// A buffer with room for `capacity` bytes, filled by `fill`: when the
/// capacity covers the encoding the buffer never grows, so no partial copy
/// is freed unwiped.
fn sized(capacity: usize, fill: impl FnOnce(&mut Vec<u8>)) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(capacity));
    fill(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_protocol::redaction::WithheldField;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its wipes, so a test can see the drop wipe without reading
    /// freed memory.
    struct Probe(Arc<AtomicUsize>);

    impl Wipe for Probe {
        fn wipe(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wiped_value_is_wiped_when_dropped() {
        let wipes = Arc::new(AtomicUsize::new(0));
        let value = Wiped::new(Probe(Arc::clone(&wipes)));
        assert_eq!(wipes.load(Ordering::SeqCst), 0);
        drop(value);
        assert_eq!(wipes.load(Ordering::SeqCst), 1);
        // Early returns and unwinding drop it too.
        let caught = std::panic::catch_unwind(|| {
            let _held = Wiped::new(Probe(Arc::clone(&wipes)));
            panic!("an error path");
        });
        assert!(caught.is_err());
        assert_eq!(wipes.load(Ordering::SeqCst), 2);
        assert_eq!(format!("{:?}", Wiped::new(Probe(wipes))), "Wiped(..)");
    }

    #[test]
    fn wiping_zeroes_the_plaintext_of_openings_and_bulletins() {
        let mut reveal = Reveal {
            field: WithheldField::Details,
            salt: [7; 32],
            value: cbor::encode(&"CANARY details".to_string()),
        };
        reveal.wipe();
        assert_eq!(reveal.salt, [0; 32]);
        assert!(reveal.value.is_empty());

        let mut full = riskmesh_protocol::testkit::sample_bulletin("CANARY title");
        full.details = "CANARY details".into();
        full.references = vec!["CANARY reference".into()];
        full.wipe();
        assert!(full.title.is_empty() && full.summary.is_empty() && full.details.is_empty());
        assert!(full.affected.is_empty() && full.mitigations.is_empty() && full.references.is_empty());
    }

    /// The plaintext the node owns comes out of these functions in wiping
    /// types. This is a compile-time guarantee (the test fails to build if
    /// one of them returns a plain `Vec` again), not an observation of
    /// memory: reading freed memory would be undefined behaviour.
    #[test]
    fn plaintext_paths_return_wiping_types() {
        use crate::runtime::hazard;
        use crate::sealed::{self, SealError};
        use crate::store::Store;
        use riskmesh_protocol::EntryId;
        use riskmesh_protocol::keys::{EncryptionSecret, OrgSecrets};

        type Opened = Result<Zeroizing<Vec<u8>>, SealError>;
        let _: fn(&EncryptionSecret, &[u8]) -> Opened = sealed::open;
        let _: fn(&Store, &OrgSecrets, &EntryId) -> Result<Openings, String> = hazard::released;
        let _: fn(&Reveal) -> Zeroizing<Vec<u8>> = encode_reveal;
        let _: fn(&BulletinBody) -> Zeroizing<Vec<u8>> = encode_bulletin;
        let _: fn(&SignedRelease) -> Zeroizing<Vec<u8>> = encode_release;
        // The encoders' buffers are sized so they never grow.
        let reveal = Reveal {
            field: WithheldField::Details,
            salt: [7; 32],
            value: cbor::encode(&"CANARY ".repeat(20_000)),
        };
        let encoded = encode_reveal(&reveal);
        assert_eq!(*encoded, cbor::encode(&reveal));
        assert_eq!(encoded.capacity(), reveal.value.len() + 64);
        let secret = EncryptionSecret::from_seed([9; 32]);
        let sealed = sealed::seal(&[secret.public()], b"CANARY").expect("seal");
        let opened: Zeroizing<Vec<u8>> = sealed::open(&secret, &sealed).expect("open");
        assert_eq!(opened.as_slice(), b"CANARY");
    }
}
