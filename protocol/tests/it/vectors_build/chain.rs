//! `chain.json`: entry sequences fed to one chain validator, with the
//! outcome of every step and the state after the last.

use super::json::{Json, accept, file, hx, ignore, reject, text, vector};
use super::{Fixture, MINUTE, Signed, T0, bulletin_body, header, sign};
use riskmesh_protocol::chain::EquivocationProof;
use riskmesh_protocol::limits::{MAX_CLOCK_SKEW_MS, MAX_GAP_WINDOW};
use riskmesh_protocol::testkit::NETWORK;
use riskmesh_protocol::{EntryId, Hash32, Kind, OrgKey, Tier, verify_entry};

/// One step of a chain sequence and what the validator must report.
pub(super) struct Step {
    entry: Signed,
    now_ms: u64,
    outcome: Json,
    accepted: Vec<EntryId>,
    discarded: u64,
    fork: Json,
}

pub(super) fn step(entry: &Signed, now_ms: u64, outcome: Json, accepted: &[&Signed]) -> Step {
    Step {
        entry: entry.clone(),
        now_ms,
        outcome,
        accepted: accepted.iter().map(|s| s.id()).collect(),
        discarded: 0,
        fork: Json::Null,
    }
}

/// Builds chain entries for one author.
pub(super) struct Chain<'a> {
    pub(super) fx: &'a Fixture,
    pub(super) org: &'static str,
}

impl Chain<'_> {
    pub(super) fn entry(&self, seq: u64, prev: Option<EntryId>, ts: u64, title: &str) -> Signed {
        let body = bulletin_body(title);
        let h = header(
            self.fx.key(self.org),
            seq,
            prev,
            ts,
            Tier::Public,
            Kind::Bulletin,
            &body,
        );
        sign(self.fx, self.org, &h, &body)
    }

    /// Entries 1..=n linked in order, a minute apart.
    pub(super) fn log(&self, n: u64, branch: &str) -> Vec<Signed> {
        let mut out: Vec<Signed> = Vec::new();
        for seq in 1..=n {
            let prev = out.last().map(Signed::id);
            out.push(self.entry(seq, prev, T0 + seq * MINUTE, &format!("{branch} entry {seq}")));
        }
        out
    }
}

pub(super) fn proof_hex(a: &Signed, b: &Signed, fx: &Fixture) -> Json {
    let roster = &fx.consortium.roster;
    let va = verify_entry(roster, &a.envelope, None).expect("fixture verifies");
    let vb = verify_entry(roster, &b.envelope, None).expect("fixture verifies");
    hx(EquivocationProof::new(&va, &vb)
        .expect("fixture forks")
        .to_bytes())
}

pub(super) struct Final {
    heads: Vec<(OrgKey, u64, EntryId)>,
    /// The entries left in the queue: their number and their bytes
    /// (envelope plus body as delivered) are the expected `pending` and
    /// `pending_bytes`.
    pending: Vec<Signed>,
    gaps: Vec<(OrgKey, u64, u64)>,
}

pub(super) fn sequence(name: &str, description: &str, steps: Vec<Step>, end: Final) -> Json {
    let steps = steps
        .into_iter()
        .map(|s| {
            let Json::Obj(mut expected) = s.outcome else {
                unreachable!("outcomes are objects")
            };
            expected.push((
                "accepted",
                Json::Arr(s.accepted.iter().map(|id| hx(id.0)).collect()),
            ));
            expected.push(("discarded", Json::Int(s.discarded)));
            expected.push(("fork", s.fork));
            Json::Obj(vec![
                ("envelope", hx(&s.entry.envelope)),
                ("body", s.entry.body.as_ref().map_or(Json::Null, hx)),
                ("now_ms", Json::Int(s.now_ms)),
                ("expected", Json::Obj(expected)),
            ])
        })
        .collect();
    let mut heads = end.heads;
    heads.sort();
    let mut gaps = end.gaps;
    gaps.sort();
    let expected = Json::Obj(vec![
        (
            "heads",
            Json::Arr(
                heads
                    .iter()
                    .map(|(author, seq, id)| {
                        Json::Obj(vec![
                            ("author", hx(author.0)),
                            ("seq", Json::Int(*seq)),
                            ("entry_id", hx(id.0)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("pending", Json::Int(end.pending.len() as u64)),
        (
            "pending_bytes",
            Json::Int(
                end.pending
                    .iter()
                    .map(|e| (e.envelope.len() + e.body.as_ref().map_or(0, Vec::len)) as u64)
                    .sum(),
            ),
        ),
        (
            "gaps",
            Json::Arr(
                gaps.iter()
                    .map(|(author, from, to)| {
                        Json::Obj(vec![
                            ("author", hx(author.0)),
                            ("from", Json::Int(*from)),
                            ("to", Json::Int(*to)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ]);
    vector(
        name,
        "sequence",
        description,
        vec![("steps", Json::Arr(steps))],
        expected,
    )
}

pub(super) fn chain_file(fx: &Fixture) -> Json {
    let a = Chain { fx, org: "anthropic" };
    let g = Chain { fx, org: "google" };
    let ak = fx.key("anthropic");
    let gk = fx.key("google");
    let log = a.log(4, "main");
    let fork = a.log(2, "fork");
    let now = T0 + 60 * MINUTE;
    let head = |entry: &Signed, seq: u64| (ak, seq, entry.id());
    let gap = ignore("gap");
    let mut vectors = vec![
        sequence(
            "in_order",
            "Three entries delivered in order are accepted one by one.",
            vec![
                step(&log[0], now, accept(), &[&log[0]]),
                step(&log[1], now, accept(), &[&log[1]]),
                step(&log[2], now, accept(), &[&log[2]]),
            ],
            Final {
                heads: vec![head(&log[2], 3)],
                pending: vec![],
                gaps: vec![],
            },
        ),
        sequence(
            "duplicate",
            "The same entry twice: the second delivery is ignored, also when it comes without its body.",
            vec![
                step(&log[0], now, accept(), &[&log[0]]),
                step(&log[0], now, ignore("duplicate"), &[]),
                step(
                    &Signed {
                        envelope: log[0].envelope.clone(),
                        body: None,
                    },
                    now,
                    ignore("duplicate"),
                    &[],
                ),
            ],
            Final {
                heads: vec![head(&log[0], 1)],
                pending: vec![],
                gaps: vec![],
            },
        ),
        sequence(
            "gap_then_drain",
            "Entries 3 and 4 arrive before 2 and are queued; 2 unblocks them and all three are accepted in order.",
            vec![
                step(&log[0], now, accept(), &[&log[0]]),
                step(&log[2], now, gap.clone_json(), &[]),
                step(&log[3], now, gap.clone_json(), &[]),
                step(&log[1], now, accept(), &[&log[1], &log[2], &log[3]]),
            ],
            Final {
                heads: vec![head(&log[3], 4)],
                pending: vec![],
                gaps: vec![],
            },
        ),
        sequence(
            "gap_reported",
            "Entry 4 arrives after 1: it is queued and seqs 2 to 3 are reported missing.",
            vec![
                step(&log[0], now, accept(), &[&log[0]]),
                step(&log[3], now, gap.clone_json(), &[]),
            ],
            Final {
                heads: vec![head(&log[0], 1)],
                pending: vec![log[3].clone()],
                gaps: vec![(ak, 2, 3)],
            },
        ),
        sequence(
            "duplicate_of_queued",
            "A queued entry delivered again is a duplicate.",
            vec![
                step(&log[0], now, accept(), &[&log[0]]),
                step(&log[2], now, gap.clone_json(), &[]),
                step(&log[2], now, ignore("duplicate"), &[]),
            ],
            Final {
                heads: vec![head(&log[0], 1)],
                pending: vec![log[2].clone()],
                gaps: vec![(ak, 2, 2)],
            },
        ),
    ];
    let early_now = T0;
    let too_early = a.entry(1, None, early_now + MAX_CLOCK_SKEW_MS + 1, "from the future");
    let at_bound = a.entry(1, None, early_now + MAX_CLOCK_SKEW_MS, "at the skew bound");
    vectors.push(sequence(
        "future_timestamp",
        "now_ms is T0. An entry stamped 300001 ms ahead is ignored; one stamped exactly 300000 ms ahead is accepted.",
        vec![
            step(&too_early, early_now, ignore("future_timestamp"), &[]),
            step(&at_bound, early_now, accept(), &[&at_bound]),
        ],
        Final {
            heads: vec![head(&at_bound, 1)],
            pending: vec![],
            gaps: vec![],
        },
    ));
    let regressed = a.entry(2, Some(log[0].id()), T0, "clock went backwards");
    let same_time = a.entry(2, Some(log[0].id()), T0 + MINUTE, "same millisecond");
    vectors.push(sequence(
        "timestamp_regressed",
        "Entry 2 stamped before entry 1 is rejected; an entry 2 stamped in the same millisecond as entry 1 is accepted.",
        vec![
            step(&log[0], now, accept(), &[&log[0]]),
            step(&regressed, now, reject("timestamp_regressed"), &[]),
            step(&same_time, now, accept(), &[&same_time]),
        ],
        Final {
            heads: vec![head(&same_time, 2)],
            pending: vec![],
            gaps: vec![],
        },
    ));
    let fork2 = a.entry(2, Some(log[0].id()), T0 + 2 * MINUTE, "a different entry 2");
    let mut with_accepted = step(&fork2, now, ignore("equivocation"), &[]);
    with_accepted.fork = Json::Obj(vec![
        ("type", text("with_accepted")),
        ("existing", hx(log[1].id().0)),
        ("proof", proof_hex(&log[1], &fork2, fx)),
    ]);
    vectors.push(sequence(
        "equivocation_with_accepted",
        "A second, different entry 2 after entry 2 was accepted: ignored, and the fork names the accepted entry. \
         The proof is what EquivocationProof::new builds from the stored entry and the incoming one.",
        vec![
            step(&log[0], now, accept(), &[&log[0]]),
            step(&log[1], now, accept(), &[&log[1]]),
            with_accepted,
        ],
        Final {
            heads: vec![head(&log[1], 2)],
            pending: vec![],
            gaps: vec![],
        },
    ));
    let fork3 = a.entry(3, Some(log[1].id()), T0 + 3 * MINUTE, "a different entry 3");
    let mut in_queue = step(&fork3, now, ignore("equivocation"), &[]);
    in_queue.fork = Json::Obj(vec![
        ("type", text("proven")),
        ("proof", proof_hex(&log[2], &fork3, fx)),
    ]);
    vectors.push(sequence(
        "equivocation_in_queue",
        "Two different entries 3 while both wait for entry 2: the validator holds both and proves the fork itself.",
        vec![
            step(&log[0], now, accept(), &[&log[0]]),
            step(&log[2], now, gap.clone_json(), &[]),
            in_queue,
        ],
        Final {
            heads: vec![head(&log[0], 1)],
            pending: vec![log[2].clone()],
            gaps: vec![(ak, 2, 2)],
        },
    ));
    let resigned2 = fx.resign("anthropic", &log[1], "vectors/nonce/chain-accepted");
    let mut resigned_accepted = step(&resigned2, now, ignore("equivocation"), &[]);
    resigned_accepted.fork = Json::Obj(vec![
        ("type", text("with_accepted")),
        ("existing", hx(log[1].id().0)),
        ("proof", proof_hex(&log[1], &resigned2, fx)),
    ]);
    vectors.push(sequence(
        "equivocation_same_header_with_accepted",
        "Entry 2's header signed a second time with another nonce, after entry 2 was accepted: a different \
         entry id for the same position is equivocation, and the two envelopes are a proof.",
        vec![
            step(&log[0], now, accept(), &[&log[0]]),
            step(&log[1], now, accept(), &[&log[1]]),
            resigned_accepted,
        ],
        Final {
            heads: vec![head(&log[1], 2)],
            pending: vec![],
            gaps: vec![],
        },
    ));
    let resigned3 = fx.resign("anthropic", &log[2], "vectors/nonce/chain-queued");
    let mut resigned_queued = step(&resigned3, now, ignore("equivocation"), &[]);
    resigned_queued.fork = Json::Obj(vec![
        ("type", text("proven")),
        ("proof", proof_hex(&log[2], &resigned3, fx)),
    ]);
    vectors.push(sequence(
        "equivocation_same_header_in_queue",
        "Entry 3 and its header signed again with another nonce, both while waiting for entry 2: the validator \
         proves the fork itself.",
        vec![
            step(&log[0], now, accept(), &[&log[0]]),
            step(&log[2], now, gap.clone_json(), &[]),
            resigned_queued,
        ],
        Final {
            heads: vec![head(&log[0], 1)],
            pending: vec![log[2].clone()],
            gaps: vec![(ak, 2, 2)],
        },
    ));
    let stray = a.entry(
        2,
        Some(Hash32::of(b"some other entry")),
        T0 + 2 * MINUTE,
        "stray branch",
    );
    vectors.push(sequence(
        "prev_mismatch",
        "Entry 2 linking to something other than the accepted entry 1 is ignored.",
        vec![
            step(&log[0], now, accept(), &[&log[0]]),
            step(&stray, now, ignore("prev_mismatch"), &[]),
        ],
        Final {
            heads: vec![head(&log[0], 1)],
            pending: vec![],
            gaps: vec![],
        },
    ));
    // fork[0] differs from log[0] only by title, so fork[2] links to fork[1].
    let branch3 = a.entry(3, Some(fork[1].id()), T0 + 3 * MINUTE, "branch entry 3");
    let mut drained = step(&log[1], now, accept(), &[&log[1]]);
    drained.discarded = 1;
    vectors.push(sequence(
        "drain_discards_other_branch",
        "A queued entry 3 that links to another branch's entry 2 is dropped when the real entry 2 arrives.",
        vec![
            step(&log[0], now, accept(), &[&log[0]]),
            step(&branch3, now, gap.clone_json(), &[]),
            drained,
        ],
        Final {
            heads: vec![head(&log[1], 2)],
            pending: vec![],
            gaps: vec![],
        },
    ));
    let early3 = a.entry(3, Some(log[1].id()), T0 + MINUTE + 1, "stamped before entry 2");
    let mut drained = step(&log[1], now, accept(), &[&log[1]]);
    drained.discarded = 1;
    vectors.push(sequence(
        "drain_discards_regressed_timestamp",
        "A queued entry 3 stamped before entry 2 is dropped (not rejected) when entry 2 arrives.",
        vec![
            step(&log[0], now, accept(), &[&log[0]]),
            step(&early3, now, gap.clone_json(), &[]),
            drained,
        ],
        Final {
            heads: vec![head(&log[1], 2)],
            pending: vec![],
            gaps: vec![],
        },
    ));
    let edge = 1 + 1 + MAX_GAP_WINDOW;
    let at_window = a.entry(
        edge,
        Some(Hash32::of(b"far")),
        T0 + 2 * MINUTE,
        "at the gap window",
    );
    let beyond = a.entry(
        edge + 1,
        Some(Hash32::of(b"far")),
        T0 + 2 * MINUTE,
        "beyond the gap window",
    );
    vectors.push(sequence(
        "gap_window",
        "After entry 1 the next seq is 2: seq 4098 (4096 ahead) is queued, seq 4099 is too far ahead.",
        vec![
            step(&log[0], now, accept(), &[&log[0]]),
            step(&beyond, now, ignore("too_far_ahead"), &[]),
            step(&at_window, now, gap.clone_json(), &[]),
        ],
        Final {
            heads: vec![head(&log[0], 1)],
            pending: vec![at_window.clone()],
            gaps: vec![(ak, 2, edge - 1)],
        },
    ));
    let relayed4 = Signed {
        envelope: log[3].envelope.clone(),
        body: None,
    };
    vectors.push(sequence(
        "pending_bytes",
        "Entry 3 with its body and entry 4 relayed without one wait for entry 2: the queue's bytes are both \
         envelopes plus entry 3's body (MAX_PENDING_BYTES_PER_AUTHOR and MAX_PENDING_BYTES bound them).",
        vec![
            step(&log[0], now, accept(), &[&log[0]]),
            step(&log[2], now, gap.clone_json(), &[]),
            step(&relayed4, now, gap.clone_json(), &[]),
        ],
        Final {
            heads: vec![head(&log[0], 1)],
            pending: vec![log[2].clone(), relayed4.clone()],
            gaps: vec![(ak, 2, 2)],
        },
    ));
    let glog = g.log(2, "google");
    vectors.push(sequence(
        "two_authors",
        "Two authors' chains are independent: google's entry 2 waits for google's entry 1 only.",
        vec![
            step(&log[0], now, accept(), &[&log[0]]),
            step(&glog[1], now, gap.clone_json(), &[]),
            step(&log[1], now, accept(), &[&log[1]]),
            step(&glog[0], now, accept(), &[&glog[0], &glog[1]]),
        ],
        Final {
            heads: vec![head(&log[1], 2), (gk, 2, glog[1].id())],
            pending: vec![],
            gaps: vec![],
        },
    ));

    file(
        "Chain validation: sequences of entries, each verified statelessly (every step's entry is valid) and then \
         ingested in order into one fresh ChainValidator at the step's now_ms.",
        vec![("network", text(NETWORK)), ("roster", fx.roster_hex())],
        vectors,
    )
}
