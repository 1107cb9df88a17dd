//! The bound on an age file's header (spec §7.1), checked before any age
//! implementation parses the file.
//!
//! Restricted bodies and sealed releases are age v1 binary files that any
//! roster peer can send. Some age parsers (the `age` crate among them)
//! re-parse the header after every line they read, so a crafted header costs
//! time quadratic in its length: 1 MiB took tens of seconds. A reader
//! therefore checks here, in linear time and without allocating, that the
//! header ends within [`MAX_AGE_HEADER_BYTES`] and has at most
//! [`MAX_AGE_STANZAS`] stanzas, and hands the file to age only if it does.
//! Files that age itself writes for at most `MAX_RECIPIENTS` recipients
//! stay far below both bounds.

use crate::limits::{MAX_AGE_HEADER_BYTES, MAX_AGE_STANZAS};

/// The first line of every age v1 file (binary format), newline included.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// Prefix of a stanza's first line.
const STANZA_PREFIX: &[u8] = b"-> ";
/// Prefix of the header's last line, the MAC line.
const MAC_PREFIX: &[u8] = b"--- ";

/// What [`check`] found in a header within the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeHeader {
    /// Bytes from the magic line through the newline that ends the `--- `
    /// MAC line: where the payload begins. At most [`MAX_AGE_HEADER_BYTES`].
    pub len: usize,
    /// Lines of the header that begin `-> `. At most [`MAX_AGE_STANZAS`].
    pub stanzas: usize,
}

/// Why an age file is refused before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgeHeaderError {
    /// The bytes do not begin with the age v1 magic line ([`AGE_MAGIC`]).
    #[error("not an age v1 file")]
    NotAge,
    /// No line beginning `--- ` ends (with its newline) within the first
    /// [`MAX_AGE_HEADER_BYTES`] bytes: the header is too long, or the file
    /// is cut short before the header's end.
    #[error("age header over {} bytes", MAX_AGE_HEADER_BYTES)]
    TooLarge,
    /// The header has more than [`MAX_AGE_STANZAS`] lines beginning `-> `.
    #[error("age header with more than {} stanzas", MAX_AGE_STANZAS)]
    TooManyStanzas,
}

/// Checks an age file's header against the bounds of spec §7.1 without
/// parsing it: the file begins with [`AGE_MAGIC`], the first line that
/// begins `--- ` ends within [`MAX_AGE_HEADER_BYTES`] bytes of the start,
/// and at most [`MAX_AGE_STANZAS`] lines before it begin `-> `.
///
/// A header that is both too long and too crowded is reported as
/// [`AgeHeaderError::TooLarge`]: the end is looked for first.
pub fn check(ciphertext: &[u8]) -> Result<AgeHeader, AgeHeaderError> {
    if !ciphertext.starts_with(AGE_MAGIC) {
        return Err(AgeHeaderError::NotAge);
    }
    // Nothing past the bound is ever looked at.
    let window = &ciphertext[..ciphertext.len().min(MAX_AGE_HEADER_BYTES)];
    let mut stanzas = 0usize;
    let mut start = AGE_MAGIC.len();
    loop {
        let Some(newline) = window[start..].iter().position(|&b| b == b'\n') else {
            return Err(AgeHeaderError::TooLarge);
        };
        let line = &window[start..start + newline];
        let next = start + newline + 1;
        if line.starts_with(MAC_PREFIX) {
            if stanzas > MAX_AGE_STANZAS {
                return Err(AgeHeaderError::TooManyStanzas);
            }
            return Ok(AgeHeader { len: next, stanzas });
        }
        if line.starts_with(STANZA_PREFIX) {
            stanzas += 1;
        }
        start = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::EncryptionSecret;
    use crate::limits::MAX_RECIPIENTS;
    use std::str::FromStr;

    /// Issue 9, item 5 (regression, moved here from the node): a 1.06 MiB
    /// crafted age header cost 42.7 s of CPU to reject. The header is now
    /// bounded before any parse.
    #[test]
    fn a_huge_or_crowded_age_header_is_refused() {
        let huge = crate::testkit::crafted_age_file(16, 64 * 1024);
        assert!(huge.len() > 1024 * 1024);
        assert_eq!(check(&huge), Err(AgeHeaderError::TooLarge));
        let crowded = crate::testkit::crafted_age_file(MAX_AGE_STANZAS + 1, 4);
        assert!(crowded.len() < MAX_AGE_HEADER_BYTES);
        assert_eq!(check(&crowded), Err(AgeHeaderError::TooManyStanzas));
        assert_eq!(check(b"not age at all"), Err(AgeHeaderError::NotAge));
        assert_eq!(check(b""), Err(AgeHeaderError::NotAge));
        // Too long and too crowded at once: the length is reported.
        let both = crate::testkit::crafted_age_file(MAX_AGE_HEADER_BYTES, 0);
        assert_eq!(check(&both), Err(AgeHeaderError::TooLarge));
    }

    #[test]
    fn the_bounds_are_inclusive() {
        let full = crate::testkit::crafted_age_file(MAX_AGE_STANZAS, 4);
        let header_len = full.len() - 64;
        assert_eq!(
            check(&full),
            Ok(AgeHeader {
                len: header_len,
                stanzas: MAX_AGE_STANZAS
            })
        );
        // Pad one stanza body so the header is exactly the bound, then one
        // byte more.
        let pad = MAX_AGE_HEADER_BYTES - crate::testkit::crafted_age_file(1, 0).len() + 64;
        let exact = crate::testkit::crafted_age_file(1, pad);
        assert_eq!(
            check(&exact),
            Ok(AgeHeader {
                len: MAX_AGE_HEADER_BYTES,
                stanzas: 1
            })
        );
        assert_eq!(
            check(&crate::testkit::crafted_age_file(1, pad + 1)),
            Err(AgeHeaderError::TooLarge)
        );
        // No stanza at all is within the bounds (age itself refuses it later).
        let bare = [AGE_MAGIC, b"--- x\n"].concat();
        assert_eq!(
            check(&bare),
            Ok(AgeHeader {
                len: bare.len(),
                stanzas: 0
            })
        );
    }

    #[test]
    fn a_file_cut_before_its_header_ends_is_refused() {
        let file = crate::testkit::crafted_age_file(2, 10);
        let header = check(&file).expect("whole file passes");
        for cut in 0..header.len {
            assert!(check(&file[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(check(&file[..header.len]), Ok(header));
    }

    /// Real files from the `age` crate with the most recipients the protocol
    /// allows pass, and the reported length is where age's payload starts.
    #[test]
    fn real_age_files_pass() {
        let keys: Vec<age::x25519::Recipient> = (0..MAX_RECIPIENTS)
            .map(|i| {
                let secret = EncryptionSecret::from_seed([u8::try_from(i).unwrap_or(0); 32]);
                age::x25519::Recipient::from_str(&secret.public().to_age_recipient()).expect("recipient")
            })
            .collect();
        let encryptor = age::Encryptor::with_recipients(keys.iter().map(|r| r as &dyn age::Recipient))
            .expect("encryptor");
        let mut sealed = Vec::new();
        let mut writer = encryptor.wrap_output(&mut sealed).expect("wrap");
        std::io::Write::write_all(&mut writer, b"hello").expect("write");
        writer.finish().expect("finish");
        let header = check(&sealed).expect("a real header passes");
        assert!(header.stanzas >= MAX_RECIPIENTS && header.stanzas <= MAX_AGE_STANZAS);
        assert!(header.len < MAX_AGE_HEADER_BYTES / 2);
        let mac_line = sealed[..header.len - 1]
            .rsplit(|&b| b == b'\n')
            .next()
            .expect("a last line");
        assert!(mac_line.starts_with(MAC_PREFIX));
    }
}
