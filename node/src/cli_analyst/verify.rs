//! `riskmesh verify`: re-verify the whole local database offline, with the
//! node running or stopped. Every entry's signature and body against the
//! roster (genesis from the config, updates from the database), every
//! author's chain (seq contiguous from 1, each `prev` the id before it,
//! timestamps never going back), stored fields against the signed header,
//! hazardous bodies' commitment structure, purges honoured, and every stored
//! equivocation proof. Exits non-zero listing each problem.

use super::{CliError, emit, emit_json};
use crate::client::{config_base, read_config};
use crate::config::DB_FILE;
use crate::config_file::read_capped;
use crate::store::{Store, StoredEntry};
use riskmesh_protocol::limits::MAX_ROSTER_BYTES;
use riskmesh_protocol::validate::RejectReason;
use riskmesh_protocol::{EntryId, Hash32, OrgKey, Roster, SignedRoster, Tier, VerifiedEntry};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Most problems kept for the report; the count goes on beyond it.
pub const MAX_REPORTED_PROBLEMS: usize = 1000;

/// Long help of `riskmesh verify`.
pub const VERIFY_LONG_ABOUT: &str = "Re-verify the whole local database offline, reading it directly \
    (the node may be running or stopped): every entry's signature and body against the roster (the \
    pinned genesis from the config plus stored updates), every author's chain (seq contiguous from 1, \
    each prev the id before it, timestamps never going back), stored fields against the signed \
    header, hazardous bodies' commitment structure, purges honoured, and every stored equivocation \
    proof. Lists each problem and exits non-zero if there is any.";

/// Arguments of `riskmesh verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The node's config file (for the pinned genesis roster and the data directory).
    #[arg(
        long,
        env = "RISKMESH_CONFIG",
        default_value = "config.toml",
        value_name = "PATH"
    )]
    pub config: PathBuf,
    /// Data directory, replacing the config's `data_dir`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print the report as JSON (still exits non-zero on problems).
    #[arg(long)]
    pub json: bool,
}

/// One thing wrong in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The entry concerned, hex, if any.
    pub entry: Option<String>,
    /// Its author (org id, or key hex), if known.
    pub author: Option<String>,
    /// Its seq, if known.
    pub seq: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// What `verify` checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The database file.
    pub database: PathBuf,
    /// Roster versions applied (genesis = 1).
    pub roster_version: u64,
    /// Entries checked.
    pub entries: u64,
    /// Authors with entries.
    pub authors: u64,
    /// Bodies present and checked against their header.
    pub bodies: u64,
    /// Entries whose body was purged by their author.
    pub purged: u64,
    /// Entries whose body this node never received (not a fault).
    pub bodies_missing: u64,
    /// Restricted entries (ciphertext checked against the header only).
    pub restricted: u64,
    /// Hazardous entries whose redacted body and commitments were checked.
    pub hazardous: u64,
    /// Stored equivocation proofs checked.
    pub equivocations: u64,
    /// Total problems found.
    pub problem_count: u64,
    /// The first [`MAX_REPORTED_PROBLEMS`] problems.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    fn problem(&mut self, entry: Option<EntryId>, author: Option<String>, seq: Option<u64>, message: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(Problem {
                entry: entry.map(|e| e.to_hex()),
                author,
                seq,
                message,
            });
        }
    }
}

/// The roster versions in force over the database's history, oldest first:
/// the genesis and every stored update that follows it. An update that does
/// not follow is a problem, and later ones are not applied.
pub fn rosters(genesis: Roster, store: &Store, report: &mut VerifyReport) -> Vec<Roster> {
    let mut chain = vec![genesis];
    let stored = match store.load_rosters() {
        Ok(s) => s,
        Err(e) => {
            report.problem(
                None,
                None,
                None,
                format!("cannot read stored roster versions: {e}"),
            );
            return chain;
        }
    };
    for signed in stored {
        let Some(current) = chain.last() else { break };
        let version = match signed.document() {
            Ok(doc) => doc.version,
            Err(e) => {
                report.problem(
                    None,
                    None,
                    None,
                    format!("a stored roster version does not decode: {e}"),
                );
                break;
            }
        };
        if version <= current.version() {
            if version == current.version() && signed.doc != current.signed().doc {
                report.problem(
                    None,
                    None,
                    None,
                    format!("stored roster version {version} differs from the one in force"),
                );
            }
            continue;
        }
        match current.apply_update(&signed) {
            Ok(next) => chain.push(next),
            Err(e) => {
                report.problem(
                    None,
                    None,
                    None,
                    format!(
                        "stored roster version {version} does not follow version {}: {e}",
                        current.version()
                    ),
                );
                break;
            }
        }
    }
    report.roster_version = chain.last().map_or(0, Roster::version);
    chain
}

/// Verifies an entry against the newest roster version whose verdict is
/// not "unknown author" (a removed member's entries verify against the
/// versions it was on).
fn verify_any(rosters: &[Roster], entry: &StoredEntry) -> Result<VerifiedEntry, RejectReason> {
    let mut last = None;
    for roster in rosters.iter().rev() {
        match entry.verify(roster) {
            Ok(verified) => return Ok(verified),
            Err(RejectReason::UnknownAuthor(key)) => {
                last.get_or_insert(RejectReason::UnknownAuthor(key));
            }
            Err(other) => return Err(other),
        }
    }
    Err(last.unwrap_or(RejectReason::BadSignature))
}

/// Where an author's chain stands while scanning.
struct ChainPosition {
    author: OrgKey,
    seq: u64,
    id: EntryId,
    timestamp_ms: u64,
}

/// Checks every entry, chain and proof in `store` against `rosters`.
pub fn verify_store(store: &Store, rosters: &[Roster], report: &mut VerifyReport) {
    let org_of = |key: &OrgKey| {
        rosters
            .iter()
            .rev()
            .find_map(|r| r.member(key).map(|m| m.org.clone()))
            .unwrap_or_else(|| key.to_hex())
    };
    let mut position: Option<ChainPosition> = None;
    for item in store.all_entries() {
        let stored = match item {
            Ok(stored) => stored,
            Err(e) => {
                report.problem(None, None, None, format!("reading the database failed: {e}"));
                return;
            }
        };
        report.entries += 1;
        let meta = &stored.meta;
        let author = org_of(&meta.author);
        let mut found: Vec<String> = Vec::new();
        let mut problem = |message: String| found.push(message);
        if Hash32::of(&stored.envelope) != meta.id {
            problem("the stored id is not the SHA-256 of the stored envelope".into());
        }
        if meta.has_body != stored.body.is_some() {
            problem("the has_body flag disagrees with the stored body".into());
        }
        if meta.purged && stored.body.is_some() {
            problem("the author purged this body, but it is still stored".into());
        }
        let verified = match verify_any(rosters, &stored) {
            Ok(v) => Some(v),
            Err(reason) => {
                problem(format!("does not verify: {reason}"));
                None
            }
        };
        if let Some(v) = &verified {
            let h = v.header();
            if (h.author, h.seq, h.timestamp_ms, h.tier, h.kind, h.body_len)
                != (
                    meta.author,
                    meta.seq,
                    meta.timestamp_ms,
                    meta.tier,
                    meta.kind,
                    meta.body_len,
                )
            {
                problem("the stored columns disagree with the signed header".into());
            }
        }
        // Chains: entries arrive ordered by author, then seq.
        let mut new_author = false;
        let prev = verified.as_ref().and_then(|v| v.header().prev);
        match &position {
            Some(p) if p.author == meta.author => {
                if meta.seq != p.seq + 1 {
                    problem(format!("chain gap: seq {} follows seq {}", meta.seq, p.seq));
                } else if verified.is_some() && prev != Some(p.id) {
                    problem(format!(
                        "chain broken: prev does not name the entry at seq {}",
                        p.seq
                    ));
                }
                if meta.timestamp_ms < p.timestamp_ms {
                    problem("timestamp earlier than its predecessor's".into());
                }
            }
            _ => {
                new_author = true;
                if meta.seq != 1 {
                    problem(format!(
                        "chain does not start at seq 1 (first stored seq is {})",
                        meta.seq
                    ));
                }
            }
        }
        if new_author {
            report.authors += 1;
        }
        for message in found {
            report.problem(Some(meta.id), Some(author.clone()), Some(meta.seq), message);
        }
        position = Some(ChainPosition {
            author: meta.author,
            seq: meta.seq,
            id: meta.id,
            timestamp_ms: meta.timestamp_ms,
        });
        match (&stored.body, meta.purged) {
            (Some(_), _) => report.bodies += 1,
            (None, true) => report.purged += 1,
            (None, false) => report.bodies_missing += 1,
        }
        match meta.tier {
            Tier::Restricted => report.restricted += 1,
            // The body rules run inside `verify`: a hazardous body must
            // withhold the details, carry ascending commitments starting
            // with `details`, and a valid release policy.
            Tier::Hazardous if stored.body.is_some() => report.hazardous += 1,
            _ => {}
        }
    }
    verify_proofs(store, rosters, report, &org_of);
}

fn verify_proofs(
    store: &Store,
    rosters: &[Roster],
    report: &mut VerifyReport,
    org_of: &dyn Fn(&OrgKey) -> String,
) {
    let proofs = match store.equivocations() {
        Ok(p) => p,
        Err(e) => {
            report.problem(None, None, None, format!("cannot read equivocation proofs: {e}"));
            return;
        }
    };
    for stored in proofs {
        report.equivocations += 1;
        let verdict = rosters
            .iter()
            .rev()
            .map(|r| stored.proof.verify(r))
            .find(Result::is_ok);
        let author = Some(org_of(&stored.author));
        match verdict {
            Some(Ok((who, seq))) if who == stored.author && seq == stored.seq => {}
            Some(Ok((who, seq))) => report.problem(
                None,
                author,
                Some(stored.seq),
                format!(
                    "equivocation proof is filed under the wrong author or seq (it proves {} at seq {seq})",
                    org_of(&who)
                ),
            ),
            _ => report.problem(
                None,
                author,
                Some(stored.seq),
                "equivocation proof does not verify against any roster version".into(),
            ),
        }
    }
}

/// Loads the pinned genesis named by a config file.
fn genesis(config: &Path) -> Result<(Roster, PathBuf), CliError> {
    let file = read_config(config).map_err(|e| CliError::Verify(e.to_string()))?;
    let pinned = file
        .pinned_hash(config)
        .map_err(|e| CliError::Verify(e.to_string()))?
        .ok_or_else(|| {
            CliError::Verify(format!(
                "{} pins no genesis roster (genesis_hash is empty), so there is nothing to verify against; \
                 install the roster with `riskmesh roster install`",
                config.display()
            ))
        })?;
    let base = config_base(config);
    let path = base.join(&file.genesis);
    let bytes = read_capped(&path, MAX_ROSTER_BYTES as u64).map_err(|e| {
        CliError::Verify(format!(
            "cannot read the genesis roster {} (field `genesis` in {}): {e}",
            path.display(),
            config.display()
        ))
    })?;
    let roster = SignedRoster::from_bytes(&bytes)
        .and_then(|signed| Roster::genesis_pinned(&signed, &pinned))
        .map_err(|e| {
            CliError::Verify(format!(
                "the genesis roster {} is not the pinned, fully signed genesis: {e}",
                path.display()
            ))
        })?;
    Ok((roster, base.join(&file.data_dir)))
}

/// Runs `riskmesh verify`.
pub fn run(args: &VerifyArgs) -> Result<(), CliError> {
    let (genesis, data_dir) = genesis(&args.config)?;
    let database = args.data_dir.clone().unwrap_or(data_dir).join(DB_FILE);
    let store = Store::open_read_only(&database).map_err(|e| CliError::Verify(e.to_string()))?;
    let mut report = VerifyReport {
        database: database.clone(),
        ..VerifyReport::default()
    };
    let rosters = rosters(genesis, &store, &mut report);
    verify_store(&store, &rosters, &mut report);
    if args.json {
        emit_json(&report)?;
    } else {
        emit(&report_text(&report))?;
    }
    if report.problem_count > 0 {
        return Err(CliError::VerifyFailed {
            count: report.problem_count,
            database,
        });
    }
    Ok(())
}

fn report_text(r: &VerifyReport) -> String {
    let mut text = format!(
        "database     {}\nroster       version {}\nentries      {} from {} author(s)\nbodies       {} checked, {} purged, {} not received\n\
         restricted   {}\nhazardous    {} (commitment structure checked)\nequivocation {} proof(s) checked\n",
        r.database.display(),
        r.roster_version,
        r.entries,
        r.authors,
        r.bodies,
        r.purged,
        r.bodies_missing,
        r.restricted,
        r.hazardous,
        r.equivocations
    );
    if r.problem_count == 0 {
        text.push_str("result       OK: every signature, chain link and body checks out\n");
        return text;
    }
    text.push_str(&format!("result       {} PROBLEM(S)\n\n", r.problem_count));
    for p in &r.problems {
        let whose = match (&p.author, p.seq) {
            (Some(a), Some(s)) => format!("{a} seq {s}"),
            (Some(a), None) => a.clone(),
            _ => "database".into(),
        };
        let id = p.entry.as_deref().map(|e| format!(" {e}")).unwrap_or_default();
        text.push_str(&format!("  {whose}{id}: {}\n", p.message));
    }
    if r.problem_count > r.problems.len() as u64 {
        text.push_str(&format!(
            "  … and {} more\n",
            r.problem_count - r.problems.len() as u64
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_protocol::{Body, Draft, Kind, LogWriter, testkit};

    /// A database holding `n` public bulletins by `org` of the signatories' roster.
    fn store_with(org: &str, n: usize) -> (tempfile::TempDir, PathBuf, testkit::Consortium) {
        let c = testkit::signatories();
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(DB_FILE);
        let mut store = Store::create(&path).expect("create");
        let mut log = LogWriter::new(testkit::NETWORK);
        let entries: Vec<VerifiedEntry> = (0..n)
            .map(|i| {
                let draft = Draft {
                    kind: Kind::Bulletin,
                    tier: Tier::Public,
                    body: Body::Bulletin(testkit::sample_bulletin(&format!("finding {i}"))),
                    recipients: None,
                };
                log.append(
                    &c.org(org).signing,
                    &c.roster,
                    &draft,
                    1_700_000_000_000 + i as u64,
                )
                .expect("entry")
            })
            .collect();
        store.insert_entries(&entries, 1_700_000_000_000).expect("insert");
        store.close().expect("close");
        (dir, path, c)
    }

    #[test]
    fn a_sound_database_verifies_clean() {
        let (_dir, path, c) = store_with("google", 5);
        let store = Store::open_read_only(&path).expect("open");
        let mut report = VerifyReport::default();
        let rosters = rosters(c.roster, &store, &mut report);
        verify_store(&store, &rosters, &mut report);
        assert_eq!(report.problems, vec![]);
        assert_eq!((report.entries, report.authors, report.bodies), (5, 1, 5));
        assert!(report_text(&report).contains("OK"));
    }

    #[test]
    fn entries_that_do_not_verify_against_the_roster_are_each_listed() {
        // The same keys, but a roster for another network: every signature
        // covers the wrong network id.
        let (_dir, path, _) = store_with("google", 3);
        let other = testkit::consortium("other-network", &testkit::SIGNATORIES, &[]);
        let store = Store::open_read_only(&path).expect("open");
        let mut report = VerifyReport::default();
        verify_store(&store, std::slice::from_ref(&other.roster), &mut report);
        assert_eq!(report.problem_count, 3);
        assert!(
            report.problems[0].message.contains("does not verify"),
            "{:?}",
            report.problems
        );
        assert_eq!(report.problems[0].author.as_deref(), Some("google"));
        assert!(report_text(&report).contains("3 PROBLEM(S)"));
    }
}
