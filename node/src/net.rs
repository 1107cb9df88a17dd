//! The libp2p side of a node: the network behaviour (allow-list, connection
//! limits, gossipsub, sync and release request-response), its configuration,
//! and the length-capped byte codec for sync.
//!
//! This module decides how the swarm is built; the runtime decides what to
//! send and what to do with what arrives.

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds, TopicScoreParams,
    ValidationMode,
};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::{StreamProtocol, Swarm, allow_block_list, connection_limits, noise, tcp, yamux};
use riskmesh_protocol::Hash32;
use riskmesh_protocol::limits::{MAX_RELEASE_VERDICT_BYTES, MAX_SEALED_RELEASE_BYTES, MAX_WIRE_ENTRY_BYTES};
use riskmesh_protocol::sync::{MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES};
use std::io;
use std::time::Duration;

/// The sync protocol's stream protocol name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/riskmesh/sync/1");
/// The release protocol's stream protocol name.
pub const RELEASE_PROTOCOL: StreamProtocol = StreamProtocol::new("/riskmesh/release/1");
/// How long an idle connection to a peer stays open. Members stay connected
/// for days; the default of 10 s would churn connections constantly.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long a sync request may take before it fails.
pub const SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most concurrent sync streams per connection.
pub const MAX_CONCURRENT_SYNC_STREAMS: usize = 64;
/// Most established connections per peer.
pub const MAX_CONNECTIONS_PER_PEER: u32 = 2;
/// Most established connections in total.
pub const MAX_CONNECTIONS: u32 = 512;
/// Most established inbound connections. A node dials about `dial_peers`
/// (8) roster peers and each pair is dialled from one side, so an honest
/// network gives a node about as many inbound connections as it dials; the
/// cap leaves room for skew, pinned peers and joining nodes, and keeps a
/// node's memory bounded whatever the others dial.
pub const MAX_INBOUND_CONNECTIONS: u32 = 64;
/// Largest gossip message (a wire entry, a proof or a roster).
pub const MAX_GOSSIP_BYTES: usize = MAX_WIRE_ENTRY_BYTES + 1024;

/// The topics a node subscribes to.
#[derive(Debug, Clone)]
pub struct Topics {
    /// Wire entries.
    pub entries: IdentTopic,
    /// Equivocation proofs.
    pub proofs: IdentTopic,
    /// Signed roster updates.
    pub rosters: IdentTopic,
}

impl Topics {
    /// The topics of a network.
    pub fn new(network: &str) -> Self {
        Topics {
            entries: IdentTopic::new(format!("/riskmesh/{network}/entries/1")),
            proofs: IdentTopic::new(format!("/riskmesh/{network}/proofs/1")),
            rosters: IdentTopic::new(format!("/riskmesh/{network}/rosters/1")),
        }
    }
}

pub use behaviour::{Behaviour, BehaviourEvent};

// The derive generates an undocumented event enum; this module scopes the
// allowance to it.
#[allow(missing_docs, missing_debug_implementations)]
mod behaviour {
    use super::CappedCodec;
    use libp2p::swarm::NetworkBehaviour;
    use libp2p::{allow_block_list, connection_limits, gossipsub, request_response};

    /// The node's network behaviour.
    #[derive(NetworkBehaviour)]
    pub struct Behaviour {
        /// Refuses every peer not on the roster (checked after the Noise
        /// handshake authenticates the peer id).
        pub allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
        /// Bounds connections.
        pub limits: connection_limits::Behaviour,
        /// Pushes new entries, proofs and rosters.
        pub gossip: gossipsub::Behaviour,
        /// Repairs what gossip missed.
        pub sync: request_response::Behaviour<CappedCodec>,
        /// Carries released hazardous fields from the author's node to the
        /// requester's, end-to-end encrypted.
        pub release: request_response::Behaviour<CappedCodec>,
    }
}

/// Why the swarm could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The transport could not be set up.
    #[error("transport: {0}")]
    Transport(String),
    /// Gossipsub rejected its configuration.
    #[error("gossipsub: {0}")]
    Gossip(String),
}

/// The node's gossipsub configuration (public so the simulator's bare
/// baseline runs with exactly the same settings).
pub fn gossip_config() -> Result<gossipsub::Config, NetError> {
    gossipsub::ConfigBuilder::default()
        // Entries are signed by their authors; gossipsub's own signatures
        // and sequence numbers would only add bytes and leak the relay.
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|message| gossipsub::MessageId::new(&Hash32::of(&message.data).0))
        .max_transmit_size(MAX_GOSSIP_BYTES)
        .heartbeat_interval(Duration::from_millis(700))
        .heartbeat_initial_delay(Duration::from_millis(100))
        .duplicate_cache_time(Duration::from_secs(120))
        .build()
        .map_err(|e| NetError::Gossip(e.to_string()))
}

/// Peer scoring: every rejected message costs the relaying peer (P4), and
/// loopback addresses are exempt from the IP-colocation penalty so local
/// consortia and tests behave like real ones. Public so the simulator's bare
/// baseline scores peers exactly as the node does.
pub fn score_params(topics: &Topics) -> (PeerScoreParams, PeerScoreThresholds) {
    let mut params = PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    for topic in [&topics.entries, &topics.proofs, &topics.rosters] {
        let topic_params = TopicScoreParams {
            topic_weight: 1.0,
            invalid_message_deliveries_weight: -50.0,
            invalid_message_deliveries_decay: 0.9,
            // Members publish rarely; do not penalize quiet mesh peers.
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            ..TopicScoreParams::default()
        };
        params.topics.insert(topic.hash(), topic_params);
    }
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -100.0,
        publish_threshold: -200.0,
        graylist_threshold: -400.0,
        ..PeerScoreThresholds::default()
    };
    (params, thresholds)
}

/// Builds a swarm on TCP with Noise and Yamux.
pub fn build_swarm(key: &Keypair, topics: &Topics) -> Result<Swarm<Behaviour>, NetError> {
    let gossip_cfg = gossip_config()?;
    let (params, thresholds) = score_params(topics);
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(|_key| {
            let mut gossip = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_cfg)?;
            gossip.with_peer_score(params, thresholds)?;
            let release = request_response::Behaviour::with_codec(
                RELEASE_CODEC,
                [(RELEASE_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(SYNC_REQUEST_TIMEOUT),
            );
            let sync = request_response::Behaviour::with_codec(
                SYNC_CODEC,
                [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(SYNC_REQUEST_TIMEOUT)
                    .with_max_concurrent_streams(MAX_CONCURRENT_SYNC_STREAMS),
            );
            let limits = connection_limits::ConnectionLimits::default()
                .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
                .with_max_established(Some(MAX_CONNECTIONS))
                .with_max_established_incoming(Some(MAX_INBOUND_CONNECTIONS))
                .with_max_pending_incoming(Some(64));
            Ok(Behaviour {
                allow: allow_block_list::Behaviour::default(),
                limits: connection_limits::Behaviour::new(limits),
                gossip,
                sync,
                release,
            })
        })
        .map_err(|e| NetError::Gossip(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok(swarm)
}

/// A request-response codec for raw bytes with a size cap per direction.
/// The runtime decodes the bytes with the protocol crate, which enforces the
/// canonical encoding; the codec only frames and bounds them.
#[derive(Debug, Clone, Copy)]
pub struct CappedCodec {
    request_cap: usize,
    response_cap: usize,
}

/// The sync protocol's codec.
pub const SYNC_CODEC: CappedCodec = CappedCodec {
    request_cap: MAX_SYNC_REQUEST_BYTES,
    response_cap: MAX_SYNC_RESPONSE_BYTES,
};

/// The release protocol's codec: an age-encrypted signed release one way
/// (the release cap plus age's overhead), a short verdict back.
pub const RELEASE_CODEC: CappedCodec = CappedCodec {
    request_cap: MAX_SEALED_RELEASE_BYTES,
    response_cap: MAX_RELEASE_VERDICT_BYTES,
};

async fn read_capped<T: futures::AsyncRead + Unpin + Send>(io: &mut T, cap: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(cap as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message over {cap} bytes"),
        ));
    }
    Ok(buf)
}

impl request_response::Codec for CappedCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_capped(io, self.request_cap).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_capped(io, self.response_cap).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Vec<u8>) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: Vec<u8>) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        io.write_all(&res).await?;
        io.close().await
    }
}
