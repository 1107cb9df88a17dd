//! One bare node: a plain libp2p swarm (TCP + Noise + Yamux, gossipsub with
//! the node's configuration and peer scoring, nothing else) and the task
//! that drives it — dial, publish, and check every received message with
//! `verify_strict` before reporting it `Accept`.

use super::payload;
use crate::run::SimError;
use ed25519_dalek::VerifyingKey;
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, PublishError};
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm, noise, tcp, yamux};
use riskmesh_node::net::{self, Topics};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Commands queued to one node's task.
pub(super) const COMMAND_CAPACITY: usize = 64;
/// How often a publication gossipsub refused (no peers yet, queues full) is
/// tried again.
const PUBLISH_RETRY: Duration = Duration::from_millis(100);
/// How long a node may take to bind its listener.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);

/// What the harness asks of a node.
#[derive(Debug)]
pub(super) enum Command {
    /// Dial this address.
    Dial(Multiaddr),
    /// Publish this signed message on the entries topic.
    Publish(Vec<u8>),
}

/// Live counters the harness reads while the node runs.
#[derive(Debug, Default)]
pub(super) struct Live {
    /// Peers with at least one connection.
    pub(super) connected: AtomicUsize,
    /// Peers subscribed to the entries topic.
    pub(super) subscribed: AtomicUsize,
}

/// What a node hands back when it stops.
#[derive(Debug, Default)]
pub(super) struct NodeOutcome {
    /// Each publication received and accepted, with when.
    pub(super) receipts: Vec<(u32, Instant)>,
    /// Bytes of accepted messages.
    pub(super) bytes_in: u64,
    /// Messages that failed verification.
    pub(super) rejected: u64,
    /// Own publications gossipsub never took.
    pub(super) unsent: usize,
}

/// A swarm built like the node's (`riskmesh_node::net::build_swarm`) minus
/// everything but gossipsub, subscribed to the node's three topics and
/// listening on 127.0.0.1; returns it with its listen address.
pub(super) async fn start(
    key: Keypair,
    topics: &Topics,
) -> Result<(Swarm<gossipsub::Behaviour>, Multiaddr), SimError> {
    let err = |e: &dyn std::fmt::Display| SimError::NodeStart(format!("bare swarm: {e}"));
    let config = net::gossip_config().map_err(|e| err(&e))?;
    let (params, thresholds) = net::score_params(topics);
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| err(&e))?
        .with_behaviour(|_| {
            let mut gossip = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)?;
            gossip.with_peer_score(params, thresholds)?;
            Ok(gossip)
        })
        .map_err(|e| err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(net::IDLE_CONNECTION_TIMEOUT))
        .build();
    for topic in [&topics.entries, &topics.proofs, &topics.rosters] {
        swarm.behaviour_mut().subscribe(topic).map_err(|e| err(&e))?;
    }
    let any_port: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().map_err(|e| err(&e))?;
    swarm.listen_on(any_port).map_err(|e| err(&e))?;
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
            Ok(SwarmEvent::NewListenAddr { address, .. }) => return Ok((swarm, address)),
            Ok(_) => {}
            Err(_) => return Err(err(&"no listen address within 5 s")),
        }
    }
}

/// Drives `swarm` until the harness drops its command sender. `delivered`
/// counts accepted publications across all nodes (the harness's settle
/// check reads it).
pub(super) async fn drive(
    mut swarm: Swarm<gossipsub::Behaviour>,
    topic: IdentTopic,
    authors: Arc<Vec<VerifyingKey>>,
    publications: usize,
    live: Arc<Live>,
    delivered: Arc<AtomicU64>,
    mut commands: mpsc::Receiver<Command>,
) -> NodeOutcome {
    let mut out = NodeOutcome::default();
    let mut seen = vec![false; publications];
    // At most this node's planned publications.
    let mut unsent: VecDeque<Vec<u8>> = VecDeque::new();
    let mut retry = tokio::time::interval(PUBLISH_RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                None => break,
                Some(Command::Dial(addr)) => {
                    // A failed dial shows as a missing connection in the warm-up.
                    let _ = swarm.dial(addr);
                }
                Some(Command::Publish(message)) => {
                    unsent.push_back(message);
                    flush(&mut swarm, &topic, &mut unsent);
                }
            },
            _ = retry.tick(), if !unsent.is_empty() => flush(&mut swarm, &topic, &mut unsent),
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { num_established, .. } if num_established.get() == 1 => {
                    live.connected.fetch_add(1, Ordering::Relaxed);
                }
                SwarmEvent::ConnectionClosed { num_established: 0, .. } => {
                    live.connected.fetch_sub(1, Ordering::Relaxed);
                }
                SwarmEvent::Behaviour(gossipsub::Event::Subscribed { topic: t, .. }) if t == topic.hash() => {
                    live.subscribed.fetch_add(1, Ordering::Relaxed);
                }
                SwarmEvent::Behaviour(gossipsub::Event::Unsubscribed { topic: t, .. }) if t == topic.hash() => {
                    live.subscribed.fetch_sub(1, Ordering::Relaxed);
                }
                SwarmEvent::Behaviour(gossipsub::Event::Message { propagation_source, message_id, message }) => {
                    let acceptance = match payload::verify(&authors, &message.data) {
                        Some(p) => {
                            if let Some(s) = seen.get_mut(p as usize)
                                && !*s
                            {
                                *s = true;
                                out.receipts.push((p, Instant::now()));
                                out.bytes_in += message.data.len() as u64;
                                delivered.fetch_add(1, Ordering::Relaxed);
                            }
                            MessageAcceptance::Accept
                        }
                        None => {
                            out.rejected += 1;
                            MessageAcceptance::Reject
                        }
                    };
                    swarm
                        .behaviour_mut()
                        .report_message_validation_result(&message_id, &propagation_source, acceptance);
                }
                _ => {}
            },
        }
    }
    out.unsent = unsent.len();
    out
}

/// Publishes what gossipsub will take now; the rest waits for the retry.
fn flush(swarm: &mut Swarm<gossipsub::Behaviour>, topic: &IdentTopic, unsent: &mut VecDeque<Vec<u8>>) {
    while let Some(message) = unsent.pop_front() {
        match swarm.behaviour_mut().publish(topic.clone(), message.clone()) {
            // A duplicate is already out.
            Ok(_) | Err(PublishError::Duplicate) => {}
            Err(_) => {
                unsent.push_front(message);
                break;
            }
        }
    }
}
