//! Age headers from untrusted bytes: `age_header::check` never panics, and
//! what it accepts is a header within the bounds of spec §7.1: at most
//! `MAX_AGE_HEADER_BYTES` long, ending with a line that begins `--- `, with
//! at most `MAX_AGE_STANZAS` lines beginning `-> `, exactly as many as it
//! reports. A prefix cut before the header's end is refused; anything after
//! the header (the payload) does not change the answer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use riskmesh_protocol::age_header::{AGE_MAGIC, AgeHeaderError, check};
use riskmesh_protocol::limits::{MAX_AGE_HEADER_BYTES, MAX_AGE_STANZAS};

fuzz_target!(|data: &[u8]| {
    // Most inputs the mutator makes lack the magic line; half the time,
    // supply it, so the header rules are reached.
    // The flag's other bits pick one more place to cut the input.
    let Some((&flag, rest)) = data.split_first() else {
        return;
    };
    let prefixed;
    let data = if flag & 1 == 1 {
        prefixed = [AGE_MAGIC, rest].concat();
        &prefixed[..]
    } else {
        rest
    };
    let header = match check(data) {
        Ok(header) => header,
        Err(AgeHeaderError::NotAge) => {
            assert!(!data.starts_with(AGE_MAGIC), "an age file refused as not age");
            return;
        }
        Err(_) => {
            assert!(data.starts_with(AGE_MAGIC));
            return;
        }
    };
    assert!(
        header.len <= MAX_AGE_HEADER_BYTES,
        "header over the bound accepted"
    );
    assert!(header.len <= data.len());
    let bytes = &data[..header.len];
    assert!(bytes.starts_with(AGE_MAGIC));
    assert_eq!(bytes.last(), Some(&b'\n'), "header does not end with a newline");
    let lines: Vec<&[u8]> = bytes[..bytes.len() - 1].split(|&b| b == b'\n').collect();
    let (last, before) = lines.split_last().expect("at least the magic line");
    assert!(last.starts_with(b"--- "), "last header line is not the MAC line");
    // The MAC line is the first line that begins `--- ` (after the magic).
    assert!(
        before[1..].iter().all(|line| !line.starts_with(b"--- ")),
        "header ends after an earlier MAC line"
    );
    let stanzas = before.iter().filter(|line| line.starts_with(b"-> ")).count();
    assert_eq!(
        header.stanzas, stanzas,
        "stanza count differs from the `-> ` lines"
    );
    assert!(header.stanzas <= MAX_AGE_STANZAS, "too many stanzas accepted");
    // The header alone gives the same answer; any cut before its end is
    // refused (never accepted with a shorter header).
    assert_eq!(check(bytes), Ok(header));
    let chosen = usize::from(flag >> 1) * header.len / 128;
    for cut in [header.len - 1, chosen, AGE_MAGIC.len(), AGE_MAGIC.len() - 1] {
        assert!(check(&data[..cut]).is_err(), "prefix of {cut} bytes accepted");
    }
});
