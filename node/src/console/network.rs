//! The network page: peers and their state, per-author heads and lag,
//! the roster version, equivocations — the API's `/v1/status`.

use super::Authed;
use super::html::{Section, esc, message};
use crate::api::ApiState;
use crate::api::views::StatusView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt::Write;

/// `GET /console/network`.
pub(crate) async fn show(State(state): State<ApiState>, authed: Authed) -> Response {
    let status: StatusView = match state.node.status().await {
        Ok(s) => s.into(),
        Err(e) => {
            return authed.page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Network",
                Section::Network,
                &message("error", &e.to_string()),
            );
        }
    };
    let mut main = format!(
        "<dl class=\"meta\"><dt>Organization</dt><dd>{}</dd><dt>Network</dt><dd>{}</dd>\
         <dt>Roster version</dt><dd>{} (<code>{}</code>)</dd><dt>Membership</dt><dd>{:?}</dd>\
         <dt>Entries stored</dt><dd>{}</dd><dt>Waiting for a predecessor</dt><dd>{}</dd>\
         <dt>Peer id</dt><dd><code>{}</code></dd></dl>",
        esc(&status.org),
        esc(&status.network),
        status.roster_version,
        esc(&status.roster_hash),
        status.membership,
        status.entries,
        status.pending,
        esc(&status.peer_id),
    );
    if status.equivocations.is_empty() {
        main.push_str("<h2>Equivocations</h2><p>None known.</p>");
    } else {
        main.push_str("<h2>Equivocations</h2>");
        for e in &status.equivocations {
            main.push_str(&message(
                "error",
                &format!("{} signed two different entries at seq {}", e.org, e.seq),
            ));
        }
    }
    let _ = write!(
        main,
        "<table><caption>Peers ({} of {} connected)</caption><thead><tr><th scope=\"col\">Organization</th>\
         <th scope=\"col\">State</th><th scope=\"col\">Address</th><th scope=\"col\">Peer id</th></tr></thead><tbody>",
        status.connected_peers,
        status.peers.len()
    );
    for p in &status.peers {
        let _ = write!(
            main,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&p.org),
            if p.connected { "up" } else { "down" },
            if p.connected { "connected" } else { "not connected" },
            esc(p.address.as_deref().unwrap_or("—")),
            esc(&p.peer_id),
        );
    }
    main.push_str(
        "</tbody></table><table><caption>Authors' logs on this node</caption><thead><tr>\
         <th scope=\"col\">Organization</th><th scope=\"col\">Head seq</th><th scope=\"col\">Best known seq</th>\
         <th scope=\"col\">Lag</th><th scope=\"col\">Key</th></tr></thead><tbody>",
    );
    for a in &status.authors {
        let _ = write!(
            main,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.org),
            a.seq,
            a.best_known_seq,
            a.lag,
            match &a.retired {
                Some(r) => format!("retired ({}), valid to seq {}", esc(&r.reason), r.last_seq),
                None => "in force".into(),
            }
        );
    }
    main.push_str("</tbody></table>");
    authed.page(StatusCode::OK, "Network", Section::Network, &main)
}
