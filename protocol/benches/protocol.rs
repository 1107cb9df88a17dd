//! Protocol throughput on one core, measured in one run: entry encode and
//! decode, raw Ed25519 `verify_strict` (the limit every other figure is
//! compared with), full stateless verification, and chain validation with
//! entries delivered in order and shuffled.
//!
//! Run with `cargo bench -p riskmesh-protocol --bench protocol`. It is a plain
//! binary (no harness): each figure is the median of several timed runs after
//! a warm-up. `RISKMESH_BENCH_SEED` overrides the shuffle seed.

use ed25519_dalek::{Signature, VerifyingKey};
use riskmesh_protocol::cbor;
use riskmesh_protocol::entry::{Envelope, signing_input};
use riskmesh_protocol::testkit::{self, NETWORK, SIGNATORIES};
use riskmesh_protocol::{
    Body, ChainValidator, Draft, Hash32, Header, Kind, LogWriter, Outcome, Roster, Tier, VerifiedEntry,
    WireEntry, verify_entry,
};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timed runs per figure; the median is reported.
const RUNS: usize = 5;
/// Timed rounds of the chain comparison (more, since its ratios are the verdict).
const CHAIN_ROUNDS: usize = 9;
/// Wall time aimed at for one timed run of a per-operation figure.
const RUN_TARGET: Duration = Duration::from_millis(150);
/// Entries each author publishes for the chain benchmarks.
const ENTRIES_PER_AUTHOR: usize = 150;
/// Body size the bench aims at, in bytes.
const BODY_TARGET_BYTES: usize = 1024;
/// Chain throughput must reach this fraction of raw `verify_strict`.
const CHAIN_TARGET_RATIO: f64 = 0.8;
/// Default seed of the shuffled delivery order.
const DEFAULT_SEED: u64 = 0x5eed_2026_1129_0001;
/// Base of the fixture timestamps (Unix ms, November 2023).
const T0_MS: u64 = 1_700_000_000_000;

fn main() {
    let started = Instant::now();
    let consortium = testkit::signatories();
    let roster = &consortium.roster;
    let fixture = Fixture::build(&consortium);
    let seed = std::env::var("RISKMESH_BENCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);

    let sample = &fixture.entries[0];
    let wire = sample.to_wire();
    let wire_bytes = wire.to_bytes();
    let body = sample.body().expect("fixture entries carry bodies");
    let envelope = Envelope::parse(sample.envelope()).expect("fixture envelope parses");
    let sig_input = signing_input(envelope.protected, NETWORK, envelope.payload);
    let parsed_key = VerifyingKey::from_bytes(&envelope.kid.0).expect("fixture key is valid");
    let signature = Signature::from_bytes(&envelope.signature);

    println!("riskmesh-protocol bench: one core unless noted; median of {RUNS} runs after a warm-up");
    // Other processes compete for the cores; the load average tells the
    // reader how much to trust absolute figures (the chain ratios are
    // measured to withstand it).
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "load average at start (1/5/15 min): {}",
            load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        );
    }
    println!(
        "entry sizes: header {} B, envelope {} B, body {} B, wire entry {} B, Sig_structure {} B",
        envelope.payload.len(),
        sample.envelope().len(),
        body.len(),
        wire_bytes.len(),
        sig_input.len()
    );
    println!();

    // (b) The limit: raw verify_strict with the key already parsed.
    let raw =
        per_op(|| black_box(parsed_key.verify_strict(black_box(&sig_input), black_box(&signature))).is_ok());
    let raw_per_s = raw.per_second();

    let mut table = Table::new(raw_per_s);
    table.section("(a) encode / decode, per entry");
    table.row(
        "WireEntry::to_bytes (encode)",
        per_op(|| black_box(black_box(&wire).to_bytes())),
    );
    table.row(
        "WireEntry::from_bytes (scan + decode + re-encode check)",
        per_op(|| WireEntry::from_bytes(black_box(&wire_bytes)).is_ok()),
    );
    table.row(
        "Header::to_bytes",
        per_op(|| black_box(black_box(sample.header()).to_bytes())),
    );
    table.row(
        "Header decode_canonical",
        per_op(|| cbor::decode_canonical::<Header>(black_box(envelope.payload), usize::MAX).is_ok()),
    );

    table.section("(b) raw Ed25519 verify_strict = THE LIMIT");
    table.row("verify_strict, key pre-parsed (LIMIT)", raw);
    table.row(
        "keys::verify_strict (parses the key every call)",
        per_op(|| {
            riskmesh_protocol::keys::verify_strict(
                black_box(&envelope.kid),
                black_box(&sig_input),
                black_box(&envelope.signature),
            )
        }),
    );

    table.section("(c) stateless verification");
    let full = per_op(|| verify_entry(roster, black_box(sample.envelope()), black_box(Some(body))).is_ok());
    table.row("verify_entry (envelope + 1 KB body)", full);
    table.row(
        "verify_entry (envelope only, body purged)",
        per_op(|| verify_entry(roster, black_box(sample.envelope()), None).is_ok()),
    );

    table.section("    verify_entry by stage (each timed alone)");
    let stages = stage_breakdown(roster, sample, &sig_input, &parsed_key, &signature);
    let stage_sum: f64 = stages.iter().map(|(_, t)| t.ns).sum();
    for (name, timing) in stages {
        table.row(name, timing);
    }
    table.note(&format!(
        "stages sum to {stage_sum:.0} ns; verify_entry measured {:.0} ns (the rest, check_header and moves, \
         is within run-to-run noise)",
        full.ns
    ));

    table.section("(d) chain validation: verify_entry + ChainValidator::ingest");
    let total = fixture.entries.len();
    table.note(&format!(
        "{} authors x {ENTRIES_PER_AUTHOR} entries = {total} entries per run",
        SIGNATORIES.len()
    ));
    table.note("one raw verify_strict is timed just before each entry, so the ratio to raw holds");
    table.note("even when other processes load the machine (median of per-round ratios)");
    let in_order = fixture.round_robin_order();
    let shuffled = shuffled(total, seed);
    let raw_parts = (&parsed_key, sig_input.as_slice(), &signature);
    let chain_in_order = chain_rounds(roster, &fixture, &in_order, raw_parts);
    let chain_shuffled = chain_rounds(roster, &fixture, &shuffled, raw_parts);
    table.row("in order (round-robin over authors)", chain_in_order.chain);
    table.row("  raw verify_strict timed alongside", chain_in_order.raw);
    table.row(
        &format!("shuffled (xorshift64*, seed {seed:#x})"),
        chain_shuffled.chain,
    );
    table.row("  raw verify_strict timed alongside", chain_shuffled.raw);
    table.row(
        "ingest only, in order (pre-verified)",
        ingest_run(&fixture, &in_order),
    );
    table.row(
        "ingest only, shuffled (pre-verified)",
        ingest_run(&fixture, &shuffled),
    );

    table.section("(e) batch verification");
    table.note("not used by the protocol: every entry is checked alone with verify_strict,");
    table.note("so one bad signature never needs a fallback pass and the outcome is per entry");
    table.print();

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let multi = raw_multi_core(threads, &parsed_key, &sig_input, &signature, raw);
    println!();
    println!("================================================================================");
    println!(
        "  LIMIT  raw verify_strict, 1 core : {:>9.0} verifications/s ({:.1} us each)",
        raw_per_s,
        raw.ns / 1000.0
    );
    println!(
        "         raw verify_strict, {threads} cores: {:>9.0} verifications/s ({:.2}x one core)",
        multi,
        multi / raw_per_s
    );
    for (label, figures) in [("in order", chain_in_order), ("shuffled", chain_shuffled)] {
        let ratio = figures.ratio;
        let verdict = if ratio >= CHAIN_TARGET_RATIO {
            "PASS"
        } else {
            "FAIL"
        };
        println!(
            "  chain {label:<8}: {:>6.0} entries/s; / raw verify = {ratio:.2} median, {:.2} best round; \
             target >= {CHAIN_TARGET_RATIO}: {verdict}",
            figures.chain.per_second(),
            figures.best_ratio
        );
    }
    println!("================================================================================");
    println!("total bench time {:.1} s", started.elapsed().as_secs_f64());
}

/// Signed entries of every signatory, plus their per-author chains.
struct Fixture {
    /// All entries, author-major: author `a`'s entry `i` is at `a * ENTRIES_PER_AUTHOR + i`.
    entries: Vec<VerifiedEntry>,
    /// Receiver clock at ingest: after every fixture timestamp.
    now_ms: u64,
}

impl Fixture {
    fn build(consortium: &testkit::Consortium) -> Fixture {
        let body = Body::Bulletin(padded_bulletin());
        let draft = Draft {
            kind: Kind::Bulletin,
            tier: Tier::Consortium,
            body,
            recipients: None,
        };
        let mut entries = Vec::with_capacity(SIGNATORIES.len() * ENTRIES_PER_AUTHOR);
        for org in SIGNATORIES {
            let key = &consortium.org(org).signing;
            let mut log = LogWriter::new(NETWORK);
            for i in 0..ENTRIES_PER_AUTHOR {
                let now = T0_MS + i as u64 * 1000;
                let entry = log
                    .append(key, &consortium.roster, &draft, now)
                    .expect("fixture entry verifies");
                entries.push(entry);
            }
        }
        Fixture {
            entries,
            now_ms: T0_MS + ENTRIES_PER_AUTHOR as u64 * 1000,
        }
    }

    /// Each author's entries in seq order, authors interleaved.
    fn round_robin_order(&self) -> Vec<usize> {
        (0..ENTRIES_PER_AUTHOR)
            .flat_map(|i| (0..SIGNATORIES.len()).map(move |a| a * ENTRIES_PER_AUTHOR + i))
            .collect()
    }
}

/// The sample bulletin with its details grown until the body is about 1 KB.
fn padded_bulletin() -> riskmesh_protocol::BulletinBody {
    let mut bulletin = testkit::sample_bulletin("Multi-turn role-play bypasses refusal training");
    let filler = " Each turn looks harmless alone; the sequence is not.";
    while Body::Bulletin(bulletin.clone()).to_bytes().len() < BODY_TARGET_BYTES {
        bulletin.details.push_str(filler);
    }
    bulletin
}

/// A seeded Fisher–Yates shuffle of `0..n` (xorshift64*; no dependency).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// One figure: median nanoseconds per operation.
#[derive(Clone, Copy)]
struct Timing {
    ns: f64,
}

impl Timing {
    fn per_second(self) -> f64 {
        1e9 / self.ns
    }
}

/// Times `op` per call: a warm-up that also sizes the runs, then `RUNS` runs.
fn per_op<R>(mut op: impl FnMut() -> R) -> Timing {
    let warm_start = Instant::now();
    let mut warm_iters = 0u64;
    while warm_start.elapsed() < RUN_TARGET / 2 {
        black_box(op());
        warm_iters += 1;
    }
    let per_iter = warm_start.elapsed().as_secs_f64() / warm_iters as f64;
    let iters = ((RUN_TARGET.as_secs_f64() / per_iter) as u64).max(10);
    let samples = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(op());
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    Timing { ns: median(samples) }
}

/// Times whole runs of `run`, which processes `count` items, after one
/// warm-up run; returns the median per item.
fn per_item(count: usize, mut run: impl FnMut() -> Duration) -> Timing {
    black_box(run());
    let samples = (0..RUNS)
        .map(|_| run().as_nanos() as f64 / count as f64)
        .collect();
    Timing { ns: median(samples) }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The stages of `verify_entry`, timed one by one through public API.
fn stage_breakdown(
    roster: &Roster,
    entry: &VerifiedEntry,
    sig_input: &[u8],
    parsed_key: &VerifyingKey,
    signature: &Signature,
) -> Vec<(&'static str, Timing)> {
    let envelope_bytes = entry.envelope();
    let body = entry.body().expect("fixture entries carry bodies");
    let header = entry.header();
    let parsed = Envelope::parse(envelope_bytes).expect("fixture envelope parses");
    vec![
        (
            "1 Envelope::parse (canonical scan + split)",
            per_op(|| Envelope::parse(black_box(envelope_bytes)).is_ok()),
        ),
        (
            "2 Roster::member (linear scan of 9)",
            per_op(|| roster.member(black_box(&parsed.kid)).is_some()),
        ),
        (
            "3 signing_input (Sig_structure alloc + copy)",
            per_op(|| {
                black_box(signing_input(
                    black_box(parsed.protected),
                    roster.network(),
                    parsed.payload,
                ))
            }),
        ),
        (
            "4 VerifyingKey::from_bytes (decompress key)",
            per_op(|| VerifyingKey::from_bytes(black_box(&parsed.kid.0)).is_ok()),
        ),
        (
            "5 verify_strict, key pre-parsed",
            per_op(|| {
                parsed_key
                    .verify_strict(black_box(sig_input), black_box(signature))
                    .is_ok()
            }),
        ),
        (
            "6 Header decode_canonical (scan+decode+re-encode)",
            per_op(|| cbor::decode_canonical::<Header>(black_box(parsed.payload), usize::MAX).is_ok()),
        ),
        (
            "7 SHA-256 of body (body_hash check)",
            per_op(|| black_box(Hash32::of(black_box(body)))),
        ),
        (
            "8 Body::decode (scan+decode+re-encode+rules)",
            per_op(|| Body::decode(header.kind, header.tier, black_box(body)).is_ok()),
        ),
        (
            "9 SHA-256 of envelope (entry id)",
            per_op(|| black_box(Hash32::of(black_box(envelope_bytes)))),
        ),
        (
            "10 Arc copies of envelope and body",
            per_op(|| {
                let e: Arc<[u8]> = Arc::from(black_box(envelope_bytes));
                let b: Arc<[u8]> = Arc::from(black_box(body));
                black_box((e, b))
            }),
        ),
    ]
}

/// Chain validation figures for one delivery order, with the raw
/// verification timed alongside them.
#[derive(Clone, Copy)]
struct ChainFigures {
    /// verify_entry + ingest, per entry.
    chain: Timing,
    /// Raw verify_strict, timed interleaved with the chain work.
    raw: Timing,
    /// Median over rounds of raw time / chain time.
    ratio: f64,
    /// The best round's raw time / chain time: the least disturbed by other
    /// processes, so the closest to the intrinsic cost.
    best_ratio: f64,
}

/// verify_entry + ingest of every fixture entry in `order` (a fresh validator
/// each round), with one raw verify_strict timed just before each entry, so
/// load from other processes hits both sides alike and the ratio holds on a
/// busy machine. One warm-up round, then `CHAIN_ROUNDS` timed rounds. Panics
/// if an entry fails to join its chain: the figure would lie.
fn chain_rounds(
    roster: &Roster,
    fixture: &Fixture,
    order: &[usize],
    (key, message, signature): (&VerifyingKey, &[u8], &Signature),
) -> ChainFigures {
    let inputs: Vec<(&[u8], &[u8])> = fixture
        .entries
        .iter()
        .map(|e| (e.envelope(), e.body().expect("fixture entries carry bodies")))
        .collect();
    let n = order.len() as f64;
    let mut rounds = Vec::with_capacity(CHAIN_ROUNDS);
    for round in 0..=CHAIN_ROUNDS {
        let mut chain = ChainValidator::new();
        let (mut raw_time, mut chain_time) = (Duration::ZERO, Duration::ZERO);
        let mut accepted = 0;
        for &i in order {
            let (envelope, body) = inputs[i];
            let t0 = Instant::now();
            black_box(
                key.verify_strict(black_box(message), black_box(signature))
                    .is_ok(),
            );
            let t1 = Instant::now();
            let verified = verify_entry(roster, black_box(envelope), Some(body)).expect("fixture verifies");
            let report = chain.ingest(verified, fixture.now_ms);
            accepted += report.accepted.len();
            black_box(&report);
            let t2 = Instant::now();
            raw_time += t1 - t0;
            chain_time += t2 - t1;
        }
        assert_eq!(accepted, order.len(), "every entry must join its chain");
        assert_eq!(chain.pending_len(), 0);
        if round > 0 {
            rounds.push((raw_time.as_nanos() as f64 / n, chain_time.as_nanos() as f64 / n));
        }
    }
    ChainFigures {
        chain: Timing {
            ns: median(rounds.iter().map(|r| r.1).collect()),
        },
        raw: Timing {
            ns: median(rounds.iter().map(|r| r.0).collect()),
        },
        ratio: median(rounds.iter().map(|r| r.0 / r.1).collect()),
        best_ratio: rounds.iter().map(|r| r.0 / r.1).fold(0.0, f64::max),
    }
}

/// ingest alone, of entries verified beforehand (cloned outside the timing).
fn ingest_run(fixture: &Fixture, order: &[usize]) -> Timing {
    per_item(order.len(), || {
        let batch: Vec<VerifiedEntry> = order.iter().map(|&i| fixture.entries[i].clone()).collect();
        let mut chain = ChainValidator::new();
        let mut accepted = 0;
        let start = Instant::now();
        for entry in batch {
            let report = chain.ingest(entry, fixture.now_ms);
            if matches!(report.outcome, Outcome::Reject(_)) {
                panic!("fixture entry rejected by the chain");
            }
            accepted += report.accepted.len();
            black_box(&report);
        }
        let elapsed = start.elapsed();
        assert_eq!(accepted, order.len(), "every entry must join its chain");
        elapsed
    })
}

/// Raw verify_strict on `threads` threads at once; returns verifications/s.
fn raw_multi_core(
    threads: usize,
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
    single: Timing,
) -> f64 {
    let per_thread = ((RUN_TARGET.as_secs_f64() * 2.0 * 1e9 / single.ns) as usize).max(10);
    let run = || {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    for _ in 0..per_thread {
                        black_box(
                            key.verify_strict(black_box(message), black_box(signature))
                                .is_ok(),
                        );
                    }
                });
            }
        });
        start.elapsed()
    };
    let timing = per_item(threads * per_thread, run);
    timing.per_second()
}

/// The printed table: one line per figure, with its ratio to the limit.
struct Table {
    limit_per_s: f64,
    lines: Vec<String>,
}

impl Table {
    fn new(limit_per_s: f64) -> Table {
        let mut lines = vec![format!(
            "{:<56} {:>11} {:>12} {:>9}",
            "measurement", "ns/op", "ops/s", "vs LIMIT"
        )];
        lines.push("-".repeat(91));
        Table { limit_per_s, lines }
    }

    fn section(&mut self, title: &str) {
        self.lines.push(title.to_string());
    }

    fn row(&mut self, name: &str, timing: Timing) {
        self.lines.push(format!(
            "  {:<54} {:>11.0} {:>12.0} {:>8.2}x",
            name,
            timing.ns,
            timing.per_second(),
            timing.per_second() / self.limit_per_s
        ));
    }

    fn note(&mut self, text: &str) {
        self.lines.push(format!("    {text}"));
    }

    fn print(&self) {
        for line in &self.lines {
            println!("{line}");
        }
    }
}
