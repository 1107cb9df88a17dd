#!/usr/bin/env python3
"""Independent verifier of the riskmesh v1 test vectors.

Written from spec/protocol.md alone, in Python 3.11 with the standard library
only: a canonical-CBOR scanner/decoder (spec section 2), SHA-256/SHA-512 from
hashlib, a pure-Python Ed25519 verifier (RFC 8032 section 6 reference code,
adapted to the exact checks of spec section 3.2), and, for the restricted
bodies of spec section 7.1, a pure-Python age v1 decrypter (X25519 per RFC
7748, HKDF-SHA-256 from hmac, ChaCha20-Poly1305 per RFC 8439): the standard
library has no ChaCha20-Poly1305, so it is written out here rather than
skipped.

Ed25519 checks performed by `ed25519_verify` (spec section 3.2, the behaviour
of `riskmesh_protocol::keys::verify_strict`: a canonical-key check, then
ed25519-dalek's `verify_strict`):
  1. S (last 32 bytes, little-endian) must be < L (rejects malleable S).
  2. A must be canonical: y (low 255 bits) < p; it must decode to a curve
     point (sign bit ignored when x = 0).
  3. R must decode to a curve point (y is taken modulo p here).
  4. A or R of small order ([8]P = identity) is invalid.
  5. k = SHA-512(R_enc || A_enc || M) mod L over the received bytes.
  6. R' = [S]B - [k]A (cofactorless).
  7. The canonical encoding of R' must equal R_enc byte for byte, so a
     non-canonical R encoding (y >= p, or "negative zero") always fails.
Points of mixed order are not rejected for that alone. A roster key is valid
when it passes steps 2 and 4.

Usage:
  python3 spec/verify_vectors.py [--vectors DIR] [--wait SECONDS] [--self-test]
                                 [--samples FILE] [-v]
Exit status 0 when every checked vector agrees, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import glob
import hashlib
import hmac
import json
import os
import struct
import sys
import time
import unicodedata

# ---------------------------------------------------------------------------
# Limits and constants (spec section 15)
# ---------------------------------------------------------------------------

MAX_ENVELOPE_BYTES = 4 * 1024
MAX_HEADER_BYTES = 3 * 1024
MAX_BODY_BYTES = 256 * 1024
MAX_WIRE_ENTRY_BYTES = MAX_ENVELOPE_BYTES + MAX_BODY_BYTES + 64
MAX_ROSTER_BYTES = 256 * 1024
MAX_CBOR_DEPTH = 8
MAX_NETWORK_ID_BYTES = 64
MAX_ORG_ID_BYTES = 32
MAX_ROSTER_MEMBERS = 512
MAX_RETIRED_KEYS = 1024
MAX_NODES_PER_MEMBER = 8
MAX_ADDRS_PER_MEMBER = 8
MAX_PEER_ID_BYTES = 64
MAX_ADDR_BYTES = 256
MAX_RECIPIENTS = 64
MAX_TITLE_BYTES = 256
MAX_SUMMARY_BYTES = 8 * 1024
MAX_DETAILS_BYTES = 128 * 1024
MAX_TEXT_BYTES = 2 * 1024
MAX_LIST_ITEMS = 64
MAX_CLOCK_SKEW_MS = 5 * 60 * 1000
MAX_GAP_WINDOW = 4096
MAX_PENDING_PER_AUTHOR = 1024
MAX_PENDING_TOTAL = 16 * 1024
MAX_PENDING_BYTES_PER_AUTHOR = 8 * 1024 * 1024
MAX_PENDING_BYTES = 64 * 1024 * 1024
MAX_SEQ = (1 << 53) - 1
MAX_TIMESTAMP_MS = (1 << 53) - 1
MAX_PROOF_BYTES = 2 * MAX_ENVELOPE_BYTES + 16
MAX_QUORUM_DENOMINATOR = 1000
MAX_SYNC_RANGE = 512
MAX_SYNC_REQUEST_BYTES = 1024
MAX_SYNC_RESPONSE_BYTES = 4 * 1024 * 1024
MAX_PROOFS_PER_RESPONSE = 64
MAX_ROSTERS_PER_RESPONSE = 8
MAX_HEADS = MAX_ROSTER_MEMBERS
MAX_RELEASE_BYTES = 1024 * 1024

HEADER_VERSION = 1
ENTRY_AAD_PREFIX = b"riskmesh-entry-v1\x00"
ROSTER_SIG_PREFIX = b"riskmesh-roster-v1\x00"
COMMIT_PREFIX = b"riskmesh-commit-v1\x00"
RELEASE_SIG_PREFIX = b"riskmesh-release-v2\x00"
REVEAL_DIGEST_PREFIX = b"riskmesh-reveal-v1\x00"
PROTECTED_PREFIX = bytes([0xA2, 0x01, 0x27, 0x04, 0x58, 0x20])

TIERS = ["public", "consortium", "restricted", "hazardous"]
KINDS = ["bulletin", "correction", "retraction", "ack", "access-request",
         "access-decision", "access-receipt"]
CATEGORIES = ["bio", "chem", "nuclear-radiological", "cyber-offense",
              "model-weights-security", "autonomy-self-replication",
              "deception-manipulation", "privacy", "bias-fairness",
              "misuse-jailbreak", "other"]
SEVERITIES = ["info", "low", "medium", "high", "critical"]
ACK_STATUSES = ["reproduced", "not-affected", "mitigated"]
WITHHELD_FIELDS = ["details", "title", "summary", "affected", "references"]
ROLES = ["member", "observer"]
TLP = ["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER+STRICT", "TLP:RED"]

PUBLIC, CONSORTIUM, RESTRICTED, HAZARDOUS = 0, 1, 2, 3
BULLETIN, CORRECTION, RETRACTION, ACK, ACCESS_REQUEST, ACCESS_DECISION, ACCESS_RECEIPT = range(7)
MEMBER, OBSERVER = 0, 1
W_DETAILS, W_TITLE, W_SUMMARY, W_AFFECTED, W_REFERENCES = range(5)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# ---------------------------------------------------------------------------
# Deterministic CBOR (spec section 2)
# ---------------------------------------------------------------------------

class CborError(Exception):
    """The bytes break a rule of spec section 2. `kind` is the error kind name
    of spec 2.3 (oversize, truncated, ..., schema, not_canonical)."""

    def __init__(self, kind: str, message: str = ""):
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind


class RawMap:
    """A decoded map whose keys are not all unsigned/negative integers."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __repr__(self):
        return f"RawMap({self.pairs!r})"


class _Scanner:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise CborError("truncated", f"at byte {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def head(self):
        at = self.pos
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            arg = info
        elif info <= 27:
            size = 1 << (info - 24)
            arg = int.from_bytes(self.take(size), "big")
            minimum = {24: 24, 25: 0x100, 26: 0x10000, 27: 0x100000000}[info]
            if arg < minimum:
                raise CborError("non_shortest_form", f"at byte {at}")
        elif info == 31:
            raise CborError("indefinite_length", f"at byte {at}")
        else:
            raise CborError("forbidden_item", f"reserved additional information at byte {at}")
        if major == 7 and info not in (20, 21, 22):
            raise CborError("forbidden_item", f"float, undefined or simple value at byte {at}")
        return major, arg

    def item(self, depth: int):
        at = self.pos
        major, arg = self.head()
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2:
            return bytes(self.take(arg))
        if major == 3:
            raw = self.take(arg)
            try:
                return raw.decode("utf-8", errors="strict")
            except UnicodeDecodeError:
                raise CborError("invalid_utf8", f"at byte {at}") from None
        if major == 4:
            if depth >= MAX_CBOR_DEPTH:
                raise CborError("too_deep", f"at byte {at}")
            if arg > len(self.data) - self.pos:
                raise CborError("truncated", f"array count beyond input at byte {at}")
            return [self.item(depth + 1) for _ in range(arg)]
        if major == 5:
            if depth >= MAX_CBOR_DEPTH:
                raise CborError("too_deep", f"at byte {at}")
            if 2 * arg > len(self.data) - self.pos:
                raise CborError("truncated", f"map count beyond input at byte {at}")
            pairs = []
            previous = None
            for _ in range(arg):
                key_start = self.pos
                key = self.item(depth + 1)
                key_bytes = self.data[key_start:self.pos]
                if previous is not None and previous >= key_bytes:
                    raise CborError("unsorted_map_keys", f"at byte {key_start}")
                previous = key_bytes
                pairs.append((key, self.item(depth + 1)))
            if all(type(k) is int for k, _ in pairs):
                return dict(pairs)
            return RawMap(pairs)
        if major == 6:
            raise CborError("forbidden_item", f"tag at byte {at}")
        # major 7: false, true, null
        return {20: False, 21: True, 22: None}[arg]


def cbor_decode(data: bytes, limit: int):
    """Scans and decodes one deterministic CBOR item (spec 2.1)."""
    if len(data) > limit:
        raise CborError("oversize", f"input is {len(data)} bytes, over the limit of {limit}")
    scanner = _Scanner(data)
    value = scanner.item(0)
    if scanner.pos != len(data):
        raise CborError("trailing_bytes", f"at byte {scanner.pos}")
    return value


def _head(major: int, arg: int) -> bytes:
    if arg < 24:
        return bytes([(major << 5) | arg])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < (1 << (8 * size)):
            return bytes([(major << 5) | info]) + arg.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def cbor_encode(value) -> bytes:
    """Deterministic encoding of a decoded value (spec 2.2)."""
    if value is False:
        return b"\xf4"
    if value is True:
        return b"\xf5"
    if value is None:
        return b"\xf6"
    if type(value) is int:
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, (bytes, bytearray)):
        return _head(2, len(value)) + bytes(value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(cbor_encode(v) for v in value)
    if isinstance(value, (dict, RawMap)):
        pairs = value.items() if isinstance(value, dict) else value.pairs
        encoded = sorted((cbor_encode(k), cbor_encode(v)) for k, v in pairs)
        return _head(5, len(encoded)) + b"".join(k + v for k, v in encoded)
    raise TypeError(f"cannot encode {type(value)}")


# --- structure checkers: decoded value -> checked value, or CborError -------

def _fail(what: str):
    raise CborError("schema", what)


def t_uint(v, what="uint"):
    if type(v) is not int or v < 0:
        _fail(f"{what}: expected uint")
    return v


def t_u8(v, what="u8"):
    t_uint(v, what)
    if v > 255:
        _fail(f"{what}: overflows u8")
    return v


def t_tstr(v, what="tstr"):
    if not isinstance(v, str):
        _fail(f"{what}: expected text")
    return v


def t_bool(v, what="bool"):
    if type(v) is not bool:
        _fail(f"{what}: expected bool")
    return v


def t_bstr(v, what="bstr", size=None):
    if not isinstance(v, bytes):
        _fail(f"{what}: expected bytes")
    if size is not None and len(v) != size:
        _fail(f"{what}: expected {size} bytes")
    return v


def t_hash(v, what="hash32"):
    return t_bstr(v, what, 32)


def t_enum(count):
    def check(v, what="enum"):
        t_uint(v, what)
        if v >= count:
            _fail(f"{what}: unknown variant {v}")
        return v
    return check


def t_list(elem):
    def check(v, what="list"):
        if not isinstance(v, list):
            _fail(f"{what}: expected array")
        return [elem(x, what) for x in v]
    return check


# Problems that minicbor-style decoding tolerates but re-encoding exposes
# (unknown keys, optional keys encoded as null, extra array elements). They
# are collected during a decode and reported as `not_canonical` only if the
# whole structure otherwise decodes, because a type error anywhere is
# reported first as `schema` (spec 2.3).
_NON_CANONICAL: list[str] = []


def t_map(fields):
    """fields: {key: (name, checker, optional)}. Unknown keys, missing required
    keys and optional keys encoded as null are all rejected (spec 2.2)."""
    def check(v, what="map"):
        if not isinstance(v, dict):
            _fail(f"{what}: expected a map with integer keys")
        out = {}
        for key, (name, checker, optional) in fields.items():
            if key not in v:
                if not optional:
                    _fail(f"{what}: missing key {key} ({name})")
                out[name] = None
            elif optional and v[key] is None:
                _NON_CANONICAL.append(f"{what}: optional key {key} ({name}) encoded as null")
                out[name] = None
            else:
                out[name] = checker(v[key], name)
        for key in v:
            if key not in fields:
                if not 0 <= key < 2 ** 32:
                    _fail(f"{what}: key {key} is not a field index")
                _NON_CANONICAL.append(f"{what}: unknown key {key}")
        return out
    return check


def decode_struct(data: bytes, limit: int, checker):
    """Spec 2.1 scan, then 2.2: decode as the structure and require that it
    re-encodes to the same bytes."""
    value = cbor_decode(data, limit)
    _NON_CANONICAL.clear()
    out = checker(value)
    if _NON_CANONICAL:
        problem = _NON_CANONICAL[0]
        _NON_CANONICAL.clear()
        raise CborError("not_canonical", problem)
    if cbor_encode(value) != data:  # cannot happen after a clean scan; kept as a guard
        raise CborError("not_canonical", "value does not re-encode to the same bytes")
    return out


t_tier = t_enum(4)
t_kind = t_enum(7)
t_category = t_enum(11)
t_severity = t_enum(5)
t_ack_status = t_enum(3)
t_withheld_field = t_enum(5)
t_role = t_enum(2)

HEADER = t_map({
    0: ("version", t_uint, False),
    1: ("network", t_tstr, False),
    2: ("author", t_hash, False),
    3: ("seq", t_uint, False),
    4: ("prev", t_hash, True),
    5: ("timestamp_ms", t_uint, False),
    6: ("tier", t_tier, False),
    7: ("kind", t_kind, False),
    8: ("body_hash", t_hash, False),
    9: ("body_len", t_uint, False),
    10: ("recipients", t_list(t_hash), True),
})

WITHHELD_COMMITMENT = t_map({
    0: ("field", t_withheld_field, False),
    1: ("commitment", t_hash, False),
})

RELEASE_POLICY = t_map({
    0: ("observers_may_request", t_bool, False),
    1: ("approvers", t_list(t_hash), False),
    2: ("threshold", t_uint, False),
})

BULLETIN_BODY = t_map({
    0: ("title", t_tstr, False),
    1: ("summary", t_tstr, False),
    2: ("category", t_category, True),
    3: ("severity", t_severity, True),
    4: ("affected", t_list(t_tstr), False),
    5: ("details", t_tstr, False),
    6: ("mitigations", t_list(t_tstr), False),
    7: ("references", t_list(t_tstr), False),
    8: ("commitments", t_list(t_u8), False),
    9: ("embargo_until_ms", t_uint, True),
    10: ("expires_ms", t_uint, True),
    11: ("supersedes", t_hash, True),
    12: ("withheld", t_list(WITHHELD_COMMITMENT), True),
    13: ("release", RELEASE_POLICY, True),
})

RETRACTION_BODY = t_map({0: ("target", t_hash, False), 1: ("reason", t_tstr, False),
                         2: ("purge", t_bool, False)})
ACK_BODY = t_map({0: ("target", t_hash, False), 1: ("status", t_ack_status, False),
                  2: ("note", t_tstr, False)})
ACCESS_REQUEST_BODY = t_map({0: ("target", t_hash, False), 1: ("reason", t_tstr, False),
                             2: ("fields", t_list(t_withheld_field), False)})
ACCESS_DECISION_BODY = t_map({0: ("request", t_hash, False), 1: ("grant", t_bool, False),
                              2: ("reason", t_tstr, False)})
ACCESS_RECEIPT_BODY = t_map({0: ("request", t_hash, False), 1: ("target", t_hash, False),
                             2: ("received", t_list(t_hash), False)})

REVEAL = t_map({
    0: ("field", t_withheld_field, False),
    1: ("salt", lambda v, w="salt": t_bstr(v, w, 32), False),
    2: ("value", t_bstr, False),
})

MEMBER_MAP = t_map({
    0: ("org", t_tstr, False),
    1: ("name", t_tstr, False),
    2: ("role", t_role, False),
    3: ("signing_key", t_hash, False),
    4: ("encryption_key", lambda v, w="encryption_key": t_bstr(v, w, 32), False),
    5: ("nodes", t_list(t_bstr), False),
    6: ("addrs", t_list(t_tstr), False),
})

POLICY = t_map({0: ("quorum_numerator", t_uint, False), 1: ("quorum_denominator", t_uint, False)})

RETIRED_KEY = t_map({
    0: ("key", t_hash, False),
    1: ("org", t_tstr, False),
    2: ("role", t_role, False),
    3: ("reason", t_enum(3), False),  # removed, rotated, compromised
    4: ("last_seq", t_uint, False),
    5: ("last_id", t_hash, True),
})

ROSTER_DOC = t_map({
    0: ("network", t_tstr, False),
    1: ("version", t_uint, False),
    2: ("prev", t_hash, True),
    3: ("members", t_list(MEMBER_MAP), False),
    4: ("policy", POLICY, False),
    5: ("created_ms", t_uint, False),
    6: ("retired", t_list(RETIRED_KEY), True),
})

ROSTER_SIGNATURE = t_map({0: ("signer", t_hash, False),
                          1: ("signature", lambda v, w="signature": t_bstr(v, w, 64), False)})

SIGNED_ROSTER = t_map({0: ("doc", t_bstr, False), 1: ("signatures", t_list(ROSTER_SIGNATURE), False)})

EQUIVOCATION_PROOF = t_map({0: ("first", t_bstr, False), 1: ("second", t_bstr, False)})


def t_wire_entry(v, what="wire-entry"):
    """Spec 5.1: [envelope, ? body]; a trailing null is not canonical."""
    if not isinstance(v, list) or not v:
        _fail(f"{what}: expected a non-empty array")
    envelope = t_bstr(v[0], "envelope")
    body = None
    if len(v) >= 2:
        if v[1] is None:
            _NON_CANONICAL.append(f"{what}: absent body encoded as null")
        else:
            body = t_bstr(v[1], "body")
    if len(v) > 2:
        _NON_CANONICAL.append(f"{what}: more than 2 elements")
    return {"envelope": envelope, "body": body}


HEAD = t_map({0: ("author", t_hash, False), 1: ("seq", t_uint, False), 2: ("id", t_hash, False)})


def _variant(v, what):
    if not isinstance(v, list) or len(v) != 2:
        _fail(f"{what}: expected [variant, value]")
    return t_uint(v[0], f"{what} variant"), v[1]


def _wrapped(checker):
    """A single-field variant's value: a 1-element array around the field."""
    def check(v, what="value"):
        if not isinstance(v, list) or not v:
            _fail(f"{what}: expected a 1-element array")
        if len(v) > 1:
            _NON_CANONICAL.append(f"{what}: more than 1 element")
        return checker(v[0], what)
    return check


def t_sync_request(v, what="sync-request"):
    """Spec 13."""
    variant, value = _variant(v, what)
    if variant == 0:
        if value != []:  # a unit variant's value is skipped, then re-encoded as []
            _NON_CANONICAL.append(f"{what}: heads takes []")
        return ("heads", None)
    shapes = {
        1: ("range", t_map({0: ("author", t_hash, False), 1: ("from_seq", t_uint, False),
                            2: ("count", t_uint, False)})),
        2: ("rosters", t_map({0: ("after_version", t_uint, False)})),
        3: ("proofs", t_map({0: ("skip", t_uint, False)})),
        4: ("digest", t_map({0: ("digest", t_hash, False)})),
    }
    if variant not in shapes:
        _fail(f"{what}: unknown variant {variant}")
    name, checker = shapes[variant]
    return (name, checker(value, what))


def t_sync_response(v, what="sync-response"):
    """Spec 13."""
    variant, value = _variant(v, what)
    shapes = {
        0: ("heads", t_map({0: ("heads", t_list(HEAD), False), 1: ("roster_version", t_uint, False),
                            2: ("proofs", t_uint, False)})),
        1: ("entries", _wrapped(t_list(t_wire_entry))),
        2: ("rosters", _wrapped(t_list(t_bstr))),
        3: ("proofs", _wrapped(t_list(EQUIVOCATION_PROOF))),
        4: ("refused", _wrapped(t_tstr)),
    }
    if variant == 5:
        if value != []:
            _NON_CANONICAL.append(f"{what}: in-sync takes []")
        return ("in_sync", None)
    if variant not in shapes:
        _fail(f"{what}: unknown variant {variant}")
    name, checker = shapes[variant]
    return (name, checker(value, what))


def decode_sync_request(data: bytes):
    """Spec 13 rule 1. Returns (variant name, fields) or raises CborError /
    ValueError (over a limit)."""
    name, fields = decode_struct(data, MAX_SYNC_REQUEST_BYTES, t_sync_request)
    if name == "range":
        if not 1 <= fields["count"] <= MAX_SYNC_RANGE:
            raise ValueError("range count must be 1..512")
        if fields["from_seq"] == 0 or fields["from_seq"] + fields["count"] > 2 ** 64 - 1:
            raise ValueError("range start must be at least 1 and not overflow")
    return name, fields


# ---------------------------------------------------------------------------
# Ed25519 (RFC 8032 section 6 reference code, adapted; spec section 3.2)
# ---------------------------------------------------------------------------

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _inv(x):
    return pow(x, P - 2, P)


def _add(p1, p2):
    a = (p1[1] - p1[0]) * (p2[1] - p2[0]) % P
    b = (p1[1] + p1[0]) * (p2[1] + p2[0]) % P
    c = 2 * p1[3] * p2[3] * D % P
    d = 2 * p1[2] * p2[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, pt):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        s >>= 1
    return q


def _is_identity(pt):
    return pt[0] % P == 0 and (pt[1] - pt[2]) % P == 0


def _neg(pt):
    return ((-pt[0]) % P, pt[1], pt[2], (-pt[3]) % P)


def _recover_x(y, sign):
    """x for y with the given sign bit, or None if y is not on the curve. When
    x = 0 the sign bit is ignored (spec 3.2 step 2)."""
    x2 = (y * y - 1) * _inv(D * y * y + 1) % P
    if x2 == 0:
        return 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def point_decompress(s: bytes, canonical: bool):
    """Spec 3.2 step 2/3. With `canonical`, an encoding with y >= p is refused
    (public keys); otherwise y is taken modulo p (R, whose non-canonical forms
    then fail the final byte comparison instead)."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        if canonical:
            return None
        y -= P
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def point_compress(pt) -> bytes:
    zinv = _inv(pt[2])
    x = pt[0] * zinv % P
    y = pt[1] * zinv % P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


_GY = 4 * _inv(5) % P
_GX = _recover_x(_GY, 0)
BASE = (_GX, _GY, 1, _GX * _GY % P)


def is_small_order(pt) -> bool:
    return _is_identity(_mul(8, pt))


def ed25519_valid_public_key(key: bytes) -> bool:
    """Spec 3.2 'valid public key': canonical (y < p), decodes, and is not of
    small order."""
    pt = point_decompress(key, canonical=True)
    return pt is not None and not is_small_order(pt)


def ed25519_verify(key: bytes, msg: bytes, sig: bytes) -> bool:
    """Spec 3.2, steps 1-7."""
    if len(key) != 32 or len(sig) != 64:
        return False
    r_enc, s_enc = sig[:32], sig[32:]
    s = int.from_bytes(s_enc, "little")
    if s >= L:  # step 1
        return False
    a = point_decompress(key, canonical=True)  # step 2
    if a is None:
        return False
    r = point_decompress(r_enc, canonical=False)  # step 3
    if r is None:
        return False
    if is_small_order(a) or is_small_order(r):  # step 4
        return False
    k = int.from_bytes(hashlib.sha512(r_enc + key + msg).digest(), "little") % L  # step 5
    r_check = _add(_mul(s, BASE), _neg(_mul(k, a)))  # step 6
    return point_compress(r_check) == r_enc  # step 7


def ed25519_public_from_seed(seed: bytes) -> bytes:
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return point_compress(_mul(a, BASE))


def ed25519_sign(seed: bytes, msg: bytes) -> bytes:
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    prefix = h[32:]
    pub = point_compress(_mul(a, BASE))
    r = int.from_bytes(hashlib.sha512(prefix + msg).digest(), "little") % L
    r_enc = point_compress(_mul(r, BASE))
    k = int.from_bytes(hashlib.sha512(r_enc + pub + msg).digest(), "little") % L
    s = (r + k * a) % L
    return r_enc + int.to_bytes(s, 32, "little")


# ---------------------------------------------------------------------------
# Entries (spec sections 5, 6, 10)
# ---------------------------------------------------------------------------

class Reject(Exception):
    """A reject outcome with its stable reason name (spec 14.1). `detail` is
    the sub-kind the vectors record: for `encoding` the CBOR error kind
    (spec 2.3), for `body` one of `encoding`, `invalid`, `hazardous`."""

    def __init__(self, reason: str, detail: str | None = None, message: str = ""):
        text = reason + (f" ({detail})" if detail else "") + (f": {message}" if message else "")
        super().__init__(text)
        self.reason = reason
        self.detail = detail


def external_aad(network: str) -> bytes:
    return ENTRY_AAD_PREFIX + network.encode("utf-8")


def sig_structure(protected: bytes, network: str, payload: bytes) -> bytes:
    return cbor_encode(["Signature1", protected, external_aad(network), payload])


def entry_id(envelope: bytes) -> bytes:
    return sha256(envelope)


def parse_envelope(envelope: bytes):
    """Spec 10 step 1. Returns (kid, protected, payload, signature)."""
    try:
        value = cbor_decode(envelope, MAX_ENVELOPE_BYTES)
    except CborError as e:
        raise Reject("encoding", e.kind, f"envelope: {e}") from None
    if not isinstance(value, list) or len(value) != 4:
        raise Reject("encoding", "schema", "envelope: expected an array of 4")
    protected, unprotected, payload, signature = value
    if not isinstance(protected, bytes) or len(protected) != 38 or protected[:6] != PROTECTED_PREFIX:
        raise Reject("encoding", "schema", "envelope: protected header must be {1: -8, 4: kid(32)}")
    if not isinstance(unprotected, dict) or unprotected:
        raise Reject("encoding", "schema", "envelope: unprotected header must be the empty map")
    if not isinstance(payload, bytes):
        raise Reject("encoding", "schema", "envelope: payload must be a byte string")
    if len(payload) > MAX_HEADER_BYTES:
        raise Reject("encoding", "oversize", "envelope: payload over MAX_HEADER_BYTES")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise Reject("encoding", "schema", "envelope: signature must be 64 bytes")
    return protected[6:], protected, payload, signature


def strictly_ascending(values) -> bool:
    return all(a < b for a, b in zip(values, values[1:]))


def _text(value: str, limit: int, what: str):
    if len(value.encode("utf-8")) > limit:
        raise Reject("body", "invalid", f"{what} over {limit} bytes")


def _list(values, what: str):
    if len(values) > MAX_LIST_ITEMS:
        raise Reject("body", "invalid", f"{what} has over {MAX_LIST_ITEMS} items")
    for v in values:
        _text(v, MAX_TEXT_BYTES, what)


def _rust_trim_is_empty(text: str) -> bool:
    # Rust's str::trim removes characters with the Unicode White_Space property.
    white_space = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                      "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
    return all(c in white_space for c in text)


def check_redacted(b):
    """Spec 8.2."""
    withheld = b["withheld"]
    if withheld is None:
        raise Reject("body", "hazardous", "hazardous body without withheld commitments")
    fields = [w["field"] for w in withheld]
    if not strictly_ascending(fields):
        raise Reject("body", "hazardous", "withheld fields not strictly ascending")
    if not fields or fields[0] != W_DETAILS:
        raise Reject("body", "hazardous", "details must be withheld")
    if b["details"] != "":
        raise Reject("body", "hazardous", "details must be empty")
    if W_AFFECTED in fields and b["affected"]:
        raise Reject("body", "hazardous", "affected withheld but present")
    if W_REFERENCES in fields and b["references"]:
        raise Reject("body", "hazardous", "references withheld but present")
    release = b["release"]
    if release is None:
        raise Reject("body", "hazardous", "hazardous body without release policy")
    if len(release["approvers"]) > MAX_ROSTER_MEMBERS or not strictly_ascending(release["approvers"]):
        raise Reject("body", "hazardous", "approvers not strictly ascending")
    n = max(len(release["approvers"]), 1)
    if release["threshold"] == 0 or release["threshold"] > n:
        raise Reject("body", "hazardous", f"threshold outside 1..{n}")


def check_bulletin(b, kind: int, tier: int):
    """Spec 7.2 rules 1-8."""
    _text(b["title"], MAX_TITLE_BYTES, "title")
    if _rust_trim_is_empty(b["title"]):
        raise Reject("body", "invalid", "title is empty")
    _text(b["summary"], MAX_SUMMARY_BYTES, "summary")
    _text(b["details"], MAX_DETAILS_BYTES, "details")
    if b["category"] is None or b["severity"] is None:
        raise Reject("body", "invalid", "category and severity are required")
    _list(b["affected"], "affected")
    _list(b["mitigations"], "mitigations")
    _list(b["references"], "references")
    if not strictly_ascending(b["commitments"]) or any(not 1 <= c <= 8 for c in b["commitments"]):
        raise Reject("body", "invalid", "commitments must be ascending numbers 1..8")
    if kind == CORRECTION and b["supersedes"] is None:
        raise Reject("body", "invalid", "correction without supersedes")
    if kind == BULLETIN and b["supersedes"] is not None:
        raise Reject("body", "invalid", "bulletin with supersedes")
    if tier == HAZARDOUS:
        check_redacted(b)
    elif b["withheld"] is not None or b["release"] is not None:
        raise Reject("body", "invalid", "withheld/release outside the hazardous tier")


def decode_body(kind: int, tier: int, body: bytes):
    """Spec 10 step 15 (body rules). Returns the decoded body (or the opaque bytes)."""
    if len(body) > MAX_BODY_BYTES:
        raise Reject("body", "encoding", "over MAX_BODY_BYTES")

    def dec(schema):
        try:
            return decode_struct(body, MAX_BODY_BYTES, schema)
        except CborError as e:
            raise Reject("body", "encoding", str(e)) from None

    if kind in (BULLETIN, CORRECTION) and tier == RESTRICTED:
        if not body:
            raise Reject("body", "invalid", "restricted body is empty")
        return body
    if kind in (BULLETIN, CORRECTION):
        b = dec(BULLETIN_BODY)
        check_bulletin(b, kind, tier)
        return b
    if kind == RETRACTION:
        b = dec(RETRACTION_BODY)
        _text(b["reason"], MAX_TEXT_BYTES, "reason")
        return b
    if kind == ACK:
        b = dec(ACK_BODY)
        _text(b["note"], MAX_TEXT_BYTES, "note")
        return b
    if kind == ACCESS_REQUEST:
        b = dec(ACCESS_REQUEST_BODY)
        _text(b["reason"], MAX_TEXT_BYTES, "reason")
        if not b["fields"] or not strictly_ascending(b["fields"]):
            raise Reject("body", "invalid", "requested fields must be non-empty and ascending")
        return b
    if kind == ACCESS_DECISION:
        b = dec(ACCESS_DECISION_BODY)
        _text(b["reason"], MAX_TEXT_BYTES, "reason")
        return b
    b = dec(ACCESS_RECEIPT_BODY)
    if not b["received"] or len(b["received"]) > MAX_LIST_ITEMS or not strictly_ascending(b["received"]):
        raise Reject("body", "invalid", "received must be 1..64 ascending commitments")
    return b


def verify_entry(roster: "Roster", envelope: bytes, body: bytes | None):
    """Spec section 10, steps 1-15. Returns (entry id, header dict). Step 0
    (gossip requires a body) is `verify_wire`'s."""
    kid, protected, payload, signature = parse_envelope(envelope)  # step 1
    member = roster.member(kid) or roster.retired(kid)  # step 2: current or retired (9.6)
    if member is None:
        raise Reject("unknown_author", message=kid.hex())
    message = sig_structure(protected, roster.network, payload)  # step 3
    if not ed25519_verify(kid, message, signature):
        raise Reject("bad_signature")
    try:  # step 4
        header = decode_struct(payload, MAX_HEADER_BYTES, HEADER)
    except CborError as e:
        raise Reject("encoding", e.kind, f"header: {e}") from None
    if header["version"] != HEADER_VERSION:  # step 5
        raise Reject("unsupported_version", message=str(header["version"]))
    if header["author"] != kid:  # step 6
        raise Reject("author_mismatch")
    if header["network"] != roster.network:  # step 7
        raise Reject("wrong_network", message=header["network"])
    seq = header["seq"]  # step 8
    if seq == 0 or seq > MAX_SEQ or (seq == 1) != (header["prev"] is None):
        raise Reject("bad_chain_link")
    if header["timestamp_ms"] > MAX_TIMESTAMP_MS:  # step 9
        raise Reject("out_of_range", message="timestamp_ms over MAX_TIMESTAMP_MS")
    if header["body_len"] > MAX_BODY_BYTES:  # step 10
        raise Reject("encoding", "oversize", "body_len over MAX_BODY_BYTES")
    tier, kind = header["tier"], header["kind"]
    if kind not in (BULLETIN, CORRECTION) and tier not in (PUBLIC, CONSORTIUM):  # step 11
        raise Reject("tier_rule", message="control entries must be public or consortium")
    recipients = header["recipients"]  # step 12
    if tier == RESTRICTED:
        if recipients is None:
            raise Reject("tier_rule", message="restricted entries must name recipients")
        if not recipients or len(recipients) > MAX_RECIPIENTS or not strictly_ascending(recipients):
            raise Reject("tier_rule", message="recipients must be ascending, unique and 1..=64")
        if any(not roster.knows(r) for r in recipients):
            raise Reject("tier_rule", message="every recipient must be on the roster")
    elif recipients is not None:
        raise Reject("tier_rule", message="only restricted entries name recipients")
    if member["role"] == OBSERVER:  # step 13
        if tier not in (PUBLIC, CONSORTIUM) or kind == ACCESS_DECISION:
            raise Reject("role_not_allowed")
    retired = roster.retired(kid)  # step 13a (9.6)
    if retired is not None:
        eid = entry_id(envelope)
        if not (seq < retired["last_seq"] or (seq == retired["last_seq"] and eid == retired["last_id"])):
            raise Reject("retired_key", message=f"seq {seq} past {retired['last_seq']}")
    if body is not None:
        if len(body) != header["body_len"] or sha256(body) != header["body_hash"]:  # step 14
            raise Reject("body_mismatch")
        decode_body(kind, tier, body)  # step 15
    return entry_id(envelope), header


def decode_wire_entry(data: bytes):
    try:
        return decode_struct(data, MAX_WIRE_ENTRY_BYTES, t_wire_entry)
    except CborError as e:
        raise Reject("encoding", e.kind, f"wire entry: {e}") from None


def verify_wire(roster: "Roster", data: bytes, via: str):
    """Spec 5.1 and 10: decode a wire entry, then (gossip only) require its
    body before anything else, then verify. Returns (entry id, header)."""
    if via not in ("gossip", "sync"):
        raise ValueError(f"unknown delivery {via!r}")
    wire = decode_wire_entry(data)
    if via == "gossip" and wire["body"] is None:  # step 0
        raise Reject("missing_body")
    return verify_entry(roster, wire["envelope"], wire["body"])


# ---------------------------------------------------------------------------
# Hazardous commitments and reveals (spec section 8)
# ---------------------------------------------------------------------------

def commitment(field: int, salt: bytes, value: bytes) -> bytes:
    return sha256(COMMIT_PREFIX + bytes([field]) + salt + value)


class RevealError(Exception):
    def __init__(self, kind: str, field: int):
        super().__init__(f"{kind}: {WITHHELD_FIELDS[field] if 0 <= field < 5 else field}")
        self.kind = kind
        self.field = field


def check_reveals(redacted_body: dict, reveals: list[dict]):
    """Spec 8.4. `reveals` are dicts with field, salt, value (decoded reveal maps)."""
    seen = []
    for r in reveals:
        if r["field"] in seen:
            raise RevealError("duplicate", r["field"])
        seen.append(r["field"])
        check_reveal(redacted_body, r)


def check_reveal(redacted_body: dict, r: dict):
    """Spec 8.4 steps 2-5 for one opening (all a fault proof's opening gets)."""
    withheld = redacted_body.get("withheld") or []
    expected = [w for w in withheld if w["field"] == r["field"]]
    if not expected:
        raise RevealError("not_withheld", r["field"])
    if commitment(r["field"], r["salt"], r["value"]) != expected[0]["commitment"]:
        raise RevealError("mismatch", r["field"])
    is_text = r["field"] in (W_DETAILS, W_TITLE, W_SUMMARY)
    shape = t_tstr if is_text else t_list(t_tstr)
    try:
        value = decode_struct(r["value"], MAX_BODY_BYTES, shape)
    except CborError:
        raise RevealError("malformed", r["field"]) from None
    if is_text:  # step 5: the bulletin limits of spec 7.2
        limit = {W_DETAILS: MAX_DETAILS_BYTES, W_TITLE: MAX_TITLE_BYTES,
                 W_SUMMARY: MAX_SUMMARY_BYTES}[r["field"]]
        within = len(value.encode("utf-8")) <= limit
    else:
        within = len(value) <= MAX_LIST_ITEMS and all(
            len(item.encode("utf-8")) <= MAX_TEXT_BYTES for item in value)
    if not within:
        raise RevealError("over_limit", r["field"])


# ---------------------------------------------------------------------------
# Hazardous release (spec sections 8.5-8.9)
# ---------------------------------------------------------------------------

def reveal_digest(r: dict) -> bytes:
    """Spec 8.5: SHA-256 of the prefix and the reveal's deterministic CBOR."""
    return sha256(REVEAL_DIGEST_PREFIX + cbor_encode({0: r["field"], 1: r["salt"], 2: r["value"]}))


BOUND_REVEAL = t_map({
    0: ("field", t_withheld_field, False),
    1: ("digest", t_hash, False),
})

RELEASE_PAYLOAD = t_map({
    0: ("request", t_hash, False),
    1: ("target", t_hash, False),
    2: ("requester", t_hash, False),
    3: ("bound", t_list(BOUND_REVEAL), False),
})

SIGNED_RELEASE = t_map({
    0: ("author", t_hash, False),
    1: ("payload", t_bstr, False),
    2: ("signature", lambda v, w="signature": t_bstr(v, w, 64), False),
    3: ("reveals", t_list(REVEAL), False),
})


class ReleaseError(Exception):
    """Why a signed release does not open (spec 8.8) or a fault proof proves
    nothing (spec 8.9): `reason` is one of encoding, bad_signature, mismatch,
    reveal, not_a_fault; `detail` the CBOR error kind (encoding) or the
    reveal error (reveal); `field` the reveal's field."""

    def __init__(self, reason: str, detail: str | None = None, field: str | None = None):
        super().__init__(reason + (f" ({detail})" if detail else "") + (f" {field}" if field else ""))
        self.reason = reason
        self.detail = detail
        self.field = field


def decode_signed_release(data: bytes):
    try:
        return decode_struct(data, MAX_RELEASE_BYTES, SIGNED_RELEASE)
    except CborError as e:
        raise ReleaseError("encoding", e.kind) from None


def _signed_payload(signed: dict, author: bytes) -> dict:
    """Spec 8.8 steps 4a-4c: the author, the signature over the received
    payload bytes, then the payload's decoding."""
    if signed["author"] != author:
        raise ReleaseError("mismatch")
    if not ed25519_verify(author, RELEASE_SIG_PREFIX + signed["payload"], signed["signature"]):
        raise ReleaseError("bad_signature")
    try:
        return decode_struct(signed["payload"], MAX_RELEASE_BYTES, RELEASE_PAYLOAD)
    except CborError as e:
        raise ReleaseError("encoding", e.kind) from None


def _check_bound(payload: dict):
    """Spec 8.8 step 4e: the bound fields are non-empty and strictly ascending."""
    fields = [b["field"] for b in payload["bound"]]
    if not fields or not strictly_ascending(fields):
        raise ReleaseError("mismatch")


def _binds(bound: dict, r: dict) -> bool:
    return bound["field"] == r["field"] and bound["digest"] == reveal_digest(r)


def _check_reveal(redacted: dict, r: dict):
    try:
        check_reveal(redacted, r)
    except RevealError as e:
        raise ReleaseError("reveal", e.kind, WITHHELD_FIELDS[e.field]) from None


def release_open(signed_bytes: bytes, author: bytes, request: bytes, target: bytes, requester: bytes,
                 redacted: dict):
    """Spec 8.8 step 4: the requester's check of a signed release. Returns the reveals."""
    signed = decode_signed_release(signed_bytes)
    payload = _signed_payload(signed, author)
    if (payload["request"], payload["target"], payload["requester"]) != (request, target, requester):
        raise ReleaseError("mismatch")
    _check_bound(payload)
    reveals = signed["reveals"]
    if len(reveals) != len(payload["bound"]) or not all(
            _binds(b, r) for b, r in zip(payload["bound"], reveals)):
        raise ReleaseError("mismatch")
    for r in reveals:
        _check_reveal(redacted, r)
    return reveals


def check_fault_proof(proof_bytes: bytes, author: bytes, target: bytes, redacted: dict) -> ReleaseError:
    """Spec 8.9: returns the proven fault (a `reveal` ReleaseError); raises
    ReleaseError if the proof proves nothing."""
    proof = decode_signed_release(proof_bytes)
    payload = _signed_payload(proof, author)
    if payload["target"] != target:
        raise ReleaseError("mismatch")
    _check_bound(payload)
    if len(proof["reveals"]) != 1:
        raise ReleaseError("mismatch")
    reveal = proof["reveals"][0]
    if not any(_binds(b, reveal) for b in payload["bound"]):
        raise ReleaseError("mismatch")
    try:
        _check_reveal(redacted, reveal)
    except ReleaseError as fault:
        return fault
    raise ReleaseError("not_a_fault")


def receipt_body(request: bytes, target: bytes, reveals: list[dict]) -> bytes:
    """Spec 8.8: the access-receipt body listing the received commitments, ascending."""
    received = sorted(commitment(r["field"], r["salt"], r["value"]) for r in reveals)
    return cbor_encode({0: request, 1: target, 2: received})


def evaluate(roster: "Roster", author: bytes, policy: dict, entry: bytes, request: bytes, requester: bytes,
             decisions, retractions) -> dict:
    """Spec 8.6: the release policy's verdict. `decisions` are (id, approver, grant) in log order;
    `retractions` are (author, target). A retraction counts only by the retracted entry's author."""
    def retracted(target: bytes, by: bytes) -> bool:
        return (by, target) in retractions

    if retracted(entry, author):
        return {"decision": "revoked", "why": "entry_retracted"}
    if retracted(request, requester):
        return {"decision": "revoked", "why": "request_retracted"}
    member = roster.member(requester)
    if member is None:
        return {"decision": "not_allowed", "why": "not_on_roster"}
    if requester == author:
        return {"decision": "not_allowed", "why": "author"}
    if member["role"] == OBSERVER and not policy["observers_may_request"]:
        return {"decision": "not_allowed", "why": "observer"}
    if policy["approvers"]:
        approvers = [a for a in policy["approvers"]
                     if roster.member(a) is not None and roster.member(a)["role"] == MEMBER
                     and a != requester]
    else:
        approvers = [author]
    needed = max(policy["threshold"], 1)
    if len(approvers) < needed:
        return {"decision": "never_grantable", "approvers": len(approvers), "needed": needed}
    latest = {}
    for decision_id, who, grant in decisions:
        if who in approvers:
            latest[who] = (decision_id, grant)
    # A retracted latest decision leaves its approver with no standing decision.
    standing = [grant for who, (decision_id, grant) in latest.items() if not retracted(decision_id, who)]
    grants = sum(1 for g in standing if g)
    denials = len(standing) - grants
    if grants >= needed:
        return {"decision": "granted"}
    if max(len(approvers) - denials, 0) < needed:
        return {"decision": "denied"}
    return {"decision": "pending", "grants": grants, "needed": needed}


# ---------------------------------------------------------------------------
# Restricted bodies: age v1 (spec section 7.1). X25519 (RFC 7748), HKDF-SHA-256
# (RFC 5869), ChaCha20-Poly1305 (RFC 8439) and the age format
# (age-encryption.org/v1), in pure Python.
# ---------------------------------------------------------------------------

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= gen[i]
    return chk


def bech32_decode(text: str) -> tuple[str, bytes]:
    """BIP 173 bech32 (not bech32m), without the 90-character limit, as age uses it."""
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixed case")
    s = text.lower()
    pos = s.rfind("1")
    if pos < 1 or len(s) - pos < 7:
        raise ValueError("no separator or checksum")
    hrp, data = s[:pos], s[pos + 1:]
    values = [_BECH32.index(c) for c in data]
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    if _bech32_polymod(expanded + values) != 1:
        raise ValueError("bad checksum")
    acc = bits = 0
    out = bytearray()
    for v in values[:-6]:
        acc = (acc << 5) | v
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if bits >= 5 or acc & ((1 << bits) - 1):
        raise ValueError("bad padding")
    return hrp, bytes(out)


def x25519(scalar: bytes, u: bytes) -> bytes:
    """RFC 7748 section 5."""
    k = bytearray(scalar)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, "little")
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        if swap ^ bit:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % P, (x2 - z2) % P
        aa, bb = a * a % P, b * b % P
        e = (aa - bb) % P
        c, d = (x3 + z3) % P, (x3 - z3) % P
        da, cb = d * a % P, c * b % P
        x3, z3 = (da + cb) ** 2 % P, x1 * (da - cb) ** 2 % P
        x2, z2 = aa * bb % P, e * (aa + 121665 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


X25519_BASE = (9).to_bytes(32, "little")


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, i = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        okm += block
        i += 1
    return okm[:length]


def _chacha20_block(key: bytes, counter: int, nonce: bytes) -> bytes:
    mask = 0xFFFFFFFF
    state = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574, *struct.unpack("<8I", key), counter,
             *struct.unpack("<3I", nonce)]
    x = state[:]

    def quarter(a, b, c, d):
        for (p, q, r, rot) in ((a, b, d, 16), (c, d, b, 12), (a, b, d, 8), (c, d, b, 7)):
            x[p] = (x[p] + x[q]) & mask
            v = x[r] ^ x[p]
            x[r] = ((v << rot) & mask) | (v >> (32 - rot))

    for _ in range(10):
        quarter(0, 4, 8, 12)
        quarter(1, 5, 9, 13)
        quarter(2, 6, 10, 14)
        quarter(3, 7, 11, 15)
        quarter(0, 5, 10, 15)
        quarter(1, 6, 11, 12)
        quarter(2, 7, 8, 13)
        quarter(3, 4, 9, 14)
    return struct.pack("<16I", *((x[i] + state[i]) & mask for i in range(16)))


def _chacha20_xor(key: bytes, counter: int, nonce: bytes, data: bytes) -> bytes:
    out = bytearray()
    for i in range(0, len(data), 64):
        block = _chacha20_block(key, counter + i // 64, nonce)
        out += bytes(a ^ b for a, b in zip(data[i:i + 64], block))
    return bytes(out)


def _poly1305(key: bytes, msg: bytes) -> bytes:
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    p, acc = (1 << 130) - 5, 0
    for i in range(0, len(msg), 16):
        acc = (acc + int.from_bytes(msg[i:i + 16] + b"\x01", "little")) * r % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


class AgeError(Exception):
    pass


def chacha20poly1305_open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    """RFC 8439 section 2.8 decryption; raises AgeError on a bad tag."""
    if len(sealed) < 16:
        raise AgeError("ciphertext shorter than its tag")
    ciphertext, tag = sealed[:-16], sealed[-16:]

    def pad(b):
        return bytes(-len(b) % 16)

    mac_data = aad + pad(aad) + ciphertext + pad(ciphertext) + struct.pack("<QQ", len(aad), len(ciphertext))
    if not hmac.compare_digest(_poly1305(_chacha20_block(key, 0, nonce)[:32], mac_data), tag):
        raise AgeError("authentication tag mismatch")
    return _chacha20_xor(key, 1, nonce, ciphertext)


def _b64(text: bytes) -> bytes:
    return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)


AGE_MAGIC = b"age-encryption.org/v1\n"


def age_parse(data: bytes):
    """Splits a binary age v1 file: (stanzas [(type, args, body)], bytes the
    header MAC covers, MAC, payload). Raises AgeError."""
    if not data.startswith(AGE_MAGIC):
        raise AgeError("not a binary age v1 file")
    pos = len(AGE_MAGIC)
    stanzas = []
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise AgeError("header ends early")
        line = data[pos:end]
        if line.startswith(b"--- "):
            return stanzas, data[:pos + 3], _b64(line[4:]), data[end + 1:]
        if not line.startswith(b"-> "):
            raise AgeError("malformed stanza")
        kind, *args = line[3:].split(b" ")
        body = b""
        pos = end + 1
        while True:  # body lines are 64 columns; a shorter one ends the body
            end = data.find(b"\n", pos)
            if end < 0:
                raise AgeError("stanza body ends early")
            body += data[pos:end]
            short = end - pos < 64
            pos = end + 1
            if short:
                break
        stanzas.append((kind.decode(), args, _b64(body)))


def age_decrypt(data: bytes, secret: bytes) -> bytes:
    """Decrypts a binary age v1 file with an X25519 identity. Raises AgeError
    when no stanza opens (not a recipient) or the file is damaged."""
    stanzas, header, mac, payload = age_parse(data)
    public = x25519(secret, X25519_BASE)
    file_key = None
    for kind, args, body in stanzas:
        if kind != "X25519" or len(args) != 1:
            continue
        share = _b64(args[0])
        shared = x25519(secret, share)
        if shared == bytes(32):
            raise AgeError("low-order share")
        wrap_key = hkdf_sha256(shared, share + public, b"age-encryption.org/v1/X25519")
        try:
            file_key = chacha20poly1305_open(wrap_key, bytes(12), body)
            break
        except AgeError:
            continue
    if file_key is None:
        raise AgeError("no recipient stanza opens with this identity")
    if not hmac.compare_digest(hmac.new(hkdf_sha256(file_key, b"", b"header"), header, hashlib.sha256).digest(),
                               mac):
        raise AgeError("header MAC mismatch")
    nonce, chunks = payload[:16], payload[16:]
    key = hkdf_sha256(file_key, nonce, b"payload")
    out, counter, size = b"", 0, 64 * 1024 + 16
    while True:
        chunk, chunks = chunks[:size], chunks[size:]
        last = not chunks
        out += chacha20poly1305_open(key, counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00"), chunk)
        counter += 1
        if last:
            return out


def age_identity_secret(identity: str) -> bytes:
    hrp, secret = bech32_decode(identity)
    if hrp != "age-secret-key-" or len(secret) != 32 or identity != identity.upper():
        raise ValueError("not an age X25519 identity")
    return secret


# ---------------------------------------------------------------------------
# Roster (spec section 9)
# ---------------------------------------------------------------------------

class RosterError(Exception):
    def __init__(self, label: str, detail: str = ""):
        super().__init__(f"{label}: {detail}" if detail else label)
        self.label = label


def _network_ok(net: str) -> bool:
    raw = net.encode("utf-8")
    return 1 <= len(raw) <= MAX_NETWORK_ID_BYTES and all(
        (0x61 <= c <= 0x7A) or (0x30 <= c <= 0x39) or c in b"-." for c in raw)


def _org_ok(org: str) -> bool:
    raw = org.encode("utf-8")
    return 1 <= len(raw) <= MAX_ORG_ID_BYTES and all(
        (0x61 <= c <= 0x7A) or (0x30 <= c <= 0x39) or c == 0x2D for c in raw)


def check_roster_doc(doc: dict):
    """Spec 9.3, rules 1-9 in order."""
    def bad(msg):
        raise RosterError("invalid", msg)
    if not _network_ok(doc["network"]):
        bad("network id")
    if doc["version"] == 0 or (doc["version"] == 1) != (doc["prev"] is None):
        bad("version/prev")
    members = doc["members"]
    if not 1 <= len(members) <= MAX_ROSTER_MEMBERS:
        bad("participant count")
    if not any(m["role"] == MEMBER for m in members):
        bad("no role member")
    orgs = [m["org"].encode("utf-8") for m in members]
    if not strictly_ascending(orgs):
        bad("orgs not strictly ascending")
    if len({m["signing_key"] for m in members}) != len(members):
        bad("shared signing key")
    peers = [p for m in members for p in m["nodes"]]
    if len(set(peers)) != len(peers):
        bad("duplicate peer id")
    for m in members:
        if not _org_ok(m["org"]):
            bad(f"org id {m['org']!r}")
        if len(m["name"].encode("utf-8")) > MAX_TEXT_BYTES:
            bad("name too long")
        if not ed25519_valid_public_key(m["signing_key"]):
            bad(f"{m['org']}: signing key invalid")
        if len(m["nodes"]) > MAX_NODES_PER_MEMBER or any(not 1 <= len(p) <= MAX_PEER_ID_BYTES for p in m["nodes"]):
            bad("nodes")
        if len(m["addrs"]) > MAX_ADDRS_PER_MEMBER or any(
                not 1 <= len(a.encode("utf-8")) <= MAX_ADDR_BYTES for a in m["addrs"]):
            bad("addrs")
    n, d = doc["policy"]["quorum_numerator"], doc["policy"]["quorum_denominator"]
    if d == 0 or d > MAX_QUORUM_DENOMINATOR or n >= d or 2 * n < d:
        bad("quorum policy")
    retired = doc["retired"]  # rule 10
    if retired is not None:
        if not 1 <= len(retired) <= MAX_RETIRED_KEYS:
            bad("retired keys count (absent when none)")
        if not strictly_ascending([r["key"] for r in retired]):
            bad("retired keys not strictly ascending")
        current = {m["signing_key"] for m in members}
        for r in retired:
            if not _org_ok(r["org"]):
                bad(f"retired org id {r['org']!r}")
            if not ed25519_valid_public_key(r["key"]):
                bad("retired key invalid")
            if r["key"] in current:
                bad("retired key is a participant's key")
            if r["last_seq"] > MAX_SEQ or (r["last_seq"] == 0) != (r["last_id"] is None):
                bad("retired key last_seq/last_id")


def check_successor(old: dict, new: dict):
    """Spec 9.5 step 5: continuity of keys from version n to n+1."""
    def bad(msg):
        raise RosterError("not_successor", msg)
    new_retired = {r["key"]: r for r in new["retired"] or []}
    old_retired = {r["key"]: r for r in old["retired"] or []}
    for key, o in old_retired.items():
        n = new_retired.get(key)
        if n is None:
            bad("a retired key is no longer retired")
        if (n["org"], n["role"]) != (o["org"], o["role"]):
            bad("a retired key changed organization or role")
        if n["last_seq"] > o["last_seq"] or (n["last_seq"] == o["last_seq"] and n["last_id"] != o["last_id"]):
            bad("a retired key's valid prefix grew or changed")
    new_members = {m["signing_key"]: m for m in new["members"]}
    for m in old["members"]:
        kept = new_members.get(m["signing_key"])
        if kept is not None:
            if (kept["org"], kept["role"]) != (m["org"], m["role"]):
                bad("a key changed organization or role")
            continue
        r = new_retired.get(m["signing_key"])
        if r is None:
            bad("a key left the roster without a retired-key record")
        if (r["org"], r["role"]) != (m["org"], m["role"]):
            bad("a retired key names another organization or role")
    held = {m["signing_key"] for m in old["members"]} | set(old_retired)
    if any(key not in held for key in new_retired):
        bad("retires a key the previous version did not hold")


class Roster:
    """A verified roster (spec 9.4 / 9.5)."""

    def __init__(self, doc: dict, doc_bytes: bytes):
        self.doc = doc
        self.hash = sha256(doc_bytes)
        self.network = doc["network"]
        self.version = doc["version"]
        self._by_key = {m["signing_key"]: m for m in doc["members"]}
        self._retired = {r["key"]: r for r in doc["retired"] or []}

    def member(self, key: bytes):
        """The current participant with this key."""
        return self._by_key.get(key)

    def retired(self, key: bytes):
        """The retired-key record of this key (spec 9.6)."""
        return self._retired.get(key)

    def knows(self, key: bytes) -> bool:
        return key in self._by_key or key in self._retired

    @staticmethod
    def decode_signed(data: bytes):
        try:
            return decode_struct(data, MAX_ROSTER_BYTES, SIGNED_ROSTER)
        except CborError as e:
            raise RosterError("encoding", str(e)) from None

    @staticmethod
    def _document(signed):
        try:
            doc = decode_struct(signed["doc"], MAX_ROSTER_BYTES, ROSTER_DOC)
        except CborError as e:
            raise RosterError("encoding", str(e)) from None
        check_roster_doc(doc)
        return doc

    @staticmethod
    def _signers(signed):
        signers = [s["signer"] for s in signed["signatures"]]
        if not strictly_ascending(signers):
            raise RosterError("invalid", "signatures not strictly ascending by signer")
        return signers

    @staticmethod
    def _verify_signatures(signed):
        # Last: signers and counts are checked first (spec 9.4 step 7, 9.5 step 8).
        message = ROSTER_SIG_PREFIX + signed["doc"]
        for s in signed["signatures"]:
            if not ed25519_verify(s["signer"], message, s["signature"]):
                raise RosterError("bad_signature", s["signer"].hex())

    @classmethod
    def genesis(cls, signed_bytes: bytes, pinned: bytes | None = None) -> "Roster":
        signed = cls.decode_signed(signed_bytes)
        if pinned is not None and sha256(signed["doc"]) != pinned:
            raise RosterError("wrong_genesis")
        doc = cls._document(signed)
        if doc["version"] != 1:
            raise RosterError("invalid", "genesis must be version 1")
        if doc["retired"] is not None:
            raise RosterError("invalid", "genesis retires no keys")
        signers = cls._signers(signed)
        voters = {m["signing_key"] for m in doc["members"] if m["role"] == MEMBER}
        for s in signers:
            if s not in voters:
                raise RosterError("unknown_signer", s.hex())
        for m in doc["members"]:
            if m["role"] == MEMBER and m["signing_key"] not in signers:
                raise RosterError("missing_founder", m["org"])
        cls._verify_signatures(signed)
        return cls(doc, signed["doc"])

    def apply_update(self, signed_bytes: bytes) -> "Roster":
        signed = self.decode_signed(signed_bytes)
        doc = self._document(signed)
        if doc["network"] != self.network:
            raise RosterError("not_successor", "network differs")
        if doc["version"] != self.version + 1:
            raise RosterError("not_successor", "version")
        if doc["prev"] != self.hash:
            raise RosterError("not_successor", "prev")
        check_successor(self.doc, doc)
        signers = self._signers(signed)
        voters = [m for m in self.doc["members"] if m["role"] == MEMBER]
        voter_keys = {m["signing_key"] for m in voters}
        for s in signers:
            if s not in voter_keys:
                raise RosterError("unknown_signer", s.hex())
        n = self.doc["policy"]["quorum_numerator"]
        d = self.doc["policy"]["quorum_denominator"]
        if len(signers) * d <= n * len(voters):
            raise RosterError("no_quorum", f"{len(signers)} of {len(voters)}")
        self._verify_signatures(signed)
        return Roster(doc, signed["doc"])


# ---------------------------------------------------------------------------
# Chain rules (spec section 11) and equivocation proofs (section 12)
# ---------------------------------------------------------------------------

class ChainState:
    """Spec section 11. Keeps, per author, the accepted ids, the head
    timestamp and the queue; also the envelopes and headers it has seen so
    that forks can be turned into proofs (spec 12)."""

    def __init__(self):
        self.ids = {}       # author -> list of accepted ids (index seq-1)
        self.last_ts = {}   # author -> head timestamp
        self.pending = {}   # author -> {seq: (id, envelope, header, size)}
        self.pending_total = 0
        self.pending_bytes = {}  # author -> bytes queued (envelope + body)
        self.pending_bytes_total = 0
        self.seen = {}      # id -> (envelope, header) of accepted entries

    def ingest(self, eid: bytes, envelope: bytes, body: bytes | None, header: dict, now_ms: int) -> dict:
        """Returns {outcome, reason, accepted, discarded, fork}."""
        def result(outcome, reason=None, accepted=(), discarded=0, fork=None):
            return {"outcome": outcome, "reason": reason, "accepted": list(accepted),
                    "discarded": discarded, "fork": fork}

        if header["timestamp_ms"] > now_ms + MAX_CLOCK_SKEW_MS:  # step 1
            return result("ignore", "future_timestamp")
        author, seq = header["author"], header["seq"]
        ids = self.ids.setdefault(author, [])
        self.last_ts.setdefault(author, 0)
        pending = self.pending.setdefault(author, {})
        self.pending_bytes.setdefault(author, 0)
        nxt = len(ids) + 1
        if seq < nxt:  # step 2
            existing = ids[seq - 1]
            if existing == eid:
                return result("ignore", "duplicate")
            old_env, old_header = self.seen[existing]
            proof = make_proof(old_env, old_header, envelope, header)
            return result("ignore", "equivocation",
                          fork={"type": "with_accepted", "existing": existing, "proof": proof})
        if seq > nxt:  # step 3
            if seq - nxt > MAX_GAP_WINDOW:
                return result("ignore", "too_far_ahead")
            if seq in pending:
                qid, qenv, qheader, _ = pending[seq]
                if qid == eid:
                    return result("ignore", "duplicate")
                proof = make_proof(qenv, qheader, envelope, header)
                fork = {"type": "proven", "proof": proof} if proof is not None else None
                return result("ignore", "equivocation", fork=fork)
            size = len(envelope) + (len(body) if body is not None else 0)
            if (len(pending) >= MAX_PENDING_PER_AUTHOR or self.pending_total >= MAX_PENDING_TOTAL
                    or self.pending_bytes[author] + size > MAX_PENDING_BYTES_PER_AUTHOR
                    or self.pending_bytes_total + size > MAX_PENDING_BYTES):
                return result("ignore", "queue_full")
            pending[seq] = (eid, envelope, header, size)
            self.pending_total += 1
            self.pending_bytes[author] += size
            self.pending_bytes_total += size
            return result("ignore", "gap")
        problem = self._links(author, header)  # step 4
        if problem is not None:
            return result(*problem)
        accepted = [eid]
        self._push(author, eid, envelope, header)
        discarded = 0
        while len(ids) + 1 in pending:  # step 4d
            qid, qenv, qheader, qsize = pending.pop(len(ids) + 1)
            self.pending_total -= 1
            self.pending_bytes[author] -= qsize
            self.pending_bytes_total -= qsize
            if self._links(author, qheader) is None:
                self._push(author, qid, qenv, qheader)
                accepted.append(qid)
            else:
                discarded += 1
                break
        return result("accept", accepted=accepted, discarded=discarded)

    def _links(self, author, header):
        ids = self.ids[author]
        if header["prev"] != (ids[-1] if ids else None):
            return ("ignore", "prev_mismatch")
        if header["timestamp_ms"] < self.last_ts[author]:
            return ("reject", "timestamp_regressed")
        return None

    def _push(self, author, eid, envelope, header):
        self.ids[author].append(eid)
        self.last_ts[author] = header["timestamp_ms"]
        self.seen[eid] = (envelope, header)

    def heads(self):
        return sorted((a, len(ids), ids[-1]) for a, ids in self.ids.items() if ids)

    def gaps(self):
        out = []
        for author, queue in self.pending.items():
            nxt = len(self.ids.get(author, [])) + 1
            for seq in sorted(queue):
                if seq > nxt:
                    out.append((author, nxt, seq - 1))
                nxt = seq + 1
        return sorted(out)


def make_proof(env_a: bytes, ha: dict, env_b: bytes, hb: dict):
    """Spec 12: the proof bytes for two conflicting envelopes (same author and
    seq, different bytes; identical headers included, spec 3.3), or None."""
    if ha["author"] != hb["author"] or ha["seq"] != hb["seq"] or env_a == env_b:
        return None
    first, second = sorted([env_a, env_b])
    return cbor_encode({0: first, 1: second})


def verify_proof(roster: Roster, data: bytes):
    """Spec 12. Returns (author, seq) or raises ValueError naming the failure."""
    try:
        proof = decode_struct(data, MAX_PROOF_BYTES, EQUIVOCATION_PROOF)
    except CborError as e:
        raise ValueError(f"encoding: {e}") from None
    if not proof["first"] < proof["second"]:
        raise ValueError("order")
    try:
        _, ha = verify_entry(roster, proof["first"], None)
        _, hb = verify_entry(roster, proof["second"], None)
    except Reject as e:
        raise ValueError(f"invalid: {e.reason}") from None
    if ha["author"] != hb["author"] or ha["seq"] != hb["seq"]:  # step 4
        raise ValueError("not_conflicting")
    return ha["author"], ha["seq"]


# ---------------------------------------------------------------------------
# Self-tests (independent of the vector files)
# ---------------------------------------------------------------------------

def self_test(samples_path: str | None, verbose: bool) -> tuple[int, int]:
    """Checks the primitives against RFC 8032 and spec examples; with
    `samples_path`, also against entries and a roster produced by the Rust
    implementation. Returns (checked, agreed)."""
    results = []

    def check(name, ok):
        results.append((name, bool(ok)))
        if verbose or not ok:
            print(f"  self-test {'ok  ' if ok else 'FAIL'} {name}")

    # RFC 8032 section 7.1, TEST 1 and TEST 2.
    rfc = [
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
         "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
         "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ]
    for i, (sk, pk, msg, sig) in enumerate(rfc, 1):
        sk, pk, msg, sig = map(bytes.fromhex, (sk, pk, msg, sig))
        check(f"rfc8032 test {i} public key", ed25519_public_from_seed(sk) == pk)
        check(f"rfc8032 test {i} signature", ed25519_sign(sk, msg) == sig)
        check(f"rfc8032 test {i} verifies", ed25519_verify(pk, msg, sig))
        s = int.from_bytes(sig[32:], "little")
        check(f"rfc8032 test {i} S+L rejected",
              not ed25519_verify(pk, msg, sig[:32] + int.to_bytes(s + L, 32, "little")))
        check(f"rfc8032 test {i} other message rejected", not ed25519_verify(pk, msg + b"x", sig))
    identity = int.to_bytes(1, 32, "little")
    check("small-order A (identity) rejected as a key", not ed25519_valid_public_key(identity))
    # A forged "signature" for the identity key: R = identity, S = 0 satisfies
    # the cofactorless equation for every message; small-order checks reject it.
    check("identity key with R=identity, S=0 rejected",
          not ed25519_verify(identity, b"m", identity + bytes(32)))
    non_canonical_3 = int.to_bytes(P + 3, 32, "little")
    check("y = 3 is a point of large order", ed25519_valid_public_key(int.to_bytes(3, 32, "little")))
    check("its alias y = p+3 is refused as a key (spec 3.2 step 2)",
          not ed25519_valid_public_key(non_canonical_3))

    # Canonical CBOR scan examples (spec section 2.1).
    good = ["00", "17", "1818", "190100", "1a00010000", "1b0000000100000000", "20", "40",
            "6161", "80", "a0", "a201020304", "f4", "f5", "f6", "8301820203820405",
            "a30a01186401200" + "1", "81" * 8 + "00"]
    bad = ["1800", "1817", "190017", "1900ff", "1a0000ffff", "1b00000000ffffffff", "5801ff",
           "9800", "9fff", "5f41aaff", "c11a514b67b0", "f93c00", "fb3ff0000000000000", "f7",
           "1c", "f813", "f820", "a202010102", "a201010102", "5bffffffffffffffff",
           "9bffffffffffffffff", "bbffffffffffffffff", "830102", "820143aabb", "",
           "81" * 9 + "00", "0000", "62c328", "ff", "e0"]
    for h in good:
        try:
            cbor_decode(bytes.fromhex(h), 1 << 20)
            check(f"cbor accepts {h}", True)
        except CborError as e:
            check(f"cbor accepts {h} ({e})", False)
    for h in bad:
        try:
            cbor_decode(bytes.fromhex(h), 1 << 20)
            check(f"cbor rejects {h}", False)
        except CborError:
            check(f"cbor rejects {h}", True)
    try:
        cbor_decode(b"\x40\x00\x00", 2)
        check("cbor size limit", False)
    except CborError:
        check("cbor size limit", True)
    check("default release policy encoding",
          cbor_encode({0: False, 1: [], 2: 1}).hex() == "a300f401800201")
    check("wire entry without body is a 1-array",
          decode_struct(bytes.fromhex("8143010203"), 100, t_wire_entry)["body"] is None)
    try:
        decode_struct(bytes.fromhex("8243010203f6"), 100, t_wire_entry)
        check("wire entry [env, null] rejected", False)
    except CborError:
        check("wire entry [env, null] rejected", True)

    # Sync message shapes (spec 13), bytes produced by the implementation.
    key11 = "5820" + "11" * 32
    sync_requests = {"820080": "heads",
                     "8201a300" + key11 + "01010202": "range",
                     "8202a10001": "rosters", "8203a10000": "proofs",
                     "8204a100" + "5820" + "33" * 32: "digest"}
    for h, name in sync_requests.items():
        try:
            check(f"sync request {name}", decode_sync_request(bytes.fromhex(h))[0] == name)
        except (CborError, ValueError) as e:
            check(f"sync request {name} ({e})", False)
    sync_responses = {
        "8200a30081a300" + key11 + "0101025820" + "22" * 32 + "01010200": "heads",
        "820181828141018241024103": "entries", "8202818141a0": "rosters",
        "82038181a2004101014102": "proofs", "820481626e6f": "refused", "82018180": "entries",
        "820580": "in_sync"}
    for h, name in sync_responses.items():
        try:
            got = decode_struct(bytes.fromhex(h), MAX_SYNC_RESPONSE_BYTES, t_sync_response)[0]
            check(f"sync response {name} {h[:12]}", got == name)
        except CborError as e:
            check(f"sync response {name} ({e})", False)
    # The heads digest (spec 13.1): SHA-256 of the prefix and the heads
    # answer's bytes; the value is the one the implementation computes.
    heads_answer = bytes.fromhex("8200a30081a300" + key11 + "0101025820" + "22" * 32 + "01010200")
    check("heads digest of the example answer",
          hashlib.sha256(b"riskmesh-heads-v1\x00" + heads_answer).hexdigest()
          == "c0e01ecc64c4dd224a4ecb3a1bb0185da055d53f7f95b8cf13b5374f2a14dc0b")
    for h, kind in {"8200a0": "not_canonical", "8200f6": "not_canonical", "8100": "schema",
                    "820180": "schema", "8201a0": "schema", "8200": "truncated"}.items():
        try:
            decode_sync_request(bytes.fromhex(h))
            check(f"sync request {h} refused", False)
        except CborError as e:
            check(f"sync request {h} refused as {kind}", e.kind == kind)
    for count, ok in ((512, True), (513, False), (0, False)):
        req = bytes.fromhex("8201a300" + key11 + "0101") + cbor_encode(2) + cbor_encode(count)
        try:
            decode_sync_request(req)
            check(f"sync range count {count}", ok)
        except ValueError:
            check(f"sync range count {count}", not ok)

    # The primitives of age (spec 7.1): RFC 7748 section 6.1 and RFC 8439
    # section 2.8.2.
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    check("rfc7748 x25519 public key", x25519(alice, X25519_BASE).hex()
          == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    sunscreen = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
                 b"future, sunscreen would be it.")
    sealed = bytes.fromhex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
        "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
        "3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd0600691")
    aead = (bytes(range(0x80, 0xA0)), bytes.fromhex("070000004041424344454647"),
            bytes.fromhex("50515253c0c1c2c3c4c5c6c7"))
    check("rfc8439 chacha20-poly1305 opens", chacha20poly1305_open(aead[0], aead[1], sealed, aead[2]) == sunscreen)
    try:
        chacha20poly1305_open(aead[0], aead[1], sealed[:-1] + bytes([sealed[-1] ^ 1]), aead[2])
        check("rfc8439 damaged tag rejected", False)
    except AgeError:
        check("rfc8439 damaged tag rejected", True)

    if samples_path:
        with open(samples_path) as f:
            samples = json.load(f)
        roster = Roster.genesis(bytes.fromhex(samples["roster"]))
        check("sample genesis verifies", True)
        check("sample roster hash", roster.hash.hex() == samples["roster_hash"])
        chain = ChainState()
        for i, e in enumerate(samples["entries"]):
            wire = decode_wire_entry(bytes.fromhex(e["wire"]))
            eid, header = verify_entry(roster, wire["envelope"], wire["body"])
            check(f"sample entry {i} verifies", True)
            check(f"sample entry {i} id", eid.hex() == e["id"])
            r = chain.ingest(eid, wire["envelope"], wire["body"], header, header["timestamp_ms"])
            check(f"sample entry {i} chain accept", r["outcome"] == "accept")
            if header["tier"] == HAZARDOUS:
                body = decode_body(header["kind"], header["tier"], wire["body"])
                reveals = [decode_struct(bytes.fromhex(r["cbor"]), MAX_BODY_BYTES, REVEAL)
                           for r in samples["reveals"]]
                for r, raw in zip(reveals, samples["reveals"]):
                    check(f"sample commitment field {r['field']}",
                          commitment(r["field"], r["salt"], r["value"]).hex() == raw["commitment"])
                check_reveals(body, reveals)
                check("sample reveals open the commitments", True)
        author, seq = verify_proof(roster, bytes.fromhex(samples["proof"]))
        check("sample equivocation proof", seq == 1)

    return len(results), sum(ok for _, ok in results)


# ---------------------------------------------------------------------------
# Vector runners (format: spec/vectors/README.md)
# ---------------------------------------------------------------------------

def _hex(s):
    return bytes.fromhex(s) if s is not None else None


def _outcome_of_reject(e: Reject) -> dict:
    out = {"outcome": "reject", "reason": e.reason}
    if e.detail is not None:
        out["detail"] = e.detail
    return out


def run_check(ctx, v):
    try:
        cbor_decode(_hex(v["bytes"]), v["limit"])
        return {"outcome": "accept"}
    except CborError as e:
        return {"outcome": "reject", "reason": e.kind}


def run_entry(ctx, v):
    try:
        eid, _ = verify_entry(ctx["roster"], _hex(v["envelope"]), _hex(v.get("body")))
        return {"outcome": "accept", "entry_id": eid.hex()}
    except Reject as e:
        return _outcome_of_reject(e)


def run_wire(ctx, v):
    try:
        eid, _ = verify_wire(ctx["roster"], _hex(v["wire"]), v["via"])
        return {"outcome": "accept", "entry_id": eid.hex()}
    except Reject as e:
        return _outcome_of_reject(e)


def run_sequence(ctx, v):
    chain = ChainState()
    steps = []
    for step in v["steps"]:
        envelope = _hex(step["envelope"])
        try:
            body = _hex(step.get("body"))
            eid, header = verify_entry(ctx["roster"], envelope, body)
        except Reject as e:
            steps.append(_outcome_of_reject(e))
            continue
        r = chain.ingest(eid, envelope, body, header, step["now_ms"])
        out = {"outcome": r["outcome"]}
        if r["reason"] is not None:
            out["reason"] = r["reason"]
        out["accepted"] = [i.hex() for i in r["accepted"]]
        out["discarded"] = r["discarded"]
        fork = r["fork"]
        if fork is not None:
            fork = dict(fork)
            if "existing" in fork:
                fork["existing"] = fork["existing"].hex()
            fork["proof"] = fork["proof"].hex() if fork["proof"] is not None else None
        out["fork"] = fork
        steps.append(out)
    final = {
        "heads": [{"author": a.hex(), "seq": s, "entry_id": i.hex()} for a, s, i in chain.heads()],
        "pending": chain.pending_total,
        "pending_bytes": chain.pending_bytes_total,
        "gaps": [{"author": a.hex(), "from": f, "to": t} for a, f, t in chain.gaps()],
    }
    return {"steps": steps, "final": final}


def run_fork(ctx, v):
    roster = ctx["roster"]
    try:
        _, ha = verify_entry(roster, _hex(v["envelope_a"]), None)
        _, hb = verify_entry(roster, _hex(v["envelope_b"]), None)
    except Reject as e:
        return {"outcome": "reject", "reason": "invalid", "entry_reason": e.reason}
    proof = make_proof(_hex(v["envelope_a"]), ha, _hex(v["envelope_b"]), hb)
    if proof is None:
        return {"outcome": "reject", "reason": "not_conflicting"}
    return {"outcome": "accept", "proof": proof.hex(), "author": ha["author"].hex(), "seq": ha["seq"]}


def run_proof(ctx, v):
    roster = ctx["roster"]
    data = _hex(v["proof"])
    try:
        proof = decode_struct(data, MAX_PROOF_BYTES, EQUIVOCATION_PROOF)
    except CborError as e:
        return {"outcome": "reject", "reason": "encoding", "detail": e.kind}
    if not proof["first"] < proof["second"]:
        return {"outcome": "reject", "reason": "order"}
    try:
        _, ha = verify_entry(roster, proof["first"], None)
        _, hb = verify_entry(roster, proof["second"], None)
    except Reject as e:
        return {"outcome": "reject", "reason": "invalid", "entry_reason": e.reason}
    if ha["author"] != hb["author"] or ha["seq"] != hb["seq"]:  # step 4; step 2 made them differ
        return {"outcome": "reject", "reason": "not_conflicting"}
    return {"outcome": "accept", "author": ha["author"].hex(), "seq": ha["seq"]}


def _roster_result(fn):
    try:
        roster = fn()
        return {"outcome": "accept", "roster_hash": roster.hash.hex(), "version": roster.version}
    except RosterError as e:
        return {"outcome": "reject", "reason": e.label}


def run_genesis(ctx, v):
    return _roster_result(lambda: Roster.genesis(_hex(v["signed_roster"]), _hex(v.get("pinned_hash")),
))


def run_update(ctx, v):
    current = Roster.genesis(_hex(v["current"]), None)
    return _roster_result(lambda: current.apply_update(_hex(v["update"])))


def run_history(ctx, v):
    """Spec 9.6: apply the update chain over the genesis, then judge the entry."""
    roster = Roster.genesis(_hex(v["genesis"]), None)
    for update in v["updates"]:
        roster = roster.apply_update(_hex(update))
    try:
        eid, _ = verify_wire(roster, _hex(v["wire"]), v["via"])
        return {"outcome": "accept", "entry_id": eid.hex()}
    except Reject as e:
        return _outcome_of_reject(e)


def run_commitment(ctx, v):
    code = WITHHELD_FIELDS.index(v["field"])
    return {"outcome": "accept", "commitment": commitment(code, _hex(v["salt"]), _hex(v["value"])).hex()}


def run_reveal(ctx, v):
    try:
        body = decode_struct(_hex(v["redacted_body"]), MAX_BODY_BYTES, BULLETIN_BODY)
    except CborError as e:
        return {"outcome": "reject", "reason": "redacted_body_" + e.kind}
    reveals = [{"field": WITHHELD_FIELDS.index(r["field"]), "salt": _hex(r["salt"]), "value": _hex(r["value"])}
               for r in v["reveals"]]
    try:
        check_reveals(body, reveals)
        return {"outcome": "accept"}
    except RevealError as e:
        return {"outcome": "reject", "reason": e.kind, "field": WITHHELD_FIELDS[e.field]}


def run_rfc8032(ctx, v):
    sk, pk, msg, sig = (_hex(v[k]) for k in ("secret_key", "public_key", "message", "signature"))
    ok = (ed25519_public_from_seed(sk) == pk and ed25519_sign(sk, msg) == sig
          and ed25519_verify(pk, msg, sig))
    return {"outcome": "accept"} if ok else {"outcome": "reject", "reason": "rfc8032_mismatch"}


def run_verify(ctx, v):
    ok = ed25519_verify(_hex(v["public_key"]), _hex(v["message"]), _hex(v["signature"]))
    return {"outcome": "accept"} if ok else {"outcome": "reject", "reason": "bad_signature"}


def run_public_key(ctx, v):
    ok = ed25519_valid_public_key(_hex(v["public_key"]))
    return {"outcome": "accept"} if ok else {"outcome": "reject", "reason": "invalid_public_key"}


def _release_reject(e: ReleaseError) -> dict:
    out = {"outcome": "reject", "reason": e.reason}
    if e.detail is not None:
        out["detail"] = e.detail
    if e.field is not None:
        out["field"] = e.field
    return out


def _reveal_json(r: dict) -> dict:
    return {"field": WITHHELD_FIELDS[r["field"]], "salt": r["salt"].hex(), "value": r["value"].hex()}


def run_release(ctx, v):
    redacted = decode_struct(_hex(v["redacted_body"]), MAX_BODY_BYTES, BULLETIN_BODY)
    request, target = _hex(v["request"]), _hex(v["target"])
    try:
        reveals = release_open(_hex(v["signed_release"]), _hex(v["author"]), request, target,
                               _hex(v["requester"]), redacted)
    except ReleaseError as e:
        return _release_reject(e)
    received = sorted(commitment(r["field"], r["salt"], r["value"]) for r in reveals)
    return {"outcome": "accept", "reveals": [_reveal_json(r) for r in reveals],
            "digests": [reveal_digest(r).hex() for r in reveals],
            "received": [c.hex() for c in received],
            "receipt_body": receipt_body(request, target, reveals).hex()}


def run_fault_proof(ctx, v):
    """Spec 8.9: a third party checks a fault proof: the hazardous entry, then
    the proof against the entry's author, id and body."""
    body = _hex(v["hazardous_body"])
    target, header = verify_entry(ctx["roster"], _hex(v["hazardous_envelope"]), body)
    if header["tier"] != HAZARDOUS:
        return {"outcome": "reject", "reason": "not_hazardous"}
    redacted = decode_struct(body, MAX_BODY_BYTES, BULLETIN_BODY)
    try:
        fault = check_fault_proof(_hex(v["signed_release"]), header["author"], target, redacted)
    except ReleaseError as e:
        return _release_reject(e)
    return {"outcome": "accept", "author": header["author"].hex(), "target": target.hex(),
            "detail": fault.detail, "field": fault.field}


def run_evaluate(ctx, v):
    p = v["policy"]
    policy = {"observers_may_request": p["observers_may_request"],
              "approvers": [_hex(a) for a in p["approvers"]], "threshold": p["threshold"]}
    decisions = [(_hex(d["id"]), _hex(d["approver"]), d["grant"]) for d in v["decisions"]]
    retractions = {(_hex(r["author"]), _hex(r["target"])) for r in v["retractions"]}
    out = evaluate(ctx["roster"], _hex(v["author"]), policy, _hex(v["entry"]), _hex(v["request"]),
                   _hex(v["requester"]), decisions, retractions)
    return {"outcome": "accept", **out}


def run_restricted(ctx, v):
    """Spec 7.1: verify the entry, then decrypt its body with the identity and
    check that exactly the header's recipients can."""
    roster = ctx["roster"]
    body = _hex(v["body"])
    eid, header = verify_entry(roster, _hex(v["envelope"]), body)
    recipients = header["recipients"]
    out = {"entry_id": eid.hex(), "recipients": [r.hex() for r in (recipients or [])]}
    if header["tier"] != RESTRICTED:
        return {**out, "outcome": "reject", "reason": "not_restricted"}
    stanzas, _, _, _ = age_parse(body)
    if sum(1 for kind, _, _ in stanzas if kind == "X25519") != len(recipients):
        return {**out, "outcome": "reject", "reason": "stanza_count"}
    secret = age_identity_secret(v["identity"])
    owner = next((m for m in roster.doc["members"] if m["encryption_key"] == x25519(secret, X25519_BASE)), None)
    if owner is None or owner["org"] != v["org"]:
        return {**out, "outcome": "reject", "reason": "identity_not_of_org"}
    is_recipient = owner["signing_key"] in recipients
    try:
        plaintext = age_decrypt(body, secret)
    except AgeError:
        plaintext = None
    if (plaintext is not None) != is_recipient:
        reason = "recipient_cannot_decrypt" if is_recipient else "decryptable_by_non_recipient"
        return {**out, "outcome": "reject", "reason": reason}
    if plaintext is None:
        return {**out, "outcome": "reject", "reason": "cannot_decrypt"}
    b = decode_struct(plaintext, MAX_BODY_BYTES, BULLETIN_BODY)
    check_bulletin(b, header["kind"], RESTRICTED)
    return {**out, "outcome": "accept", "plaintext": plaintext.hex()}


RUNNERS = {
    "check": run_check, "entry": run_entry, "wire": run_wire, "sequence": run_sequence, "fork": run_fork,
    "proof": run_proof, "genesis": run_genesis, "update": run_update, "history": run_history,
    "commitment": run_commitment, "reveal": run_reveal, "rfc8032": run_rfc8032,
    "verify": run_verify, "public_key": run_public_key,
    "release": run_release, "fault_proof": run_fault_proof, "evaluate": run_evaluate,
    "restricted": run_restricted,
}


def compare(expected: dict, got: dict) -> list[str]:
    """Every key of `expected` must match `got`; `got` may not add an
    outcome-changing key (reason) that expected lacks."""
    diffs = []
    for key, want in expected.items():
        have = got.get(key, "<missing>")
        if have != want:
            diffs.append(f"{key}: expected {json.dumps(want)[:200]}, got {json.dumps(have)[:200]}")
    if "reason" in got and "reason" not in expected:
        diffs.append(f"reason: expected none, got {got['reason']}")
    return diffs


def run_vector(ctx, v) -> list[str]:
    runner = RUNNERS.get(v["type"])
    if runner is None:
        return [f"unknown vector type {v['type']!r}"]
    try:
        got = runner(ctx, v)
    except Exception as e:  # a crash is a disagreement, not a verdict
        return [f"verifier raised {type(e).__name__}: {e}"]
    if v["type"] == "sequence":
        diffs = []
        steps = v["steps"]
        for i, (step, have) in enumerate(zip(steps, got["steps"])):
            diffs += [f"step {i}: {d}" for d in compare(step["expected"], have)]
        diffs += [f"final state: {d}" for d in compare(v["expected"], got["final"])]
        return diffs
    return compare(v["expected"], got)


def run_files(directory: str, verbose: bool) -> tuple[int, int, list[str]]:
    checked = agreed = 0
    report = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        ctx = {"roster": None}
        if "roster" in data:
            ctx["roster"] = Roster.genesis(bytes.fromhex(data["roster"]), None)
            if "network" in data and data["network"] != ctx["roster"].network:
                report.append(f"{os.path.basename(path)}: file network differs from the roster's")
        file_checked = file_agreed = 0
        for v in data["vectors"]:
            diffs = run_vector(ctx, v)
            file_checked += 1
            if diffs:
                for d in diffs:
                    report.append(f"{os.path.basename(path)} {v['name']}: {d}")
            else:
                file_agreed += 1
            if verbose:
                print(f"  {'agree   ' if not diffs else 'DISAGREE'} {os.path.basename(path)} {v['name']}")
        print(f"{os.path.basename(path)}: {file_agreed}/{file_checked} agree")
        checked += file_checked
        agreed += file_agreed
    return checked, agreed, report


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vectors", default=os.path.join(here, "vectors"), help="vector directory")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for vector files to appear")
    parser.add_argument("--self-test", action="store_true", help="run the built-in self-tests")
    parser.add_argument("--samples", help="JSON of entries produced by the implementation (self-test)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)

    failures = 0
    if args.self_test or args.samples:
        n, ok = self_test(args.samples, args.verbose)
        print(f"self-test: {ok}/{n} agree")
        failures += n - ok

    deadline = time.monotonic() + args.wait
    while not glob.glob(os.path.join(args.vectors, "*.json")) and time.monotonic() < deadline:
        time.sleep(10)
    if not glob.glob(os.path.join(args.vectors, "*.json")):
        print(f"no vector files in {args.vectors}")
        return 1 if failures else 0
    checked, agreed, report = run_files(args.vectors, args.verbose)
    print(f"vectors: {agreed}/{checked} agree")
    for line in report:
        print(f"  DISAGREE {line}")
    failures += checked - agreed
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
