//! `cbor::check_canonical` never panics, and whatever it accepts minicbor
//! decodes item by item to the end, with only the item types the scanner
//! allows; re-encoding those items gives back the input exactly (one
//! encoding per value).

#![no_main]

use libfuzzer_sys::fuzz_target;
use minicbor::data::Type;
use minicbor::{Decoder, Encoder};
use riskmesh_protocol::cbor::{CborError, check_canonical};
use riskmesh_protocol::limits::MAX_CBOR_DEPTH;

fuzz_target!(|data: &[u8]| {
    let verdict = check_canonical(data, usize::MAX);
    if let Some(limit) = data.len().checked_sub(1) {
        assert!(matches!(
            check_canonical(data, limit),
            Err(CborError::Oversize { .. })
        ));
    }
    if verdict.is_err() {
        return;
    }
    let mut decoder = Decoder::new(data);
    let mut encoder = Encoder::new(Vec::new());
    copy_item(&mut decoder, &mut encoder, 0);
    assert_eq!(decoder.position(), data.len(), "accepted item has trailing bytes");
    assert_eq!(
        encoder.into_writer(),
        data,
        "accepted item is not in shortest form"
    );
});

/// Decodes one item and re-encodes it; panics if minicbor cannot decode what
/// the scanner accepted or meets a type the scanner should have refused.
fn copy_item(d: &mut Decoder<'_>, e: &mut Encoder<Vec<u8>>, depth: usize) {
    assert!(depth <= MAX_CBOR_DEPTH, "accepted nesting deeper than the limit");
    let datatype = d.datatype().expect("datatype of an accepted item");
    let ok = match datatype {
        Type::Bool => e.bool(d.bool().expect("bool")).map(drop),
        Type::Null => {
            d.null().expect("null");
            e.null().map(drop)
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => e.u64(d.u64().expect("uint")).map(drop),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => e.i64(d.i64().expect("nint")).map(drop),
        Type::Int => e.int(d.int().expect("big nint")).map(drop),
        Type::Bytes => e.bytes(d.bytes().expect("bytes")).map(drop),
        Type::String => e.str(d.str().expect("text")).map(drop),
        Type::Array => {
            let n = d.array().expect("array").expect("definite array");
            e.array(n).expect("encode");
            for _ in 0..n {
                copy_item(d, e, depth + 1);
            }
            Ok(())
        }
        Type::Map => {
            let n = d.map().expect("map").expect("definite map");
            e.map(n).expect("encode");
            for _ in 0..n * 2 {
                copy_item(d, e, depth + 1);
            }
            Ok(())
        }
        other => panic!("check_canonical accepted a forbidden item type: {other}"),
    };
    ok.expect("encoding into a Vec cannot fail");
}
