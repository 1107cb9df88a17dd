//! Sync messages from untrusted bytes. Byte 0 picks a mode: 0 = the rest is
//! a `SyncRequest`; 1 = the rest is a `SyncResponse`, checked with
//! `check_response` against every kind of request; 2 = the rest is an input
//! of `check_range` (8 bytes of `from_seq`, then 9 bytes per header: an
//! author byte, even for the requested author, and 8 bytes of seq).
//!
//! Nothing panics; whatever decodes re-encodes to the same bytes; a decoded
//! request is within its limits; a response that `check_response` accepts
//! keeps the caps (an accepted Heads response has at most `MAX_HEADS` heads,
//! strictly ascending authors, every seq in 1..=MAX_SEQ); `check_range`
//! agrees with a model computed with checked arithmetic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use riskmesh_protocol::OrgKey;
use riskmesh_protocol::limits::{MAX_ROSTER_BYTES, MAX_SEQ, MAX_WIRE_ENTRY_BYTES};
use riskmesh_protocol::sync::{
    MAX_HEADS, MAX_PROOFS_PER_RESPONSE, MAX_ROSTERS_PER_RESPONSE, MAX_SYNC_RANGE, MAX_SYNC_REQUEST_BYTES,
    MAX_SYNC_RESPONSE_BYTES, SyncRequest, SyncResponse, check_range, check_response,
};

const AUTHOR: OrgKey = OrgKey([1; 32]);
const OTHER: OrgKey = OrgKey([2; 32]);

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => request(rest),
        1 => response(rest),
        _ => range(rest),
    }
});

fn request(bytes: &[u8]) {
    let Ok(request) = SyncRequest::from_bytes(bytes) else {
        return;
    };
    assert!(bytes.len() <= MAX_SYNC_REQUEST_BYTES);
    assert_eq!(
        request.to_bytes(),
        bytes,
        "decoded request re-encodes differently"
    );
    if let SyncRequest::Range { from_seq, count, .. } = request {
        assert!(
            (1..=MAX_SYNC_RANGE).contains(&count),
            "range count {count} accepted"
        );
        assert!(from_seq >= 1 && from_seq.checked_add(count).is_some());
    }
}

fn response(bytes: &[u8]) {
    let Ok(response) = SyncResponse::from_bytes(bytes) else {
        return;
    };
    assert!(bytes.len() <= MAX_SYNC_RESPONSE_BYTES);
    assert_eq!(
        response.to_bytes(),
        bytes,
        "decoded response re-encodes differently"
    );
    let requests = [
        SyncRequest::Heads,
        SyncRequest::Range {
            author: AUTHOR,
            from_seq: 1,
            count: 1,
        },
        SyncRequest::Range {
            author: AUTHOR,
            from_seq: 1,
            count: MAX_SYNC_RANGE,
        },
        SyncRequest::Rosters { after_version: 1 },
        SyncRequest::Proofs { skip: 0 },
        SyncRequest::Digest {
            digest: riskmesh_protocol::Hash32([0; 32]),
        },
    ];
    for request in &requests {
        let accepted = check_response(request, &response).is_ok();
        if let SyncResponse::Refused(_) = response {
            assert!(accepted, "a refusal answers every request");
            continue;
        }
        if !accepted {
            continue;
        }
        match (request, &response) {
            (SyncRequest::Digest { .. }, SyncResponse::InSync) => {}
            (SyncRequest::Heads | SyncRequest::Digest { .. }, SyncResponse::Heads { heads, .. }) => {
                assert!(heads.len() <= MAX_HEADS, "{} heads accepted", heads.len());
                assert!(
                    heads.windows(2).all(|w| w[0].author < w[1].author),
                    "heads not strictly ascending by author"
                );
                assert!(
                    heads.iter().all(|h| (1..=MAX_SEQ).contains(&h.seq)),
                    "a head seq outside 1..=MAX_SEQ accepted"
                );
            }
            (SyncRequest::Range { count, .. }, SyncResponse::Entries(entries)) => {
                assert!(entries.len() as u64 <= *count, "more entries than asked");
                assert!(entries.iter().all(|e| e.encoded_len() <= MAX_WIRE_ENTRY_BYTES));
            }
            (SyncRequest::Rosters { .. }, SyncResponse::Rosters(rosters)) => {
                assert!(rosters.len() <= MAX_ROSTERS_PER_RESPONSE);
                assert!(rosters.iter().all(|r| r.len() <= MAX_ROSTER_BYTES));
            }
            (SyncRequest::Proofs { .. }, SyncResponse::Proofs(proofs)) => {
                assert!(proofs.len() <= MAX_PROOFS_PER_RESPONSE);
            }
            _ => panic!("a response of the wrong type accepted: {request:?}"),
        }
    }
}

fn range(bytes: &[u8]) {
    let Some((from, rest)) = bytes.split_first_chunk::<8>() else {
        return;
    };
    let from_seq = u64::from_le_bytes(*from);
    let headers: Vec<(OrgKey, u64)> = rest
        .chunks_exact(9)
        .map(|chunk| {
            let author = if chunk[0] % 2 == 0 { AUTHOR } else { OTHER };
            let seq = u64::from_le_bytes(chunk[1..].try_into().expect("8 bytes"));
            (author, seq)
        })
        .collect();
    let expected = headers
        .iter()
        .enumerate()
        .all(|(i, (author, seq))| *author == AUTHOR && from_seq.checked_add(i as u64) == Some(*seq));
    assert_eq!(
        check_range(&AUTHOR, from_seq, &headers).is_ok(),
        expected,
        "check_range disagrees with the model for from_seq {from_seq}: {headers:?}"
    );
}
