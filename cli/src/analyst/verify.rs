//! `riskmesh verify`: find the pinned genesis and the database from the
//! config, re-verify the whole database offline with
//! [`riskmesh_node::reverify`] (the node may be running or stopped), print
//! the report, and exit non-zero listing each problem.

use super::{CliError, emit, emit_json};
use crate::client::{config_base, read_config};
use riskmesh_node::config::DB_FILE;
use riskmesh_node::config_file::read_capped;
use riskmesh_node::reverify::{Report, reverify};
use riskmesh_node::store::Store;
use riskmesh_protocol::limits::MAX_ROSTER_BYTES;
use riskmesh_protocol::{Roster, SignedRoster};
use std::path::{Path, PathBuf};

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
    let report = reverify(&store, genesis);
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

fn report_text(r: &Report) -> String {
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
    for problem in &r.problems {
        text.push_str(&format!("  {problem}\n"));
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
    use riskmesh_node::reverify::Problem;

    #[test]
    fn a_clean_report_says_ok() {
        let report = Report {
            database: PathBuf::from("data/riskmesh.db"),
            roster_version: 1,
            entries: 5,
            authors: 1,
            bodies: 5,
            ..Report::default()
        };
        let text = report_text(&report);
        assert!(
            text.starts_with("database     data/riskmesh.db\nroster       version 1\n"),
            "{text}"
        );
        assert!(text.contains("entries      5 from 1 author(s)\n"), "{text}");
        assert!(
            text.ends_with("result       OK: every signature, chain link and body checks out\n"),
            "{text}"
        );
    }

    #[test]
    fn each_problem_is_listed_and_the_rest_counted() {
        let problem = |author: Option<&str>, seq, message: &str| Problem {
            entry: author.map(|_| "ab12".to_string()),
            author: author.map(str::to_string),
            seq,
            message: message.into(),
        };
        let report = Report {
            problem_count: 3,
            problems: vec![
                problem(Some("google"), Some(4), "chain gap: seq 4 follows seq 2"),
                problem(None, None, "cannot read equivocation proofs: locked"),
            ],
            ..Report::default()
        };
        let text = report_text(&report);
        assert!(text.contains("result       3 PROBLEM(S)\n\n"), "{text}");
        assert!(
            text.contains("  google seq 4 ab12: chain gap: seq 4 follows seq 2\n"),
            "{text}"
        );
        assert!(
            text.contains("  database: cannot read equivocation proofs: locked\n"),
            "{text}"
        );
        assert!(text.ends_with("  … and 1 more\n"), "{text}");
    }
}
