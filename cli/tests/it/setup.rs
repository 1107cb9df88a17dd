//! End to end through the real binary: three organizations stand up a
//! consortium with `riskmesh init` and `riskmesh roster …` alone, and the bad
//! cases fail with a non-zero exit and a message that says what to do.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_riskmesh");

/// A fresh directory under Cargo's per-target temporary directory, removed
/// when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the riskmesh binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed and returns its standard output.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "`riskmesh {}` failed:\n{}{}",
        args.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs a command that must fail and returns its standard error.
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        !out.status.success(),
        "`riskmesh {}` should have failed",
        args.join(" ")
    );
    text(&out.stderr)
}

#[test]
fn three_organizations_stand_up_a_consortium_from_the_cli() {
    let scratch = Scratch::new("setup-cli");
    let dir = scratch.0.as_path();

    ok(
        dir,
        &[
            "init",
            "--org",
            "acme",
            "--name",
            "Acme AI",
            "--advertise",
            "/ip4/127.0.0.1/tcp/4610",
        ],
    );
    let beta = ok(
        dir,
        &[
            "init",
            "--org",
            "beta",
            "--dir",
            "beta-node",
            "--advertise",
            "/ip4/127.0.0.1/tcp/4611",
            "--json",
        ],
    );
    let beta: serde_json::Value = serde_json::from_str(&beta).expect("init --json is JSON");
    assert_eq!(beta["org"], "beta");
    ok(
        dir,
        &[
            "init",
            "--org",
            "aisi",
            "--role",
            "observer",
            "--dir",
            "aisi-node",
        ],
    );

    let err = fails(dir, &["init", "--org", "acme"]);
    assert!(err.contains("refusing to overwrite"), "{err}");

    ok(
        dir,
        &[
            "roster",
            "create",
            "--network",
            "test-consortium",
            "--member",
            "riskmesh-acme/member.json",
            "beta-node/member.json",
            "aisi-node/member.json",
            "--out",
            "roster.draft",
        ],
    );

    // Before the roster is installed the node refuses to start, and says how to fix it.
    let err = fails(dir, &["node", "--config", "beta-node/config.toml"]);
    assert!(err.contains("pins no genesis roster yet"), "{err}");
    assert!(err.contains("riskmesh roster install"), "{err}");

    // Missing signatures: non-zero, naming who must sign and how.
    let err = fails(dir, &["roster", "verify", "roster.draft"]);
    assert!(err.contains("missing the signature"), "{err}");
    assert!(err.contains("acme, beta"), "{err}");
    assert!(err.contains("riskmesh roster sign roster.draft --key"), "{err}");
    let err = fails(
        dir,
        &[
            "roster",
            "install",
            "roster.draft",
            "--config",
            "beta-node/config.toml",
        ],
    );
    assert!(err.contains("fully signed genesis"), "{err}");

    ok(
        dir,
        &["roster", "sign", "roster.draft", "--key", "riskmesh-acme/org.key"],
    );
    let err = fails(dir, &["roster", "verify", "roster.draft"]);
    assert!(err.contains("`beta`"), "{err}");
    let err = fails(
        dir,
        &["roster", "sign", "roster.draft", "--key", "aisi-node/org.key"],
    );
    assert!(err.contains("observers do not sign"), "{err}");
    ok(
        dir,
        &["roster", "sign", "roster.draft", "--key", "beta-node/org.key"],
    );

    let verified = ok(dir, &["roster", "verify", "roster.draft", "--json"]);
    let verified: serde_json::Value = serde_json::from_str(&verified).expect("verify --json is JSON");
    assert_eq!(verified["valid"], true);
    let hash = verified["hash"].as_str().expect("hash").to_string();
    ok(dir, &["roster", "verify", "roster.draft", "--pin", &hash]);
    let err = fails(
        dir,
        &["roster", "verify", "roster.draft", "--pin", &"0".repeat(64)],
    );
    assert!(err.contains("pinned"), "{err}");

    let shown = ok(dir, &["roster", "show", "roster.draft", "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).expect("show --json is JSON");
    let members = shown["members"].as_array().expect("members");
    let orgs: Vec<&str> = members.iter().filter_map(|m| m["org"].as_str()).collect();
    assert_eq!(orgs, ["acme", "aisi", "beta"], "sorted by org");
    let signatures: Vec<&str> = members.iter().filter_map(|m| m["signature"].as_str()).collect();
    assert_eq!(signatures, ["valid", "not_needed", "valid"]);
    let table = ok(dir, &["roster", "show", "roster.draft"]);
    assert!(table.contains("ORG") && table.contains("Acme AI"), "{table}");

    for config in [
        "riskmesh-acme/config.toml",
        "beta-node/config.toml",
        "aisi-node/config.toml",
    ] {
        ok(dir, &["roster", "install", "roster.draft", "--config", config]);
        let text = std::fs::read_to_string(dir.join(config)).expect("read config");
        assert!(text.contains(&format!("genesis_hash = \"{hash}\"")), "{text}");
        assert!(text.contains("# Database and API token"), "comments are kept");
    }

    // An unknown field in the config is named, with where to look.
    let config = dir.join("beta-node/config.toml");
    let mut text = std::fs::read_to_string(&config).expect("read config");
    text.push_str("colour = \"blue\"\n");
    std::fs::write(&config, text).expect("write config");
    let err = fails(
        dir,
        &[
            "roster",
            "install",
            "roster.draft",
            "--config",
            "beta-node/config.toml",
        ],
    );
    assert!(err.contains("unknown field `colour`"), "{err}");
    assert!(err.contains("beta-node/config.toml"), "{err}");
}

#[test]
fn help_explains_the_roster_commands() {
    let scratch = Scratch::new("setup-help");
    let help = ok(&scratch.0, &["roster", "--help"]);
    for command in [
        "create", "sign", "verify", "show", "install", "propose", "status", "apply", "update",
    ] {
        assert!(help.contains(command), "{help}");
    }
    let help = ok(&scratch.0, &["roster", "propose", "--help"]);
    for phrase in ["--compromised", "retired", "rotation", "--json", "--config"] {
        assert!(help.contains(phrase), "{phrase}: {help}");
    }
    let help = ok(&scratch.0, &["roster", "update", "--help"]);
    assert!(
        help.contains("--head") && help.contains("roster propose"),
        "{help}"
    );
    let help = ok(&scratch.0, &["init", "--help"]);
    assert!(help.contains("--advertise") && help.contains("0600"), "{help}");
}
