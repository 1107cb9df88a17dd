//! The stale relay: a second, roster-listed node of an honest member that
//! never applies a roster update. It forwards by gossip whatever the
//! harness hands it — entries the genesis roster accepts but later
//! versions do not — as an honest node that missed every update would,
//! and refuses sync. Honest nodes must refuse what it sends without
//! striking it (spec §14.1: a rejection that depends on the roster costs
//! the relay nothing).

use crate::adversary::{Activity, Reaction, drive, is_subscribed, swarm_for};
use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use riskmesh_node::net::Topics;
use riskmesh_protocol::Roster;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Commands the bounded channel to the relay can hold at once.
pub(super) const RELAY_QUEUE: usize = 256;

/// What the harness tells the relay.
#[derive(Debug)]
pub(super) enum RelayCommand {
    /// Dial an honest node (one that started or restarted).
    Dial(Multiaddr),
    /// Gossip an entry (wire bytes) on the entries topic; `what` names the
    /// counter it is counted under.
    Gossip {
        /// The entry's wire bytes.
        payload: Vec<u8>,
        /// Counter name: `departed` or `forged`.
        what: &'static str,
    },
}

/// The relay's key: a second node of `org`, listed on the roster.
pub(super) fn relay_key(org: &str) -> Keypair {
    riskmesh_node::testnet::node_key(&format!("{org}/stale-relay"))
}

/// Runs the relay for `org` until the command channel closes and what it
/// was given is sent (or `linger` after the close, whichever is first).
/// Counts `{what}_sent` and `{what}_not_sent` per gossip command.
pub(super) async fn stale_relay(
    org: String,
    genesis: Roster,
    targets: Vec<Multiaddr>,
    mut commands: mpsc::Receiver<RelayCommand>,
    linger: Duration,
) -> Activity {
    let key = relay_key(&org);
    let mut activity = Activity::new("stale-relay", Some(&org), key.public().to_peer_id());
    let Some(mut swarm) = swarm_for(&key, &genesis) else {
        activity.count("swarm_failed");
        return activity;
    };
    let topic = Topics::new(genesis.network()).entries;
    let _ = swarm.behaviour_mut().gossip.subscribe(&topic);
    for addr in targets {
        if swarm.dial(addr).is_ok() {
            activity.count("dials");
        }
    }
    // Bounded by the scenario: one entry per planned publication of the
    // removed member, plus the forgeries.
    let mut queue: VecDeque<(Vec<u8>, &'static str)> = VecDeque::new();
    let mut subscribed = false;
    let mut closed_at: Option<Instant> = None;
    loop {
        let step = Instant::now() + Duration::from_millis(20);
        drive(&mut swarm, step, |_, event, _| {
            if is_subscribed(event) {
                subscribed = true;
            }
            if let SwarmEvent::ConnectionEstablished { .. } = event {
                activity.count("connections");
            }
            // Sync requests are refused: a refusal is no strike.
            Reaction::None
        })
        .await;
        loop {
            match commands.try_recv() {
                Ok(RelayCommand::Dial(addr)) => {
                    if swarm.dial(addr).is_ok() {
                        activity.count("dials");
                    }
                }
                Ok(RelayCommand::Gossip { payload, what }) => queue.push_back((payload, what)),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed_at.get_or_insert_with(Instant::now);
                    break;
                }
            }
        }
        while subscribed && let Some((payload, what)) = queue.front() {
            match swarm
                .behaviour_mut()
                .gossip
                .publish(topic.clone(), payload.clone())
            {
                Ok(_) => activity.count(&format!("{what}_sent")),
                // Nobody to send to right now: try again on the next step.
                Err(libp2p::gossipsub::PublishError::NoPeersSubscribedToTopic) => break,
                Err(_) => activity.count(&format!("{what}_not_sent")),
            }
            queue.pop_front();
        }
        if let Some(at) = closed_at
            && (queue.is_empty() || at.elapsed() >= linger)
        {
            break;
        }
    }
    for (_, what) in queue {
        activity.count(&format!("{what}_not_sent"));
    }
    activity
}
