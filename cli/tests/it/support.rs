//! Running the real binary: commands, free ports, single-org and
//! multi-org consortia set up exactly as an operator would.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_riskmesh")
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs the binary and insists on success, showing its output otherwise.
pub fn run(args: &[&str]) -> Output {
    let output = Command::new(bin()).args(args).output().expect("run riskmesh");
    assert!(
        output.status.success(),
        "riskmesh {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// One organization's node directory.
pub struct OrgDir {
    pub org: String,
    pub dir: PathBuf,
    pub p2p_port: u16,
    pub api_port: u16,
}

impl OrgDir {
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    pub fn config_str(&self) -> String {
        self.config().display().to_string()
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.join("data").join("api-token"))
            .expect("api token")
            .trim()
            .to_string()
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_port)
    }

    /// Turns off the free-disk floor, so a test does not depend on the
    /// machine's free space.
    pub fn without_disk_floor(&self) {
        let mut text = std::fs::read_to_string(self.config()).expect("read config");
        text.push_str("free_disk_floor_mib = 0\n");
        std::fs::write(self.config(), text).expect("write config");
    }

    /// Starts `riskmesh node` with logs in the org directory.
    pub fn start(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("node.log"))
            .expect("log file");
        Command::new(bin())
            .args(["node", "--config", &self.config_str()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn node")
    }

    /// Waits for the API to answer.
    pub async fn wait_ready(&self, child: &mut Child) {
        let client = reqwest::Client::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default();
                panic!("node {} exited with {status}:\n{log}", self.org);
            }
            if let Ok(r) = client.get(self.api("/healthz")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("node {} did not become ready", self.org);
    }
}

/// `riskmesh init` for `org` in `dir` (named `org` under `base` by
/// default), listening on 127.0.0.1 at free ports.
pub fn init_org(base: &Path, org: &str, dir: Option<&str>) -> OrgDir {
    let d = OrgDir {
        org: org.to_string(),
        dir: base.join(dir.unwrap_or(org)),
        p2p_port: free_port(),
        api_port: free_port(),
    };
    let listen = format!("/ip4/127.0.0.1/tcp/{}", d.p2p_port);
    run(&[
        "init",
        "--org",
        &d.org,
        "--dir",
        &d.dir.display().to_string(),
        "--listen",
        &listen,
        "--advertise",
        &listen,
        "--api-port",
        &d.api_port.to_string(),
    ]);
    d
}

/// `riskmesh init` for each org, a genesis roster created, signed by all and
/// installed — the operator's steps.
pub fn consortium(base: &Path, orgs: &[&str]) -> Vec<OrgDir> {
    let dirs: Vec<OrgDir> = orgs.iter().map(|org| init_org(base, org, None)).collect();
    let genesis = base.join("genesis.cbor").display().to_string();
    let mut create = vec!["roster", "create", "--network", "e2e-test", "--out", &genesis];
    let members: Vec<String> = dirs
        .iter()
        .map(|d| d.dir.join("member.json").display().to_string())
        .collect();
    for m in &members {
        create.push("--member");
        create.push(m);
    }
    run(&create);
    for d in &dirs {
        run(&[
            "roster",
            "sign",
            &genesis,
            "--key",
            &d.dir.join("org.key").display().to_string(),
        ]);
    }
    for d in &dirs {
        run(&["roster", "install", &genesis, "--config", &d.config_str()]);
    }
    dirs
}

/// Kills the node processes however the test ends.
pub struct Nodes(pub Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the CLI against `org`'s node (its config appended).
pub fn cli(org: &OrgDir, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .args(["--config", &org.config_str()])
        .output()
        .expect("run riskmesh")
}

/// Runs the CLI against `org`'s node with `--json`, insisting on success.
pub fn ok_json(org: &OrgDir, args: &[&str]) -> serde_json::Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = cli(org, &with_json);
    assert!(
        out.status.success(),
        "riskmesh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}
