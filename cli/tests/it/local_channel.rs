//! The analyst channel: the CLI talks to its own node only (the Unix socket
//! by default, TCP after the listener proved it holds the token), withheld
//! text never rides on the command line, and `riskmesh node` writes plain
//! logs to a file.

use crate::support::{OrgDir, bin, consortium};
use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Kills the node process however the test ends.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn running(org: &OrgDir) -> Node {
    let mut child = org.start();
    org.wait_ready(&mut child).await;
    Node(child)
}

/// Runs the CLI against `org` with `stdin` fed to it.
fn cli(org: &OrgDir, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .args(["--config", &org.config_str()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run riskmesh");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const SECRET: &str = "SECRET-RECIPE-step-1-do-not-leak";

fn hazardous_args(details: &str) -> Vec<&str> {
    vec![
        "publish",
        "--tier",
        "hazardous",
        "--title",
        "Uplift finding",
        "--summary",
        "Step-level uplift; details withheld.",
        "--category",
        "bio",
        "--severity",
        "critical",
        "--details-file",
        details,
    ]
}

/// Listens on `port` as an unprivileged local program would while the node
/// is down, answers every request with a plausible 200, and records every
/// byte it is sent.
fn squat(port: u16) -> Arc<Mutex<Vec<u8>>> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("squat the API port");
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 65536];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().expect("lock").extend_from_slice(&buf[..n]);
                    let body = format!(r#"{{"proof":"{}","id":"x"}}"#, "00".repeat(32));
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_squatter_never_receives_the_token_or_the_details() {
    let base = tempfile::tempdir().expect("tempdir");
    let orgs = consortium(base.path(), &["solo"]);
    let org = &orgs[0];
    // The node ran once (so the token exists) and was killed: its socket
    // file stays behind, nothing answers on it.
    drop(running(org).await);
    let token = org.token();
    let received = squat(org.api_port);
    let details = base.path().join("details.txt");
    std::fs::write(&details, SECRET).expect("details file");
    let details = details.display().to_string();

    let by_default = cli(org, &hazardous_args(&details), b"");
    let mut over_tcp = hazardous_args(&details);
    over_tcp.extend(["--api", "tcp"]);
    let over_tcp = cli(org, &over_tcp, b"");

    let seen = text(&received.lock().expect("lock"));
    assert!(!seen.contains(&token), "the squatter got the token:\n{seen}");
    assert!(!seen.contains(SECRET), "the squatter got the details:\n{seen}");
    assert!(
        !seen.contains("Uplift finding"),
        "the squatter got the request:\n{seen}"
    );
    assert!(!by_default.status.success());
    let stderr = text(&by_default.stderr);
    assert!(
        stderr.contains("could not reach the node at") && stderr.contains("api.sock"),
        "{stderr}"
    );
    assert!(!over_tcp.status.success());
    let stderr = text(&over_tcp.stderr);
    assert!(
        stderr.contains("is not your node") && stderr.contains("Neither the token nor the request was sent"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reaches_its_node_over_the_socket_or_tcp_and_refuses_an_open_data_directory() {
    use std::os::unix::fs::PermissionsExt;
    let base = tempfile::tempdir().expect("tempdir");
    let orgs = consortium(base.path(), &["solo"]);
    let org = &orgs[0];
    let _node = running(org).await;
    for args in [&["status"][..], &["status", "--api", "tcp"][..]] {
        let out = cli(org, args, b"");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let data = org.dir.join("data");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = cli(org, &["status"], b"");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("refusing to talk to the node") && stderr.contains("chmod 700"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withheld_text_is_refused_on_the_command_line_and_read_from_a_file_or_stdin() {
    let base = tempfile::tempdir().expect("tempdir");
    let orgs = consortium(base.path(), &["solo"]);
    let org = &orgs[0];
    let _node = running(org).await;

    let mut inline = hazardous_args("unused");
    inline.truncate(inline.len() - 2);
    inline.extend(["--details", SECRET]);
    let out = cli(org, &inline, b"");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--details is not accepted") && stderr.contains("--details-file"),
        "{stderr}"
    );

    let details = base.path().join("details.txt");
    std::fs::write(&details, SECRET).expect("details file");
    let details_path = details.display().to_string();
    let mut args = hazardous_args(&details_path);
    args.extend(["--withhold", "title", "--sanitized-title", "A finding"]);
    let out = cli(org, &args, b"");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--title is withheld here"),
        "{}",
        text(&out.stderr)
    );

    for (source, stdin) in [(details_path.as_str(), &b""[..]), ("-", SECRET.as_bytes())] {
        let mut args = hazardous_args(source);
        args.push("--json");
        let out = cli(org, &args, stdin);
        assert!(out.status.success(), "{source}: {}", text(&out.stderr));
        let published: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let id = published["id"].as_str().expect("id").to_string();
        let out = cli(org, &["show", &id, "--withheld", "--json"], b"");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains(SECRET), "{}", text(&out.stdout));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_logs_written_to_a_file_carry_no_colour_codes() {
    let base = tempfile::tempdir().expect("tempdir");
    let orgs = consortium(base.path(), &["solo"]);
    let org = &orgs[0];
    drop(running(org).await);
    let log = std::fs::read_to_string(org.dir.join("node.log")).expect("log");
    assert!(log.contains("node started"), "{log}");
    assert!(!log.contains("\x1b["), "colour codes in the log file:\n{log:?}");
}

/// Issue 9 (low), regression: the node allowed core dumps and ptrace by
/// default, so a crash or a same-user debugger could copy keys and withheld
/// details out of its memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_process_makes_no_core_dumps() {
    let base = tempfile::tempdir().expect("tempdir");
    let orgs = consortium(base.path(), &["solo"]);
    let node = running(&orgs[0]).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", node.0.id())).expect("limits");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("core line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
}

/// `riskmesh console` names the console's URL and the token file, and never
/// puts the token in either.
#[test]
fn the_console_command_prints_the_url_and_the_token_file_never_the_token() {
    let base = tempfile::tempdir().expect("tempdir");
    let org = crate::support::init_org(base.path(), "anthropic", None);
    let answer = crate::support::ok_json(&org, &["console"]);
    let url = answer["url"].as_str().expect("url");
    assert_eq!(url, format!("http://127.0.0.1:{}/console/", org.api_port));
    let token_file = answer["token_file"].as_str().expect("token_file");
    assert!(token_file.ends_with("api-token"), "{token_file}");
    let text = crate::support::cli(&org, &["console"]);
    assert!(text.status.success());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains(url) && stdout.contains(token_file), "{stdout}");
    // A token written by a node that ran is not printed either.
    std::fs::write(std::path::Path::new(token_file), "ab".repeat(32)).expect("token");
    let again = crate::support::cli(&org, &["console", "--json"]);
    assert!(!String::from_utf8_lossy(&again.stdout).contains(&"ab".repeat(32)));
}
