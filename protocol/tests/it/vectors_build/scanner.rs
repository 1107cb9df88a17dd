//! `cbor.json`: the deterministic-CBOR scanner on raw bytes.

use super::json::{Json, accept, file, reject, text, vector};
use riskmesh_protocol::limits::MAX_CBOR_DEPTH;

pub(super) fn cbor_file() -> Json {
    let limit = 1024u64;
    let check = |name: &str, description: &str, hex_bytes: &str, limit: u64, expected: Json| {
        vector(
            name,
            "check",
            description,
            vec![("bytes", text(hex_bytes)), ("limit", Json::Int(limit))],
            expected,
        )
    };
    let deep_ok = "81".repeat(MAX_CBOR_DEPTH) + "00";
    let deep_bad = "81".repeat(MAX_CBOR_DEPTH + 1) + "00";
    let accepts: Vec<(&str, &str, String)> = vec![
        ("uint_0", "0", "00".into()),
        ("uint_23", "23, in the initial byte", "17".into()),
        ("uint_24", "24, one extra byte", "1818".into()),
        ("uint_256", "256, two extra bytes", "190100".into()),
        ("uint_65536", "65536, four extra bytes", "1a00010000".into()),
        (
            "uint_2_pow_32",
            "2^32, eight extra bytes",
            "1b0000000100000000".into(),
        ),
        ("nint_minus_1", "-1", "20".into()),
        ("nint_minus_25", "-25, one extra byte", "3818".into()),
        ("bytes_empty", "h''", "40".into()),
        ("bytes_4", "h'01020304'", "4401020304".into()),
        ("text_a", "\"a\"", "6161".into()),
        ("text_utf8", "U+00E9 (two UTF-8 bytes)", "62c3a9".into()),
        ("array_empty", "[]", "80".into()),
        ("array_nested", "[1, [2, 3], [4, 5]]", "8301820203820405".into()),
        ("map_empty", "{}", "a0".into()),
        ("map_sorted", "{1: 2, 3: 4}", "a201020304".into()),
        (
            "map_bytewise_order",
            "{10: 1, 100: 1, -1: 1}: keys sort by their encoded bytes (0x0a < 0x1864 < 0x20)",
            "a30a0118640120 01".replace(' ', ""),
        ),
        (
            "map_shorter_text_first",
            "{\"b\": 0, \"aa\": 0}: the length is in the first byte, so the shorter key sorts first",
            "a26162006261610 0".replace(' ', ""),
        ),
        ("simple_false", "false", "f4".into()),
        ("simple_true", "true", "f5".into()),
        ("simple_null", "null", "f6".into()),
        ("depth_at_limit", "arrays nested 8 deep", deep_ok),
    ];
    let mut vectors: Vec<Json> = accepts
        .into_iter()
        .map(|(name, what, bytes)| {
            check(
                &format!("accept_{name}"),
                &format!("Canonical: {what}."),
                &bytes,
                limit,
                accept(),
            )
        })
        .collect();
    let rejects: Vec<(&str, &str, String, &str)> = vec![
        (
            "uint_0_in_1_byte",
            "0 encoded with one extra byte",
            "1800".into(),
            "non_shortest_form",
        ),
        (
            "uint_23_in_1_byte",
            "23 encoded with one extra byte",
            "1817".into(),
            "non_shortest_form",
        ),
        (
            "uint_23_in_2_bytes",
            "23 encoded with two extra bytes",
            "190017".into(),
            "non_shortest_form",
        ),
        (
            "uint_255_in_2_bytes",
            "255 encoded with two extra bytes",
            "1900ff".into(),
            "non_shortest_form",
        ),
        (
            "uint_65535_in_4_bytes",
            "65535 encoded with four extra bytes",
            "1a0000ffff".into(),
            "non_shortest_form",
        ),
        (
            "uint_2_pow_32_minus_1_in_8_bytes",
            "2^32 - 1 encoded with eight extra bytes",
            "1b00000000ffffffff".into(),
            "non_shortest_form",
        ),
        (
            "nint_in_1_byte",
            "-1 encoded with one extra byte",
            "3800".into(),
            "non_shortest_form",
        ),
        (
            "bytes_length_in_1_byte",
            "a 1-byte string whose length takes an extra byte",
            "5801ff".into(),
            "non_shortest_form",
        ),
        (
            "text_length_in_1_byte",
            "a 1-byte text whose length takes an extra byte",
            "780161".into(),
            "non_shortest_form",
        ),
        (
            "array_count_in_1_byte",
            "an empty array whose count takes an extra byte",
            "9800".into(),
            "non_shortest_form",
        ),
        (
            "map_count_in_1_byte",
            "an empty map whose count takes an extra byte",
            "b800".into(),
            "non_shortest_form",
        ),
        ("indefinite_array", "[_ ]", "9fff".into(), "indefinite_length"),
        (
            "indefinite_bytes",
            "(_ h'aa')",
            "5f41aaff".into(),
            "indefinite_length",
        ),
        (
            "indefinite_text",
            "(_ \"a\")",
            "7f6161ff".into(),
            "indefinite_length",
        ),
        ("indefinite_map", "{_ }", "bfff".into(), "indefinite_length"),
        (
            "break_alone",
            "a lone break byte",
            "ff".into(),
            "indefinite_length",
        ),
        (
            "tag",
            "tag 1 (epoch time)",
            "c11a514b67b0".into(),
            "forbidden_item",
        ),
        (
            "tag_cose_sign1",
            "tag 18 (COSE_Sign1) around an empty array",
            "d280".into(),
            "forbidden_item",
        ),
        (
            "half_float",
            "1.0 as a half-precision float",
            "f93c00".into(),
            "forbidden_item",
        ),
        (
            "single_float",
            "1.0 as a single-precision float",
            "fa3f800000".into(),
            "forbidden_item",
        ),
        (
            "double_float",
            "1.0 as a double-precision float",
            "fb3ff0000000000000".into(),
            "forbidden_item",
        ),
        ("undefined", "undefined", "f7".into(), "forbidden_item"),
        ("simple_16", "simple value 16", "f0".into(), "forbidden_item"),
        (
            "simple_in_1_byte",
            "simple value 32 in one extra byte",
            "f820".into(),
            "forbidden_item",
        ),
        (
            "reserved_28",
            "additional information 28 (reserved)",
            "1c".into(),
            "forbidden_item",
        ),
        (
            "reserved_30",
            "additional information 30 (reserved) in a byte string head",
            "5e".into(),
            "forbidden_item",
        ),
        (
            "map_keys_descending",
            "{2: 1, 1: 2}",
            "a202010102".into(),
            "unsorted_map_keys",
        ),
        (
            "map_keys_repeated",
            "{1: 1, 1: 2}",
            "a201010102".into(),
            "unsorted_map_keys",
        ),
        (
            "map_longer_text_first",
            "{\"aa\": 0, \"b\": 0}: the longer key must come second",
            "a262616100616200".into(),
            "unsorted_map_keys",
        ),
        (
            "map_negative_before_positive",
            "{-1: 0, 10: 0}: 0x20 sorts after 0x0a",
            "a220000a00".into(),
            "unsorted_map_keys",
        ),
        ("empty_input", "no bytes at all", String::new(), "truncated"),
        (
            "uint_missing_byte",
            "a one-byte argument that is missing",
            "18".into(),
            "truncated",
        ),
        (
            "bytes_short",
            "a 2-byte string with one byte present",
            "4201".into(),
            "truncated",
        ),
        (
            "array_short",
            "an array of 3 with 2 items",
            "830102".into(),
            "truncated",
        ),
        (
            "nested_short",
            "[1, h'aabb'] with the string's length saying 3",
            "820143aabb".into(),
            "truncated",
        ),
        ("map_missing_value", "{1: ?}", "a101".into(), "truncated"),
        (
            "huge_bytes_length",
            "a byte string claiming 2^64 - 1 bytes",
            "5bffffffffffffffff".into(),
            "truncated",
        ),
        (
            "huge_array_count",
            "an array claiming 2^64 - 1 items",
            "9bffffffffffffffff".into(),
            "truncated",
        ),
        (
            "huge_map_count",
            "a map claiming 2^64 - 1 pairs",
            "bbffffffffffffffff".into(),
            "truncated",
        ),
        (
            "trailing_item",
            "0 followed by 0",
            "0000".into(),
            "trailing_bytes",
        ),
        (
            "trailing_after_array",
            "[] followed by 0",
            "8000".into(),
            "trailing_bytes",
        ),
        ("depth_over_limit", "arrays nested 9 deep", deep_bad, "too_deep"),
        (
            "text_bad_utf8",
            "a text string that is not UTF-8 (c3 28)",
            "62c328".into(),
            "invalid_utf8",
        ),
        (
            "text_lone_ff",
            "a text string holding 0xff",
            "61ff".into(),
            "invalid_utf8",
        ),
    ];
    for (name, what, bytes, error) in rejects {
        vectors.push(check(
            &format!("reject_{name}"),
            &format!("Not acceptable: {what}."),
            &bytes,
            limit,
            reject(error),
        ));
    }
    vectors.push(check(
        "reject_oversize",
        "h'0000' (3 bytes) under a limit of 2 bytes: the size is checked before anything is read.",
        "420000",
        2,
        reject("oversize"),
    ));
    vectors.push(check(
        "accept_at_size_limit",
        "h'0000' (3 bytes) under a limit of 3 bytes.",
        "420000",
        3,
        accept(),
    ));
    file(
        "The deterministic-CBOR scanner applied to every signed structure before decoding: exactly one \
         well-formed item within a size limit, definite lengths, shortest-form arguments, map keys in bytewise \
         order without repeats, no tags, floats, undefined or other simple values, nesting at most 8 deep, \
         valid UTF-8.",
        vec![],
        vectors,
    )
}
