use riskmesh_protocol::keys::{check_public_key, verify_strict};
use riskmesh_protocol::*;
fn main() {
    // p = 2^255 - 19 little endian: ed ff .. ff 7f
    for k in 0u8..19 {
        for sign in [false, true] {
            let mut b = [0xffu8; 32];
            b[0] = 0xed + k;
            b[31] = if sign { 0xff } else { 0x7f };
            let r = check_public_key(&OrgKey(b));
            println!("y=p+{k} sign={sign} -> {:?} {}", r, hex::encode(b));
        }
    }
    for y in 0u8..10 {
        let mut b = [0u8; 32];
        b[0] = y;
        println!("y={y} -> {:?}", check_public_key(&OrgKey(b)));
    }
    let h = Header { version: 1, network: "x".into(), author: OrgKey([1;32]), seq: 1, prev: None, timestamp_ms: 5, tier: Tier::Public, kind: Kind::Bulletin, body_hash: Hash32([2;32]), body_len: 3, recipients: None };
    println!("{}", hex::encode(h.to_bytes()));
    let _ = verify_strict;
}
