//! Wire entries from untrusted bytes: `WireEntry::from_bytes` then
//! `validate::verify_wire` against the signatories' roster. Never panics;
//! what decodes re-encodes to the same bytes, and what verifies round-trips.

#![no_main]

use libfuzzer_sys::fuzz_target;
use riskmesh_protocol::validate::verify_wire;
use riskmesh_protocol::{Hash32, WireEntry};
use riskmesh_protocol_fuzz::roster;

fuzz_target!(|data: &[u8]| {
    let Ok(wire) = WireEntry::from_bytes(data) else {
        return;
    };
    assert_eq!(wire.to_bytes(), data, "decoded wire entry re-encodes differently");
    if let Ok(entry) = verify_wire(roster(), &wire) {
        assert_eq!(entry.to_wire(), wire);
        assert_eq!(entry.id(), Hash32::of(&wire.envelope));
        assert_eq!(entry.header().seq == 1, entry.header().prev.is_none());
    }
});
