//! The event loop's hands on the network: the libp2p swarm and the mapping
//! from libp2p's request ids to the tokens the policies issued. It decides
//! nothing; it sends, answers, reports and dials as told.

use super::StartError;
use super::policy::peers::PeerAction;
use super::policy::release::{DeliveryToken, ReleaseSend};
use super::policy::sync::{SyncSend, SyncToken};
use crate::config::NodeConfig;
use crate::metrics::Metrics;
use crate::net::{Behaviour, BehaviourEvent, Topics, build_swarm};
use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance, PublishError, TopicHash};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm};
use riskmesh_protocol::delivery::DeliveryVerdict;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The gossip topics this node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Topic {
    Entries,
    Proofs,
    Rosters,
}

pub(super) struct SwarmIo {
    swarm: Swarm<Behaviour>,
    topics: Topics,
    peer_id: PeerId,
    listen: Vec<Multiaddr>,
    /// Outstanding sync requests; bounded by the planner's outstanding set.
    sync_ids: HashMap<OutboundRequestId, SyncToken>,
    /// Outstanding deliveries; bounded by the release queue.
    release_ids: HashMap<OutboundRequestId, DeliveryToken>,
    metrics: Arc<Metrics>,
}

impl SwarmIo {
    /// Builds the swarm for `network`, subscribes, listens, and waits (up to
    /// 5 s) until the listeners are bound so callers learn real ports.
    pub(super) async fn start(
        config: &NodeConfig,
        network: &str,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StartError> {
        let topics = Topics::new(network);
        let err = |e: &dyn std::fmt::Display| StartError::Network(e.to_string());
        let mut swarm = build_swarm(&config.node_key, &topics).map_err(|e| err(&e))?;
        for topic in [&topics.entries, &topics.proofs, &topics.rosters] {
            swarm
                .behaviour_mut()
                .gossip
                .subscribe(topic)
                .map_err(|e| err(&e))?;
        }
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| StartError::Network(format!("listen on {addr}: {e}")))?;
        }
        let mut listen = Vec::new();
        let peer_id = *swarm.local_peer_id();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while listen.len() < config.listen.len() {
            match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
                Ok(SwarmEvent::NewListenAddr { address, .. }) => {
                    listen.push(address.with(Protocol::P2p(peer_id)))
                }
                Ok(SwarmEvent::ListenerError { error, .. }) => return Err(err(&error)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(SwarmIo {
            swarm,
            topics,
            peer_id,
            listen,
            sync_ids: HashMap::new(),
            release_ids: HashMap::new(),
            metrics,
        })
    }

    pub(super) fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    pub(super) fn listen(&self) -> &[Multiaddr] {
        &self.listen
    }

    /// The next swarm event; listen addresses are recorded on the way.
    pub(super) async fn next(&mut self) -> SwarmEvent<BehaviourEvent> {
        let event = self.swarm.select_next_some().await;
        if let SwarmEvent::NewListenAddr { address, .. } = &event {
            let address = address.clone().with(Protocol::P2p(self.peer_id));
            if !self.listen.contains(&address) {
                self.listen.push(address);
            }
        }
        event
    }

    pub(super) fn topic(&self, hash: &TopicHash) -> Option<Topic> {
        [
            (&self.topics.entries, Topic::Entries),
            (&self.topics.proofs, Topic::Proofs),
            (&self.topics.rosters, Topic::Rosters),
        ]
        .into_iter()
        .find(|(t, _)| t.hash() == *hash)
        .map(|(_, topic)| topic)
    }

    pub(super) fn peer_actions(&mut self, actions: Vec<PeerAction>) {
        for action in actions {
            match action {
                PeerAction::Allow(peer) => {
                    self.swarm.behaviour_mut().allow.allow_peer(peer);
                }
                PeerAction::Disallow(peer) => {
                    self.swarm.behaviour_mut().allow.disallow_peer(peer);
                }
                PeerAction::Dial { peer, addrs } => {
                    if let Err(e) = self.swarm.dial(DialOpts::peer_id(peer).addresses(addrs).build()) {
                        tracing::debug!(%peer, error = %e, "dial failed");
                    }
                }
            }
        }
    }

    pub(super) fn report(
        &mut self,
        id: &gossipsub::MessageId,
        source: &PeerId,
        acceptance: MessageAcceptance,
    ) {
        self.swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(id, source, acceptance);
    }

    pub(super) fn publish(&mut self, topic: Topic, bytes: Vec<u8>) {
        let topic = match topic {
            Topic::Entries => self.topics.entries.clone(),
            Topic::Proofs => self.topics.proofs.clone(),
            Topic::Rosters => self.topics.rosters.clone(),
        };
        let len = bytes.len() as u64;
        match self.swarm.behaviour_mut().gossip.publish(topic, bytes) {
            Ok(_) => {
                self.metrics.gossip_bytes_out.fetch_add(len, Ordering::Relaxed);
            }
            Err(PublishError::NoPeersSubscribedToTopic | PublishError::AllQueuesFull(_)) => {
                tracing::info!("no peers now; it goes out by sync when they return");
            }
            Err(PublishError::Duplicate) => {}
            Err(e) => tracing::warn!(error = %e, "gossip publish failed; peers fetch it by sync"),
        }
    }

    pub(super) fn send_sync(&mut self, send: SyncSend) {
        let SyncSend { token, peer, request } = send;
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, request.to_bytes());
        self.metrics.sync_requests_out.fetch_add(1, Ordering::Relaxed);
        self.sync_ids.insert(id, token);
    }

    pub(super) fn sync_token(&mut self, id: &OutboundRequestId) -> Option<SyncToken> {
        self.sync_ids.remove(id)
    }

    pub(super) fn respond_sync(&mut self, channel: ResponseChannel<Vec<u8>>, bytes: Vec<u8>) {
        self.metrics
            .sync_bytes_out
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let _ = self.swarm.behaviour_mut().sync.send_response(channel, bytes);
    }

    pub(super) fn send_releases(&mut self, sends: Vec<ReleaseSend>) {
        for ReleaseSend { token, peer, sealed } in sends {
            let id = self.swarm.behaviour_mut().release.send_request(&peer, sealed);
            self.release_ids.insert(id, token);
        }
    }

    pub(super) fn release_token(&mut self, id: &OutboundRequestId) -> Option<DeliveryToken> {
        self.release_ids.remove(id)
    }

    pub(super) fn send_verdict(&mut self, channel: ResponseChannel<Vec<u8>>, verdict: &DeliveryVerdict) {
        let _ = self
            .swarm
            .behaviour_mut()
            .release
            .send_response(channel, verdict.to_bytes());
    }
}
