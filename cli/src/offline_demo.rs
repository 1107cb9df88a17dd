//! `riskmesh demo --offline`: a walk-through of the protocol on one machine
//! with no network — a seven-member consortium with two observers publishes
//! entries of every tier and kind, a fresh receiver validates them delivered
//! out of order, and forgeries, equivocation and roster changes meet their
//! rules. Every step is checked; the command fails if any check does.

use anyhow::{Context, Result, bail, ensure};
use riskmesh_node::sealed;
use riskmesh_protocol::body::{AckBody, AckStatus, RetractionBody};
use riskmesh_protocol::entry::{Header, sign_header};
use riskmesh_protocol::keys::{EncryptionSecret, OrgSecrets, OrgSigningKey};
use riskmesh_protocol::redaction::{self, Redaction, ReleasePolicy, WithheldField};
use riskmesh_protocol::roster::{Policy, Role, RosterDoc, SignedRoster};
use riskmesh_protocol::testkit::{self, OBSERVERS, SIGNATORIES};
use riskmesh_protocol::*;
use std::time::{SystemTime, UNIX_EPOCH};

/// One published entry, for the summary table.
struct Row {
    author: String,
    entry: VerifiedEntry,
    title: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn fresh_org(org: &str) -> OrgSecrets {
    OrgSecrets {
        org: org.to_string(),
        signing: OrgSigningKey::from_seed(rand::random()),
        encryption: EncryptionSecret::from_seed(rand::random()),
    }
}

struct Consortium {
    orgs: Vec<OrgSecrets>,
    roster: Roster,
    logs: Vec<LogWriter>,
}

impl Consortium {
    fn index(&self, org: &str) -> usize {
        self.orgs.iter().position(|o| o.org == org).unwrap_or(0)
    }

    fn key(&self, org: &str) -> OrgKey {
        self.orgs[self.index(org)].signing.public()
    }

    fn publish(&mut self, org: &str, draft: &Draft, now: u64) -> Result<VerifiedEntry> {
        let i = self.index(org);
        self.logs[i]
            .append(&self.orgs[i].signing, &self.roster, draft, now)
            .with_context(|| format!("{org} could not publish"))
    }
}

fn step(n: u32, text: &str) {
    println!("\n[{n}] {text}");
}

fn check(ok: bool, text: &str) -> Result<()> {
    ensure!(ok, "check failed: {text}");
    println!("    ok  {text}");
    Ok(())
}

/// Runs the offline demo.
pub fn run() -> Result<()> {
    println!("riskmesh offline demo: the protocol end to end on this machine, no network");
    let start = now_ms();

    step(
        1,
        "Keys: each organization draws an Ed25519 signing key and an X25519 (age) encryption key",
    );
    let mut orgs: Vec<OrgSecrets> = SIGNATORIES
        .iter()
        .chain(OBSERVERS.iter())
        .map(|o| fresh_org(o))
        .collect();
    orgs.sort_by(|a, b| a.org.cmp(&b.org));
    for o in &orgs {
        let role = if OBSERVERS.contains(&o.org.as_str()) {
            "observer"
        } else {
            "member"
        };
        println!(
            "    {:<17} {:<8} {}…  {}…",
            o.org,
            role,
            &o.signing.public().to_hex()[..16],
            &o.encryption.public().to_age_recipient()[..20]
        );
    }

    step(2, "Genesis roster: version 1, signed by every founding member");
    let doc = RosterDoc {
        network: testkit::NETWORK.into(),
        version: 1,
        prev: None,
        members: orgs
            .iter()
            .map(|o| {
                testkit::member_of(
                    o,
                    if OBSERVERS.contains(&o.org.as_str()) {
                        Role::Observer
                    } else {
                        Role::Member
                    },
                )
            })
            .collect(),
        policy: Policy::default(),
        created_ms: start,
        retired: None,
    };
    let mut unsigned = SignedRoster::new(&doc);
    for o in orgs
        .iter()
        .filter(|o| SIGNATORIES.contains(&o.org.as_str()))
        .take(6)
    {
        unsigned.sign(&o.signing);
    }
    check(
        Roster::genesis(&unsigned).is_err(),
        "genesis with 6 of 7 founder signatures is refused",
    )?;
    let mut signed = unsigned.clone();
    for o in orgs.iter().filter(|o| SIGNATORIES.contains(&o.org.as_str())) {
        signed.sign(&o.signing);
    }
    let roster = Roster::genesis(&signed)?;
    check(
        true,
        &format!(
            "genesis accepted with 7 of 7; nodes pin its hash {}",
            &roster.hash().to_hex()[..16]
        ),
    )?;
    let logs = orgs.iter().map(|_| LogWriter::new(testkit::NETWORK)).collect();
    let mut c = Consortium { orgs, roster, logs };

    step(3, "Publishing: every tier and kind");
    let mut rows: Vec<Row> = Vec::new();
    let t = start;
    let public = testkit::sample_bulletin("Multi-turn role-play jailbreak bypasses refusals");
    let e = c.publish(
        "anthropic",
        &Draft {
            kind: Kind::Bulletin,
            tier: Tier::Public,
            body: Body::Bulletin(public.clone()),
            recipients: None,
        },
        t,
    )?;
    let jailbreak = e.id();
    rows.push(Row {
        author: "anthropic".into(),
        entry: e,
        title: public.title.clone(),
    });

    let mut consortium = testkit::sample_bulletin("Weights exfiltration attempt via build pipeline");
    consortium.category = Some(Category::ModelWeightsSecurity);
    consortium.commitments = vec![3];
    let e = c.publish(
        "google",
        &Draft {
            kind: Kind::Bulletin,
            tier: Tier::Consortium,
            body: Body::Bulletin(consortium.clone()),
            recipients: None,
        },
        t + 1,
    )?;
    rows.push(Row {
        author: "google".into(),
        entry: e,
        title: consortium.title.clone(),
    });

    let mut restricted = testkit::sample_bulletin("Evaluation evasion seen in agentic scaffold");
    restricted.category = Some(Category::DeceptionManipulation);
    restricted.details = "CANARY-RESTRICTED: the agent detects the eval harness by its file layout".into();
    let recipients = [c.key("anthropic"), c.key("google")];
    let recipient_keys: Vec<EncryptionKey> = recipients
        .iter()
        .filter_map(|k| c.roster.member(k).map(|m| m.encryption()))
        .collect();
    let sealed_body = sealed::seal(&recipient_keys, &riskmesh_protocol::cbor::encode(&restricted))?;
    let e = c.publish(
        "openai",
        &Draft {
            kind: Kind::Bulletin,
            tier: Tier::Restricted,
            body: Body::Encrypted(sealed_body),
            recipients: Some(recipients.to_vec()),
        },
        t + 2,
    )?;
    let restricted_entry = e.clone();
    rows.push(Row {
        author: "openai".into(),
        entry: e,
        title: "(encrypted to anthropic, google)".into(),
    });

    let mut hazard = testkit::sample_bulletin("Model provides meaningful uplift for pathogen enhancement");
    hazard.category = Some(Category::Bio);
    hazard.severity = Some(Severity::Critical);
    hazard.details = "CANARY-HAZARD: step-by-step protocol that must never be gossiped".into();
    hazard.commitments = vec![1, 4];
    let redaction = Redaction {
        fields: vec![WithheldField::References],
        sanitized_title: None,
        sanitized_summary: None,
        release: ReleasePolicy {
            observers_may_request: false,
            approvers: vec![c.key("meta"), c.key("anthropic")],
            threshold: 2,
        },
    };
    let salts: [[u8; 32]; 5] = rand::random();
    let (redacted, reveals) = redaction::redact(&hazard, &redaction, &salts);
    let e = c.publish(
        "meta",
        &Draft {
            kind: Kind::Bulletin,
            tier: Tier::Hazardous,
            body: Body::Bulletin(redacted.clone()),
            recipients: None,
        },
        t + 3,
    )?;
    let hazardous_entry = e.clone();
    rows.push(Row {
        author: "meta".into(),
        entry: e,
        title: redacted.title.clone(),
    });

    let ack = AckBody {
        target: jailbreak,
        status: AckStatus::Reproduced,
        note: "Reproduced on our chat model.".into(),
    };
    let e = c.publish(
        "microsoft",
        &Draft {
            kind: Kind::Ack,
            tier: Tier::Consortium,
            body: Body::Ack(ack),
            recipients: None,
        },
        t + 4,
    )?;
    rows.push(Row {
        author: "microsoft".into(),
        entry: e,
        title: "ack: reproduced".into(),
    });

    let mut corrected = public.clone();
    corrected.severity = Some(Severity::Critical);
    corrected.supersedes = Some(jailbreak);
    let e = c.publish(
        "anthropic",
        &Draft {
            kind: Kind::Correction,
            tier: Tier::Public,
            body: Body::Bulletin(corrected),
            recipients: None,
        },
        t + 5,
    )?;
    rows.push(Row {
        author: "anthropic".into(),
        entry: e,
        title: "correction: severity raised to critical".into(),
    });

    let mistaken = testkit::sample_bulletin("Mistaken report");
    let e = c.publish(
        "amazon",
        &Draft {
            kind: Kind::Bulletin,
            tier: Tier::Consortium,
            body: Body::Bulletin(mistaken),
            recipients: None,
        },
        t + 6,
    )?;
    let mistaken_id = e.id();
    rows.push(Row {
        author: "amazon".into(),
        entry: e,
        title: "Mistaken report".into(),
    });
    let retraction = RetractionBody {
        target: mistaken_id,
        reason: "Not reproducible.".into(),
        purge: true,
    };
    let e = c.publish(
        "amazon",
        &Draft {
            kind: Kind::Retraction,
            tier: Tier::Consortium,
            body: Body::Retraction(retraction),
            recipients: None,
        },
        t + 7,
    )?;
    rows.push(Row {
        author: "amazon".into(),
        entry: e,
        title: "retraction (purge)".into(),
    });

    let mut observed = testkit::sample_bulletin("Independent replication of the role-play jailbreak");
    observed.commitments = vec![2];
    let e = c.publish(
        "safety-institute",
        &Draft {
            kind: Kind::Bulletin,
            tier: Tier::Consortium,
            body: Body::Bulletin(observed.clone()),
            recipients: None,
        },
        t + 8,
    )?;
    rows.push(Row {
        author: "safety-institute".into(),
        entry: e,
        title: observed.title.clone(),
    });
    let observer_hazard = Draft {
        kind: Kind::Bulletin,
        tier: Tier::Hazardous,
        body: Body::Bulletin(redacted.clone()),
        recipients: None,
    };
    check(
        c.publish("academic-lab", &observer_hazard, t + 9).is_err(),
        "an observer may not publish at the hazardous tier",
    )?;

    println!(
        "\n    {:<17} {:>3}  {:<17} {:<11} {:<16} title",
        "author", "seq", "TLP", "kind", "id"
    );
    for row in &rows {
        let h = row.entry.header();
        println!(
            "    {:<17} {:>3}  {:<17} {:<11} {:<16} {}",
            row.author,
            h.seq,
            h.tier.tlp(),
            h.kind.name(),
            &row.entry.id().to_hex()[..16],
            row.title
        );
    }

    step(
        4,
        "A fresh receiver validates every entry, delivered in reverse order",
    );
    let mut receiver = ChainValidator::new();
    let mut accepted = 0;
    let mut gaps = 0;
    for row in rows.iter().rev() {
        let wire = WireEntry::from_bytes(&row.entry.to_wire().to_bytes())?;
        let verified = validate::verify_wire(c.roster_ref(), &wire)?;
        let report = receiver.ingest(verified, now_ms());
        if report.outcome == Outcome::Ignore(IgnoreReason::Gap) {
            gaps += 1;
        }
        accepted += report.accepted.len();
    }
    check(
        accepted == rows.len(),
        &format!(
            "{accepted} of {} accepted; {gaps} arrived before their predecessor and waited in the queue",
            rows.len()
        ),
    )?;
    check(receiver.pending_len() == 0, "nothing left waiting")?;

    step(5, "Restricted tier: only the named recipients can read the body");
    let ciphertext = restricted_entry.body().context("restricted body")?;
    let opened = sealed::open(&c.orgs[c.index("anthropic")].encryption, ciphertext)?;
    check(
        *opened == riskmesh_protocol::cbor::encode(&restricted),
        "anthropic (a recipient) decrypts it",
    )?;
    check(
        sealed::open(&c.orgs[c.index("meta")].encryption, ciphertext).is_err(),
        "meta (not a recipient) cannot",
    )?;
    check(
        !contains(restricted_entry.envelope(), b"CANARY") && !contains(ciphertext, b"CANARY"),
        "the plaintext appears nowhere on the wire",
    )?;

    step(
        6,
        "Hazardous tier: a redacted summary bound to withheld details by salted commitments",
    );
    let gossiped = hazardous_entry.to_wire().to_bytes();
    check(
        !contains(&gossiped, b"CANARY-HAZARD"),
        "the gossiped bytes contain none of the withheld details",
    )?;
    check(
        redaction::check_reveals(&redacted, &reveals).is_ok(),
        &format!(
            "the author's release of {} withheld fields matches the commitments",
            reveals.len()
        ),
    )?;
    let mut tampered = reveals.clone();
    tampered[0].value[4] ^= 1;
    check(
        redaction::check_reveals(&redacted, &tampered).is_err(),
        "a release with one byte changed is refused",
    )?;

    step(
        7,
        "Equivocation: inflection signs two different entries with seq 1",
    );
    let i = c.index("inflection");
    let mut fork = c.logs[i].clone();
    let a = c.publish(
        "inflection",
        &Draft {
            kind: Kind::Bulletin,
            tier: Tier::Public,
            body: Body::Bulletin(testkit::sample_bulletin("Version shown to half the network")),
            recipients: None,
        },
        t + 10,
    )?;
    let b = fork.append(
        &c.orgs[i].signing,
        &c.roster,
        &Draft {
            kind: Kind::Bulletin,
            tier: Tier::Public,
            body: Body::Bulletin(testkit::sample_bulletin("Version shown to the other half")),
            recipients: None,
        },
        t + 10,
    )?;
    receiver.ingest(a.clone(), now_ms());
    let report = receiver.ingest(b.clone(), now_ms());
    check(
        report.outcome == Outcome::Ignore(IgnoreReason::Equivocation),
        "the receiver notices the second version",
    )?;
    let proof = EquivocationProof::new(&a, &b)?;
    let bytes = proof.to_bytes();
    let (who, seq) = EquivocationProof::from_bytes(&bytes)?.verify(c.roster_ref())?;
    check(
        who == c.key("inflection") && seq == 1,
        &format!("a {}-byte proof convinces anyone holding the roster", bytes.len()),
    )?;

    step(
        8,
        "Roster change: adding an organization needs more than two thirds of members",
    );
    let newcomer = fresh_org("xai");
    let mut v2 = c.roster.doc().clone();
    v2.version = 2;
    v2.prev = Some(c.roster.hash());
    v2.members.push(testkit::member_of(&newcomer, Role::Member));
    v2.members.sort_by(|x, y| x.org.cmp(&y.org));
    let mut update = SignedRoster::new(&v2);
    let members: Vec<&OrgSecrets> = c
        .orgs
        .iter()
        .filter(|o| SIGNATORIES.contains(&o.org.as_str()))
        .collect();
    for o in &members[..4] {
        update.sign(&o.signing);
    }
    check(
        c.roster.apply_update(&update).is_err(),
        "4 of 7 signatures: refused",
    )?;
    update.sign(&members[4].signing);
    let next = c.roster.apply_update(&update)?;
    check(next.version() == 2, "5 of 7 signatures: version 2 accepted")?;
    c.roster = next;

    step(9, "Attacks are rejected with a reason");
    let good = rows[0].entry.clone();
    let mut forged = good.envelope().to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 0x80;
    expect_reject(
        c.roster_ref(),
        &forged,
        good.body(),
        "bad_signature",
        "a forged signature",
    )?;
    let outsider = fresh_org("intruder");
    let mut header: Header = good.header().clone();
    header.author = outsider.signing.public();
    let envelope = sign_header(&outsider.signing, &header);
    expect_reject(
        c.roster_ref(),
        &envelope,
        good.body(),
        "unknown_author",
        "an organization not on the roster",
    )?;
    let mut non_canonical = vec![0x98, 0x04];
    non_canonical.extend_from_slice(&good.envelope()[1..]);
    expect_reject(
        c.roster_ref(),
        &non_canonical,
        good.body(),
        "encoding",
        "a non-canonical re-encoding of a valid entry",
    )?;

    println!(
        "\nAll checks passed in {} ms. Next: run real nodes — see README.md.",
        now_ms().saturating_sub(start)
    );
    Ok(())
}

impl Consortium {
    fn roster_ref(&self) -> &Roster {
        &self.roster
    }
}

fn expect_reject(
    roster: &Roster,
    envelope: &[u8],
    body: Option<&[u8]>,
    reason: &str,
    what: &str,
) -> Result<()> {
    match verify_entry(roster, envelope, body) {
        Ok(_) => bail!("check failed: {what} was accepted"),
        Err(e) => check(e.name() == reason, &format!("{what}: REJECT {} ({e})", e.name())),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
