//! Link proxies: one small TCP forwarder per directed link `i → j`. Node
//! `i` is told only the proxy's address for node `j`, so the harness can
//! block the link (cut live connections, refuse new ones), delay it, or cut
//! connections at random, without any special code in the node.
//!
//! TCP retransmits lost packets, so "loss" here is what loss looks like to
//! an application over TCP: stalls and reset connections.

use crate::rng::SimRng;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Bytes read from a socket at once.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight per direction of one connection (the delay line).
const DELAY_LINE: usize = 256;
/// How long the proxy waits to reach its target.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a link currently does to traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkEffect {
    /// Added one-way delay, ms.
    pub delay_ms: u64,
    /// Extra random delay up to this many ms.
    pub jitter_ms: u64,
    /// Chance that a forwarded chunk cuts the connection instead.
    pub cut_probability: f64,
}

#[derive(Debug)]
struct LinkState {
    target: Mutex<SocketAddr>,
    blocked: AtomicBool,
    effect: Mutex<LinkEffect>,
    /// Bumped to cut every live connection.
    epoch: watch::Sender<u64>,
    bytes: AtomicU64,
    connections: AtomicU64,
    cuts: AtomicU64,
    rng: Mutex<SimRng>,
}

impl LinkState {
    fn effect(&self) -> LinkEffect {
        self.effect.lock().map(|e| *e).unwrap_or_default()
    }

    fn draw(&self) -> f64 {
        self.rng.lock().map(|mut r| r.unit()).unwrap_or(0.5)
    }
}

/// One directed link's proxy.
#[derive(Debug)]
pub struct LinkProxy {
    /// The address the dialing node is given.
    pub listen: SocketAddr,
    state: Arc<LinkState>,
    task: JoinHandle<()>,
}

/// Counters of one link.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkCounters {
    /// Bytes forwarded, both directions.
    pub bytes: u64,
    /// Connections forwarded.
    pub connections: u64,
    /// Connections cut by the loss model.
    pub cuts: u64,
}

impl LinkProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) forwarding to `target`;
    /// `seed` drives its loss draws.
    pub async fn start(target: SocketAddr, seed: u64) -> std::io::Result<LinkProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?;
        let (epoch, _) = watch::channel(0);
        let state = Arc::new(LinkState {
            target: Mutex::new(target),
            blocked: AtomicBool::new(false),
            effect: Mutex::new(LinkEffect::default()),
            epoch,
            bytes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            rng: Mutex::new(SimRng::new(seed)),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        Ok(LinkProxy { listen, state, task })
    }

    /// Blocks the link (cutting live connections) or opens it again.
    pub fn set_blocked(&self, blocked: bool) {
        let was = self.state.blocked.swap(blocked, Ordering::SeqCst);
        if blocked && !was {
            self.cut_all();
        }
    }

    /// Whether the link is blocked.
    pub fn is_blocked(&self) -> bool {
        self.state.blocked.load(Ordering::SeqCst)
    }

    /// Sets delay, jitter and loss for traffic from now on.
    pub fn set_effect(&self, effect: LinkEffect) {
        if let Ok(mut e) = self.state.effect.lock() {
            *e = effect;
        }
    }

    /// Points the link at a new address (a node restarted elsewhere).
    pub fn set_target(&self, target: SocketAddr) {
        if let Ok(mut t) = self.state.target.lock() {
            *t = target;
        }
    }

    /// Cuts every live connection through this link.
    pub fn cut_all(&self) {
        self.state.epoch.send_modify(|e| *e += 1);
    }

    /// Counters so far.
    pub fn counters(&self) -> LinkCounters {
        LinkCounters {
            bytes: self.state.bytes.load(Ordering::Relaxed),
            connections: self.state.connections.load(Ordering::Relaxed),
            cuts: self.state.cuts.load(Ordering::Relaxed),
        }
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.cut_all();
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<LinkState>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        if state.blocked.load(Ordering::SeqCst) {
            // Refused: the dialer's handshake fails on a closed socket.
            drop(inbound);
            continue;
        }
        let target = match state.target.lock() {
            Ok(t) => *t,
            Err(_) => continue,
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let Ok(Ok(outbound)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await
            else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            state.connections.fetch_add(1, Ordering::Relaxed);
            forward(inbound, outbound, state).await;
        });
    }
}

/// Forwards both directions until both close, the link is cut, or the
/// loss model cuts this connection.
async fn forward(a: TcpStream, b: TcpStream, state: Arc<LinkState>) {
    let mut epoch = state.epoch.subscribe();
    epoch.mark_unchanged();
    let cut = Arc::new(Notify::new());
    let (a_rd, a_wr) = a.into_split();
    let (b_rd, b_wr) = b.into_split();
    let both = async {
        tokio::join!(
            direction(a_rd, b_wr, Arc::clone(&state), Arc::clone(&cut)),
            direction(b_rd, a_wr, Arc::clone(&state), Arc::clone(&cut)),
        )
    };
    tokio::select! {
        _ = both => {}
        _ = epoch.changed() => {}
        () = cut.notified() => {
            state.cuts.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Dropping the halves closes both sockets.
}

async fn direction(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<LinkState>,
    cut: Arc<Notify>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(DELAY_LINE);
    let reader = {
        let state = Arc::clone(&state);
        async move {
            let mut buf = vec![0u8; CHUNK];
            let mut last_due = Instant::now();
            loop {
                let n = match from.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let effect = state.effect();
                if effect.cut_probability > 0.0 && state.draw() < effect.cut_probability {
                    cut.notify_one();
                    break;
                }
                let jitter = if effect.jitter_ms > 0 {
                    (state.draw() * effect.jitter_ms as f64) as u64
                } else {
                    0
                };
                // Delays never reorder bytes: a chunk is due no earlier than
                // the one before it.
                let due = (Instant::now() + Duration::from_millis(effect.delay_ms + jitter)).max(last_due);
                last_due = due;
                if tx.send((due, buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
            state.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(proxy: &LinkProxy) -> std::io::Result<Duration> {
        let mut s = TcpStream::connect(proxy.listen).await?;
        let start = Instant::now();
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");
        Ok(start.elapsed())
    }

    #[tokio::test]
    async fn forwards_delays_blocks_and_reopens() {
        let proxy = LinkProxy::start(echo_server().await, 1).await.expect("proxy");
        round_trip(&proxy).await.expect("open link forwards");
        proxy.set_effect(LinkEffect {
            delay_ms: 100,
            ..LinkEffect::default()
        });
        let rtt = round_trip(&proxy).await.expect("delayed link forwards");
        assert!(
            rtt >= Duration::from_millis(200),
            "both directions delayed: {rtt:?}"
        );
        proxy.set_effect(LinkEffect::default());
        proxy.set_blocked(true);
        assert!(round_trip(&proxy).await.is_err(), "a blocked link refuses");
        proxy.set_blocked(false);
        round_trip(&proxy).await.expect("a healed link forwards");
        assert!(proxy.counters().bytes >= 24);
    }

    #[tokio::test]
    async fn blocking_cuts_live_connections() {
        let proxy = LinkProxy::start(echo_server().await, 1).await.expect("proxy");
        let mut s = TcpStream::connect(proxy.listen).await.expect("connect");
        s.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.expect("echo");
        proxy.set_blocked(true);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest))
            .await
            .expect("closed promptly");
        assert!(n.map(|n| n == 0).unwrap_or(true));
    }
}
