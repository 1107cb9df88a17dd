//! `ed25519.json`: RFC 8032 section 7.1 tests, the ed25519-speccheck edge
//! cases, and public-key checks, all under `verify_strict`.

use super::json::{Json, accept, file, hx, reject, text, vector};
use super::{Fixture, add_l, flip};
use ed25519_dalek::Signer;

pub(super) struct Rfc8032 {
    name: &'static str,
    slug: &'static str,
    secret: &'static str,
    public: &'static str,
    message: String,
    signature: &'static str,
}

/// RFC 8032 §7.1, Ed25519 tests.
pub(super) fn rfc8032() -> Vec<Rfc8032> {
    let test_1024 = [
        "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98",
        "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8",
        "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d",
        "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc",
        "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe",
        "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e",
        "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef",
        "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7",
        "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1",
        "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2",
        "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24",
        "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270",
        "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc",
        "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07",
        "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba",
        "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a",
        "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e",
        "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7",
        "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c",
        "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8",
        "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df",
        "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08",
        "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649",
        "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4",
        "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3",
        "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e",
        "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f",
        "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5",
        "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1",
        "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d",
        "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c",
        "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
    ]
    .concat();
    vec![
        Rfc8032 {
            name: "TEST 1",
            slug: "test_1",
            secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            message: String::new(),
            signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        },
        Rfc8032 {
            name: "TEST 2",
            slug: "test_2",
            secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            message: "72".into(),
            signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        },
        Rfc8032 {
            name: "TEST 3",
            slug: "test_3",
            secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            message: "af82".into(),
            signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        },
        Rfc8032 {
            name: "TEST 1024",
            slug: "test_1024",
            secret: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
            public: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
            message: test_1024,
            signature: "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
        },
        Rfc8032 {
            name: "TEST SHA(abc)",
            slug: "test_sha_abc",
            secret: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            public: "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            message: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f".into(),
            signature: "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
        },
    ]
}

/// The twelve edge cases of "Taming the many EdDSAs" (Chalkias, Garillot,
/// Nikolaenko, SSR 2020), as published in novifinancial/ed25519-speccheck
/// `cases.txt`: (message, public key, signature, verify_strict accepts,
/// what the case exercises).
pub(super) const SPECCHECK: [(&str, &str, &str, bool, &str); 12] = [
    (
        "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000",
        false,
        "S = 0, small-order A, small-order R",
    ),
    (
        "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        false,
        "0 < S < L, small-order A, mixed-order R",
    ),
    (
        "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
        false,
        "0 < S < L, mixed-order A, small-order R",
    ),
    (
        "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
        true,
        "0 < S < L, mixed-order A and R, both the cofactored and cofactorless equations hold",
    ),
    (
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
        false,
        "0 < S < L, mixed-order A and R, only the cofactored equation holds",
    ),
    (
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
        false,
        "0 < S < L, mixed-order A, order-L R, only the cofactored equation holds",
    ),
    (
        "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
        false,
        "S > L (malleable), order-L A and R",
    ),
    (
        "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
        false,
        "S >> L (high bits set), order-L A and R",
    ),
    (
        "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
        false,
        "non-canonical small-order R, valid if R is reduced before hashing",
    ),
    (
        "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
        false,
        "non-canonical small-order R, valid if R is hashed as sent",
    ),
    (
        "e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        false,
        "non-canonical small-order A, valid if A is reduced before hashing",
    ),
    (
        "39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        false,
        "non-canonical small-order A, valid if A is hashed as sent",
    ),
];

pub(super) fn ed25519_file(fx: &Fixture) -> Json {
    let mut vectors = Vec::new();
    let verify =
        |name: &str, description: &str, public: &[u8], message: &[u8], signature: &[u8], ok: bool| {
            vector(
                name,
                "verify",
                description,
                vec![
                    ("public_key", hx(public)),
                    ("message", hx(message)),
                    ("signature", hx(signature)),
                ],
                if ok { accept() } else { reject("bad_signature") },
            )
        };
    let decode = |s: &str| hex::decode(s).expect("hex constant");
    for t in rfc8032() {
        // The generator re-signs each test so a mistyped constant cannot
        // make it into the files.
        let secret: [u8; 32] = decode(t.secret).try_into().expect("32 bytes");
        let key = ed25519_dalek::SigningKey::from_bytes(&secret);
        assert_eq!(
            hex::encode(key.verifying_key().to_bytes()),
            t.public,
            "{}",
            t.name
        );
        assert_eq!(
            hex::encode(key.sign(&decode(&t.message)).to_bytes()),
            t.signature,
            "{}",
            t.name
        );
        vectors.push(vector(
            &format!("rfc8032_{}", t.slug),
            "rfc8032",
            &format!("RFC 8032 section 7.1, {}: the public key derives from the secret key and the signature verifies.", t.name),
            vec![
                ("secret_key", text(t.secret)),
                ("public_key", text(t.public)),
                ("message", text(&t.message)),
                ("signature", text(t.signature)),
            ],
            accept(),
        ));
    }
    let tests = rfc8032();
    let t2 = &tests[1];
    let (pk2, sig2) = (decode(t2.public), decode(t2.signature));
    vectors.push(verify(
        "rfc8032_test_2_other_message",
        "RFC 8032 TEST 2's signature over a different message (0x73).",
        &pk2,
        &[0x73],
        &sig2,
        false,
    ));
    vectors.push(verify(
        "rfc8032_test_2_flipped_signature",
        "RFC 8032 TEST 2 with one bit flipped in S.",
        &pk2,
        &[0x72],
        &flip(&sig2, 40),
        false,
    ));
    let mut malleable = sig2.clone();
    let s: [u8; 32] = sig2[32..].try_into().expect("32 bytes");
    malleable[32..].copy_from_slice(&add_l(&s));
    vectors.push(verify(
        "rfc8032_test_2_s_plus_l",
        "RFC 8032 TEST 2 with S replaced by S + L: the group equation still holds, verify_strict requires S < L.",
        &pk2,
        &[0x72],
        &malleable,
        false,
    ));
    for (i, (message, public, signature, ok, what)) in SPECCHECK.iter().enumerate() {
        vectors.push(verify(
            &format!("speccheck_{i}"),
            &format!("ed25519-speccheck case {i}: {what}."),
            &decode(public),
            &decode(message),
            &decode(signature),
            *ok,
        ));
    }
    let message = b"riskmesh vectors";
    let key = ed25519_dalek::SigningKey::from_bytes(&fx.signer("anthropic").seed());
    let signature = key.sign(message).to_bytes();
    let anthropic = fx.key("anthropic").0;
    vectors.push(verify(
        "fixture_signature",
        "The anthropic fixture key signing \"riskmesh vectors\".",
        &anthropic,
        message,
        &signature,
        true,
    ));
    let mut high = signature;
    high[32..].copy_from_slice(&add_l(&signature[32..].try_into().expect("32 bytes")));
    vectors.push(verify(
        "fixture_signature_s_plus_l",
        "fixture_signature with S replaced by S + L.",
        &anthropic,
        message,
        &high,
        false,
    ));
    vectors.push(verify(
        "fixture_signature_wrong_key",
        "fixture_signature checked against google's key.",
        &fx.key("google").0,
        message,
        &signature,
        false,
    ));

    let public_key = |name: &str, description: &str, key: &[u8], ok: bool| {
        vector(
            name,
            "public_key",
            description,
            vec![("public_key", hx(key))],
            if ok {
                accept()
            } else {
                reject("invalid_public_key")
            },
        )
    };
    vectors.push(public_key(
        "public_key_fixture",
        "The anthropic fixture key.",
        &anthropic,
        true,
    ));
    vectors.push(public_key(
        "public_key_rfc8032_test_1",
        "RFC 8032 TEST 1's public key.",
        &decode(tests[0].public),
        true,
    ));
    let mut identity = [0u8; 32];
    identity[0] = 1;
    vectors.push(public_key(
        "public_key_identity",
        "The identity point (y = 1): order 1.",
        &identity,
        false,
    ));
    vectors.push(public_key(
        "public_key_order_8",
        "A point of order 8 (speccheck's small-order A).",
        &decode(SPECCHECK[0].1),
        false,
    ));
    vectors.push(public_key(
        "public_key_negative_zero",
        "y = p - 1 with the sign bit set although x = 0: a non-canonical encoding of a point of order 2.",
        &decode(SPECCHECK[10].1),
        false,
    ));
    let mut zero_y = [0u8; 32];
    zero_y[31] = 0x80;
    vectors.push(public_key(
        "public_key_y_zero_negative",
        "y = 0 with the sign bit set: a point of order 4.",
        &zero_y,
        false,
    ));
    // y = p + 3 = 2^255 - 16: little-endian f0 ff .. ff 7f.
    let mut alias = [0xff; 32];
    alias[0] = 0xf0;
    alias[31] = 0x7f;
    vectors.push(public_key(
        "public_key_non_canonical_y",
        "y = p + 3, a second encoding of the large-order point with y = 3: refused because y >= p.",
        &alias,
        false,
    ));
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    vectors.push(public_key(
        "public_key_not_on_curve",
        "y = 2, which is not the y-coordinate of any curve point.",
        &off_curve,
        false,
    ));

    file(
        "Ed25519 as riskmesh uses it: verify_strict (RFC 8032 verification that also rejects small-order A and R, \
         non-canonical R and S >= L) and the public-key check applied to roster keys.",
        vec![],
        vectors,
    )
}
