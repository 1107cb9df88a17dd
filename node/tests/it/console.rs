//! The web console's security rules with plain HTTP requests against a
//! real node: a session only for the right token, never a token in a URL,
//! the CSRF token and `Origin` on every form, strict headers on every
//! answer, and withheld fields never sent back after a refused form.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use riskmesh_node::testnet::{Cluster, wait_for};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const CANARY: &str = "CANARY-console-withheld-7f3a";

struct Console {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// An answer: status, headers, text.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    fn cookie_value(&self, name: &str) -> Option<String> {
        let line = self.cookie(name)?;
        let value = line.split(';').next()?.split_once('=')?.1.to_string();
        Some(value).filter(|v| !v.is_empty())
    }

    /// The value of the first hidden `csrf` field.
    fn csrf(&self) -> String {
        let at = self.text.find("name=\"csrf\" value=\"").expect("a csrf field");
        let rest = &self.text[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("end of value")].to_string()
    }
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Console {
    fn new(cluster: &Cluster, i: usize) -> Console {
        let node = cluster.nodes[i].as_ref().expect("node running");
        let token = std::fs::read_to_string(cluster.data_dir(&cluster.orgs[i]).join("api-token"))
            .expect("token")
            .trim()
            .to_string();
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Console {
            base: format!("http://{}", node.api_addr),
            token,
            http,
        }
    }

    async fn answer(request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request");
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        Self::answer(request).await
    }

    async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(form));
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        if let Some(o) = origin {
            request = request.header("origin", o);
        }
        Self::answer(request).await
    }

    fn origin(&self) -> String {
        self.base.clone()
    }

    /// Logs in; the session cookie and the session's CSRF token.
    async fn login(&self) -> (String, String) {
        let page = self.get("/console/login", None).await;
        let nonce = page.cookie_value("riskmesh_login").expect("login cookie");
        let answer = self
            .post(
                "/console/login",
                Some(&format!("riskmesh_login={nonce}")),
                Some(&self.origin()),
                &[("csrf", &nonce), ("token", &self.token)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
        let session = answer.cookie_value("riskmesh_session").expect("session cookie");
        let cookie = format!("riskmesh_session={session}");
        let feed = self.get("/console/", Some(&cookie)).await;
        assert_eq!(feed.status, StatusCode::OK);
        (cookie, feed.csrf())
    }

    /// Entries stored, through the API.
    async fn entries(&self) -> u64 {
        let status: serde_json::Value = self
            .http
            .get(format!("{}/v1/status", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        status["entries"].as_u64().expect("entries")
    }
}

fn bulletin<'a>(csrf: &'a str, title: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("kind", "bulletin"),
        ("tier", "consortium"),
        ("title", title),
        ("summary", "A summary."),
        ("category", "misuse-jailbreak"),
        ("severity", "high"),
    ]
}

fn assert_strict_headers(answer: &Answer) {
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sessions_csrf_origin_and_headers() {
    let cluster = Cluster::start(&["anthropic", "google"]).await;
    let console = Console::new(&cluster, 0);
    let origin = console.origin();

    // No session: a page sends the browser to the login form; every answer is strict.
    let feed = console.get("/console/", None).await;
    assert_eq!(feed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        feed.headers.get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/console/login")
    );
    assert_strict_headers(&feed);
    let login_page = console.get("/console/login", None).await;
    assert_strict_headers(&login_page);
    assert!(login_page.text.contains("type=\"password\" autocomplete=\"off\""));
    let js = console.get("/console/assets/console.js", None).await;
    assert_eq!(js.status, StatusCode::OK);
    assert_strict_headers(&js);

    // A wrong token: a clear message, no session.
    let nonce = login_page.cookie_value("riskmesh_login").expect("login cookie");
    let login_cookie = format!("riskmesh_login={nonce}");
    let wrong = console
        .post(
            "/console/login",
            Some(&login_cookie),
            Some(&origin),
            &[("csrf", &nonce), ("token", &"0".repeat(64))],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.text.contains("not this node&#39;s API token"),
        "{}",
        wrong.text
    );
    assert!(wrong.cookie_value("riskmesh_session").is_none());

    // The right token without the login form's CSRF cookie: refused.
    let forged = console
        .post(
            "/console/login",
            None,
            Some(&origin),
            &[("csrf", &nonce), ("token", &console.token)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.cookie_value("riskmesh_session").is_none());

    // The token in a query string is refused, never a login.
    for path in [
        format!("/console/login?token={}", console.token),
        format!("/console/?tier=public&token={}", console.token),
    ] {
        let answer = console.get(&path, None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(answer.text.contains("never goes in a URL"));
        assert!(answer.cookie_value("riskmesh_session").is_none());
    }

    // The right token: an HttpOnly, SameSite=Strict session cookie scoped to /console.
    let (cookie, csrf) = console.login().await;
    let again = console.get("/console/login", None).await;
    let nonce = again.cookie_value("riskmesh_login").expect("login cookie");
    let ok = console
        .post(
            "/console/login",
            Some(&format!("riskmesh_login={nonce}")),
            Some(&origin),
            &[("csrf", &nonce), ("token", &console.token)],
        )
        .await;
    let set = ok.cookie("riskmesh_session").expect("session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(attribute), "{set}");
    }

    let before = console.entries().await;
    // A form without Origin, or from another origin: refused, nothing stored.
    let form = bulletin(&csrf, "From nowhere");
    let none = console.post("/console/publish", Some(&cookie), None, &form).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN, "{}", none.text);
    let foreign = console
        .post(
            "/console/publish",
            Some(&cookie),
            Some("http://evil.example"),
            &form,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{}", foreign.text);
    // A missing or stale CSRF token: refused with a message, nothing stored.
    let missing = console
        .post("/console/publish", Some(&cookie), Some(&origin), &form[1..])
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.text.contains("This form is stale"));
    let stale = console
        .post(
            "/console/publish",
            Some(&cookie),
            Some(&origin),
            &bulletin(&"0".repeat(64), "Stale form"),
        )
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    // A form sent with another Host (a rebound domain): refused by the API's layer.
    let rebound = console
        .http
        .get(format!("{}/console/", console.base))
        .header("host", "evil.example")
        .send()
        .await
        .expect("request");
    assert_eq!(rebound.status(), StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(console.entries().await, before, "a refused form stored an entry");

    // A good form publishes, and the entry appears on the feed of the other node.
    let published = console
        .post(
            "/console/publish",
            Some(&cookie),
            Some(&origin),
            &bulletin(&csrf, "From the console"),
        )
        .await;
    assert_eq!(published.status, StatusCode::SEE_OTHER, "{}", published.text);
    assert_eq!(console.entries().await, before + 1);
    let other = Console::new(&cluster, 1);
    let (other_cookie, _) = other.login().await;
    wait_for(WAIT, "the bulletin on the other node's feed", || {
        let (other, cookie) = (&other, &other_cookie);
        async move {
            other
                .get("/console/", Some(cookie))
                .await
                .text
                .contains("From the console")
        }
    })
    .await;

    // Withheld fields never come back: a refused hazardous form (no category).
    let before = console.entries().await;
    let refused = console
        .post(
            "/console/publish",
            Some(&cookie),
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("kind", "bulletin"),
                ("tier", "hazardous"),
                ("title", "Refused hazardous"),
                ("summary", "A summary."),
                ("severity", "high"),
                ("withheld_details", CANARY),
                ("withhold", "title"),
            ],
        )
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    assert!(
        refused.text.contains("The withheld fields were not kept"),
        "{}",
        refused.text
    );
    assert!(!refused.text.contains(CANARY), "the withheld details came back");
    assert!(
        !refused.text.contains("Refused hazardous"),
        "the withheld title came back"
    );
    // …nor a hazardous form's details typed into the wrong field.
    let wrong_field = console
        .post(
            "/console/publish",
            Some(&cookie),
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("tier", "public"),
                ("title", "Public"),
                ("withheld_details", CANARY),
            ],
        )
        .await;
    assert!(!wrong_field.text.contains(CANARY));
    assert_eq!(console.entries().await, before);

    // Logging out ends the session: its cookie and CSRF token are stale.
    let out = console
        .post(
            "/console/logout",
            Some(&cookie),
            Some(&origin),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = console
        .post(
            "/console/publish",
            Some(&cookie),
            Some(&origin),
            &bulletin(&csrf, "After logout"),
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(console.entries().await, before);
    cluster.shutdown().await;
}
