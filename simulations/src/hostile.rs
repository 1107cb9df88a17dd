//! The hostile member's and careless operator's adversaries (the `hostile`
//! scenario): a head liar, an age-header bomb on the release stream, an
//! out-of-order flood of large entries, and junk roster updates. Like those
//! in [`crate::adversary`], each is a raw libp2p swarm built with the node's
//! own network code and holding a roster-listed node key; nothing in the
//! node knows it is being attacked.

use crate::adversary::{Activity, Context, Reaction, bulletin, dial_all, drive, is_subscribed, swarm_for};
use libp2p::PeerId;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, Message, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use riskmesh_node::net::{BehaviourEvent, Topics};
use riskmesh_node::runtime::now_ms;
use riskmesh_protocol::limits::MAX_SEQ;
use riskmesh_protocol::sync::{Head, SyncRequest, SyncResponse};
use riskmesh_protocol::{Body, Draft, Hash32, LogWriter, OrgKey, SignedRoster, testkit};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use tokio::time::Instant;

/// The honest head a liar inflates (an honest author's log at this seq).
pub const LIED_SEQ: u64 = 1_000_000;

/// The extra node key the roster lists for `org`'s head liar.
pub fn head_liar_key(org: &str) -> Keypair {
    riskmesh_node::testnet::node_key(&format!("{org}/head-liar"))
}

/// The signing keys of the first two honest targets' organizations.
fn honest_authors(ctx: &Context) -> Vec<OrgKey> {
    ctx.targets
        .iter()
        .filter_map(|t| ctx.roster.member_by_peer(&t.peer.to_bytes()))
        .map(|m| m.signing_key)
        .take(2)
        .collect()
}

/// A roster-listed extra node of an honest org that lies about heads:
/// every `Heads` answer claims an honest author at [`LIED_SEQ`], every
/// other one also claims a second honest author beyond `MAX_SEQ`, and every
/// `Range` answer is empty.
pub async fn head_liar(ctx: Context, org: String) -> Activity {
    let key = head_liar_key(&org);
    let mut activity = Activity::new("head-liar", Some(&org), key.public().to_peer_id());
    let Some(mut swarm) = swarm_for(&key, &ctx.roster) else {
        activity.count("swarm_failed");
        return activity;
    };
    let authors = honest_authors(&ctx);
    let fake_id = |author: &OrgKey, seq: u64| Hash32::of(&[&author.0[..], &seq.to_be_bytes()].concat());
    dial_all(&mut swarm, &ctx, &mut activity);
    let deadline = Instant::now() + ctx.duration;
    let mut answered = 0u64;
    drive(&mut swarm, deadline, |_, event, request| {
        if let SwarmEvent::ConnectionEstablished { .. } = event {
            activity.count("connections");
        }
        match request {
            Some((_, SyncRequest::Heads | SyncRequest::Digest { .. })) => {
                answered += 1;
                let mut heads: Vec<Head> = Vec::new();
                if let Some(a) = authors.first() {
                    heads.push(Head {
                        author: *a,
                        seq: LIED_SEQ,
                        id: fake_id(a, LIED_SEQ),
                    });
                    activity.count("heads_lied_1m");
                }
                if answered.is_multiple_of(2)
                    && let Some(b) = authors.get(1)
                {
                    heads.push(Head {
                        author: *b,
                        seq: MAX_SEQ + 1,
                        id: fake_id(b, MAX_SEQ + 1),
                    });
                    activity.count("heads_lied_beyond_max_seq");
                }
                heads.sort_by_key(|h| h.author);
                Reaction::Respond(SyncResponse::Heads {
                    heads,
                    roster_version: ctx.roster.version(),
                    proofs: 0,
                })
            }
            Some((_, SyncRequest::Range { .. })) => {
                activity.count("ranges_answered_empty");
                Reaction::Respond(SyncResponse::Entries(Vec::new()))
            }
            _ => Reaction::None,
        }
    })
    .await;
    activity.add("heads_requests", answered);
    activity
}

/// The age magic line, then `header_kib` KiB of stanza-like header lines,
/// then a MAC line and a little payload: a crafted "release" whose header
/// an unbounded parser spends seconds on.
pub fn age_header_bomb(header_kib: usize) -> Vec<u8> {
    let mut out = b"age-encryption.org/v1\n".to_vec();
    let line =
        b"-> X25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
    while out.len() < header_kib * 1024 {
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    out.extend_from_slice(&[0u8; 64]);
    out
}

/// A member sending crafted age-header "releases" on the release stream:
/// `bombs_per_node` to every honest node once connected. Records how many
/// verdicts came back and the slowest, in ms.
pub async fn age_bomb(ctx: Context, org: String, bombs_per_node: usize, header_kib: usize) -> Activity {
    let key = riskmesh_node::testnet::node_key(&org);
    let mut activity = Activity::new("age-bomb", Some(&org), key.public().to_peer_id());
    let Some(mut swarm) = swarm_for(&key, &ctx.roster) else {
        activity.count("swarm_failed");
        return activity;
    };
    let bomb = age_header_bomb(header_kib);
    activity.add("bomb_bytes", bomb.len() as u64);
    let targets: BTreeSet<PeerId> = ctx.targets.iter().map(|t| t.peer).collect();
    dial_all(&mut swarm, &ctx, &mut activity);
    let deadline = Instant::now() + ctx.duration;
    let mut bombed: BTreeSet<PeerId> = BTreeSet::new();
    let mut sent_at: HashMap<OutboundRequestId, Instant> = HashMap::new();
    let mut slowest_ms = 0u64;
    drive(&mut swarm, deadline, |swarm, event, _| {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. }
                if targets.contains(peer_id) && bombed.insert(*peer_id) =>
            {
                for _ in 0..bombs_per_node {
                    let id = swarm.behaviour_mut().release.send_request(peer_id, bomb.clone());
                    sent_at.insert(id, Instant::now());
                    activity.count("bombs_sent");
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Release(request_response::Event::Message {
                message: Message::Response { request_id, response },
                ..
            })) => {
                activity.count("verdicts");
                if response.starts_with(b"refused") || String::from_utf8_lossy(response).contains("refused") {
                    activity.count("verdicts_refused");
                }
                if let Some(t) = sent_at.remove(request_id) {
                    slowest_ms = slowest_ms.max(t.elapsed().as_millis() as u64);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Release(request_response::Event::OutboundFailure {
                request_id,
                ..
            })) => {
                activity.count("failures");
                sent_at.remove(request_id);
            }
            _ => {}
        }
        Reaction::None
    })
    .await;
    activity.add("slowest_verdict_ms", slowest_ms);
    activity.add("unanswered", sent_at.len() as u64);
    activity
}

/// Signs `org`'s log seqs 1..=2·`entries`; the even seqs carry
/// `details_kib` KiB of details (the ones gossiped), the odd ones are
/// small (never sent, so every gossiped entry waits on a gap). Returns the
/// gossip payloads, highest seq first.
fn out_of_order_payloads(ctx: &Context, org: &str, entries: usize, details_kib: usize) -> Vec<Vec<u8>> {
    let secrets = testkit::org_secrets(org);
    let mut log = LogWriter::new(ctx.roster.network());
    let mut out = Vec::with_capacity(entries);
    for seq in 1..=(2 * entries as u64) {
        let draft = if seq.is_multiple_of(2) {
            let mut body = testkit::sample_bulletin(&format!("{org} out-of-order {seq}"));
            body.details = "x".repeat(details_kib * 1024);
            Draft {
                body: Body::Bulletin(body),
                ..bulletin("")
            }
        } else {
            bulletin(&format!("{org} withheld {seq}"))
        };
        match log.append(&secrets.signing, &ctx.roster, &draft, now_ms()) {
            Ok(entry) if seq.is_multiple_of(2) => out.push(entry.to_wire().to_bytes()),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    out.reverse();
    out
}

/// Gossips payloads on `topic` from a member's swarm: the payloads are
/// prepared by `prepare` on a blocking thread (signing and hashing
/// megabytes is CPU work the async workers must not do), then published
/// one every `ctx.duration / 2 / expected` (at least `min_spacing` apart)
/// once a peer listens. Counts `{what}_sent` and `{what}_not_sent`.
async fn paced_gossip(
    ctx: &Context,
    activity: &mut Activity,
    topic: libp2p::gossipsub::IdentTopic,
    expected: usize,
    min_spacing: Duration,
    what: &str,
    prepare: impl FnOnce() -> Vec<Vec<u8>> + Send + 'static,
) {
    let key = riskmesh_node::testnet::node_key(activity.org.as_deref().unwrap_or_default());
    let Some(mut swarm) = swarm_for(&key, &ctx.roster) else {
        activity.count("swarm_failed");
        return;
    };
    let _ = swarm.behaviour_mut().gossip.subscribe(&topic);
    dial_all(&mut swarm, ctx, activity);
    let start = Instant::now();
    let deadline = start + ctx.duration;
    let mut prepared = Some(tokio::task::spawn_blocking(prepare));
    let mut payloads: Option<Vec<Vec<u8>>> = None;
    let mut subscribed = false;
    let mut sent = 0usize;
    let spacing = (ctx.duration / 2 / expected.max(1) as u32).max(min_spacing);
    let mut next = start;
    while Instant::now() < deadline {
        let step = (Instant::now() + Duration::from_millis(20)).min(deadline);
        drive(&mut swarm, step, |_, event, _| {
            if is_subscribed(event) {
                subscribed = true;
            }
            Reaction::None
        })
        .await;
        if let Some(task) = prepared.as_ref()
            && task.is_finished()
        {
            payloads = prepared.take().and_then(|t| futures::executor::block_on(t).ok());
            let list = payloads.as_deref().unwrap_or_default();
            activity.add("payloads_prepared", list.len() as u64);
            activity.add("payload_bytes", list.iter().map(|p| p.len() as u64).sum::<u64>());
        }
        let Some(list) = payloads.as_ref() else { continue };
        while subscribed && sent < list.len() && Instant::now() >= next {
            match swarm
                .behaviour_mut()
                .gossip
                .publish(topic.clone(), list[sent].clone())
            {
                Ok(_) => activity.count(&format!("{what}_sent")),
                Err(_) => activity.count(&format!("{what}_not_sent")),
            }
            sent += 1;
            next += spacing;
        }
    }
}

/// A member gossiping large entries of its own log out of order: even
/// seqs from the highest down, seq 1 never sent, so every honest node
/// keeps them pending. It refuses every sync request, so no gap is ever
/// filled.
pub async fn out_of_order_flood(ctx: Context, org: String, entries: usize, details_kib: usize) -> Activity {
    let key = riskmesh_node::testnet::node_key(&org);
    let mut activity = Activity::new("out-of-order-flood", Some(&org), key.public().to_peer_id());
    let topic = Topics::new(ctx.roster.network()).entries;
    let prepare = {
        let ctx = ctx.clone();
        move || out_of_order_payloads(&ctx, &org, entries, details_kib)
    };
    let min_spacing = Duration::from_millis(5);
    paced_gossip(
        &ctx,
        &mut activity,
        topic,
        entries,
        min_spacing,
        "out_of_order",
        prepare,
    )
    .await;
    activity
}

/// `messages` roster updates (the next version of the roster in force),
/// each carrying `signatures` signatures by organizations not on the
/// roster; one signature byte differs per message, so gossipsub does not
/// drop them as duplicates.
fn junk_roster_updates(ctx: &Context, messages: usize, signatures: usize) -> Vec<Vec<u8>> {
    let mut doc = ctx.roster.doc().clone();
    doc.version += 1;
    doc.prev = Some(ctx.roster.hash());
    doc.created_ms = now_ms();
    let mut signed = SignedRoster::new(&doc);
    for i in 0..signatures {
        signed.sign(&testkit::org_secrets(&format!("stranger-{i}")).signing);
    }
    let n = signed.signatures.len().max(1);
    (0..messages)
        .map(|m| {
            let mut junk = signed.clone();
            if let Some(sig) = junk.signatures.get_mut(m % n) {
                sig.signature[0] ^= (m / n + 1) as u8;
            }
            junk.to_bytes()
        })
        .collect()
}

/// A member gossiping `messages` junk roster updates on the rosters topic,
/// each carrying `signatures` stranger signatures.
pub async fn junk_roster(ctx: Context, org: String, messages: usize, signatures: usize) -> Activity {
    let key = riskmesh_node::testnet::node_key(&org);
    let mut activity = Activity::new("junk-roster", Some(&org), key.public().to_peer_id());
    activity.add("signatures_per_update", signatures as u64);
    let topic = Topics::new(ctx.roster.network()).rosters;
    let prepare = {
        let ctx = ctx.clone();
        move || junk_roster_updates(&ctx, messages, signatures)
    };
    let min_spacing = Duration::from_millis(10);
    paced_gossip(
        &ctx,
        &mut activity,
        topic,
        messages,
        min_spacing,
        "junk_rosters",
        prepare,
    )
    .await;
    activity
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_age_header_bomb_is_an_age_header_of_the_asked_size() {
        let bomb = age_header_bomb(1024);
        assert!(bomb.starts_with(b"age-encryption.org/v1\n"));
        assert!(bomb.len() >= 1024 * 1024);
        assert!(bomb.len() <= riskmesh_protocol::limits::MAX_SEALED_RELEASE_BYTES);
    }
}
