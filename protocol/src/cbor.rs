//! Deterministic CBOR: a bounds-checking scanner and canonical decode helpers.
//!
//! Signed structures must have exactly one byte string per logical value, so
//! every input is scanned before anything is allocated for it. The scanner
//! accepts only the subset of RFC 8949 the protocol uses, in its core
//! deterministic form (§4.2.1): definite lengths, shortest-form arguments,
//! map keys in bytewise lexicographic order without duplicates, no tags, no
//! floats, no `undefined`, and nesting no deeper than
//! [`MAX_CBOR_DEPTH`](crate::limits::MAX_CBOR_DEPTH). Every declared length is
//! compared with the bytes that remain before it is trusted.

use crate::limits::MAX_CBOR_DEPTH;

/// Why a byte string is not acceptable CBOR for the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CborError {
    /// The input is longer than the limit for this structure.
    #[error("input is {len} bytes, over the limit of {limit}")]
    Oversize {
        /// Length of the input.
        len: usize,
        /// Limit that applies.
        limit: usize,
    },
    /// The input ends inside an item, or a declared length exceeds what remains.
    #[error("truncated input or declared length beyond the end of input at byte {0}")]
    Truncated(usize),
    /// Bytes remain after the top-level item.
    #[error("trailing bytes after the top-level item at byte {0}")]
    TrailingBytes(usize),
    /// Arrays and maps nest deeper than the limit.
    #[error("nesting deeper than {MAX_CBOR_DEPTH} at byte {0}")]
    TooDeep(usize),
    /// An integer, length or count is not in its shortest form.
    #[error("argument not in shortest form at byte {0}")]
    NonShortestForm(usize),
    /// An indefinite-length item was found.
    #[error("indefinite-length item at byte {0}")]
    IndefiniteLength(usize),
    /// Map keys are not in bytewise lexicographic order, or repeat.
    #[error("map keys out of canonical order or duplicated at byte {0}")]
    UnsortedMapKeys(usize),
    /// A tag, float, `undefined` or reserved value was found.
    #[error("CBOR item type not allowed by the protocol at byte {0}")]
    ForbiddenItem(usize),
    /// A text string is not valid UTF-8.
    #[error("text string is not valid UTF-8 at byte {0}")]
    InvalidUtf8(usize),
    /// The bytes are canonical CBOR but do not match the expected structure.
    #[error("structure does not match the schema: {0}")]
    Schema(String),
    /// Decoding and re-encoding did not give back the same bytes (for example an
    /// unknown map key, or a field that must be omitted was present).
    #[error("value does not re-encode to the same bytes")]
    NotCanonical,
}

impl CborError {
    /// Stable name of the error kind (spec §2.3), for metrics, logs and test
    /// vectors.
    pub fn name(&self) -> &'static str {
        match self {
            CborError::Oversize { .. } => "oversize",
            CborError::Truncated(_) => "truncated",
            CborError::TrailingBytes(_) => "trailing_bytes",
            CborError::TooDeep(_) => "too_deep",
            CborError::NonShortestForm(_) => "non_shortest_form",
            CborError::IndefiniteLength(_) => "indefinite_length",
            CborError::UnsortedMapKeys(_) => "unsorted_map_keys",
            CborError::ForbiddenItem(_) => "forbidden_item",
            CborError::InvalidUtf8(_) => "invalid_utf8",
            CborError::Schema(_) => "schema",
            CborError::NotCanonical => "not_canonical",
        }
    }
}

/// Checks that `bytes` hold exactly one item of deterministic CBOR within
/// `limit` bytes. Runs in time linear in the input and allocates nothing
/// besides a small stack bounded by the depth limit.
pub fn check_canonical(bytes: &[u8], limit: usize) -> Result<(), CborError> {
    if bytes.len() > limit {
        return Err(CborError::Oversize {
            len: bytes.len(),
            limit,
        });
    }
    let mut scanner = Scanner { bytes, pos: 0 };
    scanner.item(0)?;
    if scanner.pos != bytes.len() {
        return Err(CborError::TrailingBytes(scanner.pos));
    }
    Ok(())
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn take(&mut self, n: u64) -> Result<&[u8], CborError> {
        let start = self.pos;
        let remaining = (self.bytes.len() - start) as u64;
        if n > remaining {
            return Err(CborError::Truncated(start));
        }
        // `n <= remaining` fits in usize because `remaining` came from one.
        let n = n as usize;
        self.pos += n;
        Ok(&self.bytes[start..start + n])
    }

    /// Reads an initial byte and its argument; returns (major type, argument).
    fn head(&mut self) -> Result<(u8, u64), CborError> {
        let at = self.pos;
        let initial = self.take(1)?[0];
        let major = initial >> 5;
        let info = initial & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => {
                let v = u64::from(self.take(1)?[0]);
                if v < 24 {
                    return Err(CborError::NonShortestForm(at));
                }
                v
            }
            25 => {
                let b = self.take(2)?;
                let v = u64::from(u16::from_be_bytes([b[0], b[1]]));
                if v <= 0xff {
                    return Err(CborError::NonShortestForm(at));
                }
                v
            }
            26 => {
                let b = self.take(4)?;
                let v = u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                if v <= 0xffff {
                    return Err(CborError::NonShortestForm(at));
                }
                v
            }
            27 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let v = u64::from_be_bytes(a);
                if v <= 0xffff_ffff {
                    return Err(CborError::NonShortestForm(at));
                }
                v
            }
            31 => return Err(CborError::IndefiniteLength(at)),
            _ => return Err(CborError::ForbiddenItem(at)),
        };
        // Floats and simple values other than false/true/null live in major 7
        // with argument encodings that are caught here.
        if major == 7 && !(info == 20 || info == 21 || info == 22) {
            return Err(CborError::ForbiddenItem(at));
        }
        Ok((major, arg))
    }

    fn item(&mut self, depth: usize) -> Result<(), CborError> {
        let at = self.pos;
        let (major, arg) = self.head()?;
        match major {
            0 | 1 | 7 => Ok(()),
            2 => self.take(arg).map(|_| ()),
            3 => {
                let text = self.take(arg)?;
                std::str::from_utf8(text)
                    .map(|_| ())
                    .map_err(|_| CborError::InvalidUtf8(at))
            }
            4 => {
                if depth >= MAX_CBOR_DEPTH {
                    return Err(CborError::TooDeep(at));
                }
                // Every item takes at least one byte, so a count larger than
                // what remains is a lie we can refuse before looping.
                if arg > (self.bytes.len() - self.pos) as u64 {
                    return Err(CborError::Truncated(at));
                }
                for _ in 0..arg {
                    self.item(depth + 1)?;
                }
                Ok(())
            }
            5 => {
                if depth >= MAX_CBOR_DEPTH {
                    return Err(CborError::TooDeep(at));
                }
                if arg.saturating_mul(2) > (self.bytes.len() - self.pos) as u64 {
                    return Err(CborError::Truncated(at));
                }
                let mut previous: Option<(usize, usize)> = None;
                for _ in 0..arg {
                    let key_start = self.pos;
                    self.item(depth + 1)?;
                    let key = (key_start, self.pos);
                    if let Some((ps, pe)) = previous
                        && self.bytes[ps..pe] >= self.bytes[key.0..key.1]
                    {
                        return Err(CborError::UnsortedMapKeys(key_start));
                    }
                    previous = Some(key);
                    self.item(depth + 1)?;
                }
                Ok(())
            }
            _ => Err(CborError::ForbiddenItem(at)),
        }
    }
}

/// Scans `bytes` as canonical CBOR within `limit`, decodes them as `T`, and
/// checks that `T` re-encodes to exactly the same bytes. This is the only way
/// signed structures are decoded, so a value has one encoding on the wire.
pub fn decode_canonical<'b, T>(bytes: &'b [u8], limit: usize) -> Result<T, CborError>
where
    T: minicbor::Decode<'b, ()> + minicbor::Encode<()>,
{
    check_canonical(bytes, limit)?;
    let value: T = minicbor::decode(bytes).map_err(|e| CborError::Schema(e.to_string()))?;
    // Re-encode into a buffer of the input's size: canonical input
    // re-encodes to exactly that many bytes, so nothing reallocates.
    let mut again = Vec::with_capacity(bytes.len());
    // Writing into a Vec cannot fail.
    let _ = minicbor::encode(&value, &mut again);
    if again != bytes {
        return Err(CborError::NotCanonical);
    }
    Ok(value)
}

/// Encodes a value. Protocol types derive their encoders so that map keys are
/// small integers in ascending order and integers take their shortest form,
/// which is the deterministic encoding.
pub fn encode<T: minicbor::Encode<()>>(value: &T) -> Vec<u8> {
    // Writing into a Vec cannot fail (the writer's error type is
    // `Infallible`), and the derived encoders report no errors of their own.
    minicbor::to_vec(value).unwrap_or_default()
}

/// Encodes a value, appending to `out`: a caller holding plaintext sizes
/// `out` beforehand, so the buffer never grows and no partial copy is freed
/// where the caller cannot wipe it.
pub fn encode_into<T: minicbor::Encode<()>>(value: &T, out: &mut Vec<u8>) {
    // As in `encode`: writing into a Vec cannot fail.
    let _ = minicbor::encode(value, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(hex_str: &str) -> Result<(), CborError> {
        check_canonical(&hex::decode(hex_str).expect("hex"), 1 << 20)
    }

    #[test]
    fn accepts_canonical_items() {
        for ok in [
            "00",
            "17",
            "1818",
            "190100",
            "1a00010000",
            "1b0000000100000000",
            "20",
            "40",
            "6161",
            "80",
            "a0",
            "a201020304",
            "f4",
            "f5",
            "f6",
            "8301820203820405",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_non_shortest_arguments() {
        for bad in [
            "1800",
            "1817",
            "190017",
            "1900ff",
            "1a0000ffff",
            "1b00000000ffffffff",
            "5801ff",
            "9800",
        ] {
            assert!(matches!(check(bad), Err(CborError::NonShortestForm(0))), "{bad}");
        }
    }

    #[test]
    fn rejects_indefinite_tags_floats_and_undefined() {
        assert_eq!(check("9fff"), Err(CborError::IndefiniteLength(0)));
        assert_eq!(check("5f41aaff"), Err(CborError::IndefiniteLength(0)));
        assert_eq!(check("c11a514b67b0"), Err(CborError::ForbiddenItem(0)));
        assert_eq!(check("f93c00"), Err(CborError::ForbiddenItem(0)));
        assert_eq!(check("fb3ff0000000000000"), Err(CborError::ForbiddenItem(0)));
        assert_eq!(check("f7"), Err(CborError::ForbiddenItem(0)));
        assert_eq!(check("1c"), Err(CborError::ForbiddenItem(0)));
    }

    #[test]
    fn rejects_unsorted_and_duplicate_keys() {
        assert_eq!(check("a202010102"), Err(CborError::UnsortedMapKeys(3)));
        assert_eq!(check("a201010102"), Err(CborError::UnsortedMapKeys(3)));
        // 10 (0x0a) sorts before 100 (0x1864) and -1 (0x20): bytewise order.
        assert_eq!(check("a30a0118640120 01".replace(' ', "").as_str()), Ok(()));
    }

    #[test]
    fn rejects_lengths_beyond_input_before_allocating() {
        assert_eq!(check("5bffffffffffffffff"), Err(CborError::Truncated(9)));
        assert_eq!(check("9bffffffffffffffff"), Err(CborError::Truncated(0)));
        assert_eq!(check("bbffffffffffffffff"), Err(CborError::Truncated(0)));
        assert_eq!(check("830102"), Err(CborError::Truncated(0)));
        assert_eq!(check("820143aabb"), Err(CborError::Truncated(3)));
        assert_eq!(check(""), Err(CborError::Truncated(0)));
    }

    #[test]
    fn rejects_deep_nesting_and_trailing_bytes() {
        let deep = "81".repeat(MAX_CBOR_DEPTH + 1) + "00";
        assert!(matches!(check(&deep), Err(CborError::TooDeep(_))));
        let ok = "81".repeat(MAX_CBOR_DEPTH) + "00";
        assert_eq!(check(&ok), Ok(()));
        assert_eq!(check("0000"), Err(CborError::TrailingBytes(1)));
        assert_eq!(check("62c328"), Err(CborError::InvalidUtf8(0)));
    }

    #[test]
    fn rejects_oversize_input() {
        assert_eq!(
            check_canonical(&[0x40, 0, 0], 2),
            Err(CborError::Oversize { len: 3, limit: 2 })
        );
    }
}
