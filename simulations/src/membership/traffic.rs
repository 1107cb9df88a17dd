//! The membership scenario's traffic: the plan's publications, each made
//! by its author's node while that node runs. A removed member's go on,
//! signed with its old key by the harness (continuing its log) and handed
//! to the stale relay — what a former member, or anyone holding its key,
//! could do.

use super::relay::RelayCommand;
use crate::content;
use crate::plan::{Plan, PubKind};
use crate::run::{Handles, PublishedEntry, handle_of};
use riskmesh_node::runtime::now_ms;
use riskmesh_protocol::{EntryId, LogWriter, OrgKey, OrgSecrets, Roster};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Longest wait for one publication before it counts as failed.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(20);

/// A removed member whose key goes on signing.
#[derive(Debug)]
pub(super) struct Departed {
    /// Its honest node index.
    pub node: usize,
    /// Its keys (the retired signing key).
    pub secrets: OrgSecrets,
    /// Its log, resumed from its node's last stored entry.
    pub log: LogWriter,
    /// The roster it still signs under (where its key is current).
    pub genesis: Roster,
    /// `(seq, id)` of every entry signed after its removal.
    pub entries: Vec<(u64, EntryId)>,
}

/// Where the harness puts the departed member once its removal applied.
pub(super) type DepartedSlot = Arc<Mutex<Option<Departed>>>;

/// Held while a publication is in flight, and by the harness while it
/// stops a node, so that no publication races its node's shutdown.
pub(super) type PublishGate = Arc<tokio::sync::Mutex<()>>;

/// What the traffic produced.
#[derive(Debug, Default)]
pub(super) struct Traffic {
    /// Publications honest nodes made.
    pub published: Vec<PublishedEntry>,
    /// Author key and seq of each of them.
    pub positions: HashMap<EntryId, (OrgKey, u64)>,
    /// Publications a running node failed to make, with why.
    pub failed: Vec<(usize, String)>,
    /// Publications not made, by reason (the author's node not running,
    /// the entry they refer to never published).
    pub skipped: BTreeMap<String, usize>,
}

/// Everything the traffic task needs.
pub(super) struct TrafficContext {
    /// The plan whose publications are made.
    pub plan: Plan,
    /// The seed (content).
    pub seed: u64,
    /// Start of the publishing phase.
    pub t0: Instant,
    /// The honest nodes' handles.
    pub handles: Handles,
    /// The removed member, once removed.
    pub departed: DepartedSlot,
    /// See [`PublishGate`].
    pub gate: PublishGate,
    /// The stale relay.
    pub relay: mpsc::Sender<RelayCommand>,
}

/// Makes the plan's publications at their times.
pub(super) async fn publish_plan(ctx: TrafficContext) -> Traffic {
    let mut out = Traffic::default();
    let orgs: Vec<String> = ctx.plan.nodes.iter().map(|n| n.org.clone()).collect();
    let mut ids: HashMap<usize, EntryId> = HashMap::new();
    let skip = |out: &mut Traffic, why: &str| *out.skipped.entry(why.to_string()).or_default() += 1;
    for p in &ctx.plan.publications {
        tokio::time::sleep_until(ctx.t0 + Duration::from_millis(p.at_ms)).await;
        let target = match p.kind {
            PubKind::Bulletin => None,
            PubKind::Correction { of } | PubKind::Retraction { of, .. } | PubKind::Ack { of } => {
                match ids.get(&of) {
                    Some(id) => Some(*id),
                    None => {
                        skip(&mut out, "the entry it refers to was not published");
                        continue;
                    }
                }
            }
        };
        let material = match content::material(ctx.seed, p, &orgs, target) {
            Ok(m) => m,
            Err(e) => {
                out.failed.push((p.index, e));
                continue;
            }
        };
        if let Some(payload) = sign_departed(&ctx.departed, p.node, &material.draft) {
            let _ = ctx
                .relay
                .send(RelayCommand::Gossip {
                    payload,
                    what: "departed",
                })
                .await;
            continue;
        }
        let _gate = ctx.gate.lock().await;
        let Some(handle) = handle_of(&ctx.handles, p.node) else {
            skip(&mut out, "the author's node was not running");
            continue;
        };
        match tokio::time::timeout(PUBLISH_TIMEOUT, handle.publish(material.draft)).await {
            Ok(Ok(entry)) => {
                let h = entry.header();
                ids.insert(p.index, entry.id());
                out.positions.insert(entry.id(), (h.author, h.seq));
                out.published.push(PublishedEntry::of(p.index, p.node, &entry));
            }
            Ok(Err(e)) => out.failed.push((p.index, e.to_string())),
            Err(_) => out.failed.push((p.index, "no answer within 20 s".into())),
        }
    }
    out
}

/// Signs `draft` as the departed member if `node` is it; its wire bytes.
fn sign_departed(slot: &DepartedSlot, node: usize, draft: &riskmesh_protocol::Draft) -> Option<Vec<u8>> {
    let mut guard = slot.lock().ok()?;
    let d = guard.as_mut().filter(|d| d.node == node)?;
    let entry = d
        .log
        .append(&d.secrets.signing, &d.genesis, draft, now_ms())
        .ok()?;
    d.entries.push((entry.header().seq, entry.id()));
    Some(entry.to_wire().to_bytes())
}
