//! Sync, both sides: serving heads, ranges, rosters and proofs from the
//! store, and repairing gaps by asking peers for what they hold and we lack.

use super::event_loop::{EventLoop, Outstanding};
use super::workers::{ReadJob, VerifyJob};
use libp2p::PeerId;
use libp2p::request_response::{self, Message};
use riskmesh_protocol::roster::SignedRoster;
use riskmesh_protocol::sync::{Head, MAX_SYNC_RANGE, SyncError, SyncRequest, SyncResponse, check_response};
use riskmesh_protocol::{OrgKey, VerifiedEntry};
use std::sync::atomic::Ordering;

impl EventLoop {
    fn send_request(&mut self, peer: PeerId, request: SyncRequest) {
        let bytes = request.to_bytes();
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, bytes);
        self.metrics.sync_requests_out.fetch_add(1, Ordering::Relaxed);
        if let SyncRequest::Range { author, .. } = &request {
            self.fetching.insert(*author);
        }
        self.outstanding.insert(id, Outstanding { request });
    }

    pub(super) fn request_heads(&mut self, peer: PeerId) {
        self.send_request(peer, SyncRequest::Heads);
    }

    /// Asks every connected peer for its heads.
    pub(super) fn sync_all(&mut self) {
        let peers: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| s.connected)
            .map(|(p, _)| *p)
            .collect();
        for peer in peers {
            self.request_heads(peer);
        }
    }

    /// Our contiguous head for an author (0 if none).
    fn our_seq(&self, author: &OrgKey) -> u64 {
        self.chain.head(author).map_or(0, |(seq, _)| seq)
    }

    /// Starts range fetches for authors where a connected peer announced
    /// more than we hold, or where gossip left a gap; one fetch per author at
    /// a time, from the peer that announced the most.
    pub(super) fn fetch_gaps(&mut self) {
        if self.writes_backlogged() {
            // The writer is behind: fetch more once it has caught up.
            return;
        }
        let mut wanted: Vec<(OrgKey, u64, PeerId)> = Vec::new();
        let mut lag = 0;
        for (peer, state) in &self.peers {
            if !state.connected {
                continue;
            }
            for (author, &seq) in &state.heads {
                let ours = self.chain.head(author).map_or(0, |(s, _)| s);
                if seq > ours {
                    match wanted.iter_mut().find(|(a, _, _)| a == author) {
                        Some(w) if w.1 < seq => *w = (*author, seq, *peer),
                        Some(_) => {}
                        None => wanted.push((*author, seq, *peer)),
                    }
                }
            }
        }
        for (author, seq, _) in &wanted {
            lag += seq - self.our_seq(author);
        }
        self.metrics.sync_lag.store(lag, Ordering::Relaxed);
        // Gaps seen by gossip from authors no peer announced yet: ask any
        // connected peer.
        let any_peer = self.peers.iter().find(|(_, s)| s.connected).map(|(p, _)| *p);
        if let Some(peer) = any_peer {
            for (author, _, to) in self.chain.gaps() {
                if !wanted.iter().any(|(a, _, _)| *a == author) {
                    wanted.push((author, to, peer));
                }
            }
        }
        for (author, target, peer) in wanted {
            if self.fetching.contains(&author) {
                continue;
            }
            let from_seq = self.our_seq(&author) + 1;
            let count = (target + 1 - from_seq).min(MAX_SYNC_RANGE);
            self.send_request(
                peer,
                SyncRequest::Range {
                    author,
                    from_seq,
                    count,
                },
            );
        }
    }

    pub(super) fn on_sync(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message: Message::Request { request, channel, .. },
                ..
            } => {
                self.metrics.sync_requests_in.fetch_add(1, Ordering::Relaxed);
                // An empty request is a stream the sender abandoned (a
                // timeout under load), not a malformed message: refuse it
                // without a strike.
                if request.is_empty() {
                    let refused = SyncResponse::Refused("empty request".into()).to_bytes();
                    let _ = self.swarm.behaviour_mut().sync.send_response(channel, refused);
                    return;
                }
                let request = match SyncRequest::from_bytes(&request) {
                    Ok(request) => request,
                    Err(e) => {
                        self.penalize(peer, "malformed sync request");
                        let refused = SyncResponse::Refused(e.to_string()).to_bytes();
                        let _ = self.swarm.behaviour_mut().sync.send_response(channel, refused);
                        return;
                    }
                };
                self.serve(request, channel);
            }
            request_response::Event::Message {
                peer,
                message: Message::Response { request_id, response },
                ..
            } => {
                self.metrics
                    .sync_bytes_in
                    .fetch_add(response.len() as u64, Ordering::Relaxed);
                let Some(outstanding) = self.outstanding.remove(&request_id) else {
                    return;
                };
                if response.is_empty() {
                    // The responder abandoned the stream (overload, shutdown):
                    // a failed request, not a lie.
                    if let SyncRequest::Range { author, .. } = outstanding.request {
                        self.fetching.remove(&author);
                    }
                    return;
                }
                self.on_response(peer, outstanding.request, &response);
            }
            request_response::Event::OutboundFailure {
                request_id,
                peer,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "sync request failed");
                if let Some(outstanding) = self.outstanding.remove(&request_id)
                    && let SyncRequest::Range { author, .. } = outstanding.request
                {
                    self.fetching.remove(&author);
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "serving a sync request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn serve(&mut self, request: SyncRequest, channel: request_response::ResponseChannel<Vec<u8>>) {
        let job = match request {
            SyncRequest::Heads => {
                let mut heads: Vec<Head> = self
                    .chain
                    .heads()
                    .map(|(author, seq, id)| Head { author, seq, id })
                    .collect();
                heads.sort_by_key(|h| h.author);
                let response = SyncResponse::Heads {
                    heads,
                    roster_version: self.roster.version(),
                    proofs: self.known_proofs.len() as u64,
                };
                let bytes = response.to_bytes();
                self.metrics
                    .sync_bytes_out
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                let _ = self.swarm.behaviour_mut().sync.send_response(channel, bytes);
                return;
            }
            SyncRequest::Range {
                author,
                from_seq,
                count,
            } => ReadJob::Range {
                channel,
                author,
                from_seq,
                count,
            },
            SyncRequest::Rosters { after_version } => ReadJob::Rosters {
                channel,
                after_version,
            },
            SyncRequest::Proofs { skip } => ReadJob::Proofs { channel, skip },
        };
        if let Err(job) = self.reader.submit(job) {
            // Overloaded: answer with a refusal rather than queueing without bound.
            let channel = match *job {
                ReadJob::Range { channel, .. }
                | ReadJob::Rosters { channel, .. }
                | ReadJob::Proofs { channel, .. } => channel,
                _ => return,
            };
            let refused = SyncResponse::Refused("busy".into()).to_bytes();
            let _ = self.swarm.behaviour_mut().sync.send_response(channel, refused);
        }
    }

    fn on_response(&mut self, peer: PeerId, request: SyncRequest, bytes: &[u8]) {
        let response = SyncResponse::from_bytes(bytes).and_then(|r| {
            check_response(&request, &r)?;
            Ok(r)
        });
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                if let SyncRequest::Range { author, .. } = &request {
                    self.fetching.remove(author);
                }
                self.metrics.reject("bad_sync_response");
                self.penalize(peer, &format!("bad sync response: {e}"));
                return;
            }
        };
        match (request, response) {
            (SyncRequest::Range { author, .. }, SyncResponse::Refused(why)) => {
                self.fetching.remove(&author);
                tracing::debug!(%peer, %why, "range refused");
            }
            (_, SyncResponse::Refused(why)) => tracing::debug!(%peer, %why, "sync request refused"),
            (
                SyncRequest::Heads,
                SyncResponse::Heads {
                    heads,
                    roster_version,
                    proofs,
                },
            ) => {
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.heads = heads.iter().map(|h| (h.author, h.seq)).collect();
                }
                // A head at a seq we hold with a different id means the
                // author showed us and this peer different entries: fetch the
                // peer's version so the chain validator can prove it.
                for head in &heads {
                    if let Some(ours) = self.chain.accepted_id(&head.author, head.seq)
                        && ours != head.id
                        && !self.fetching.contains(&head.author)
                        && !self.known_proofs.contains(&(head.author, head.seq))
                    {
                        self.send_request(
                            peer,
                            SyncRequest::Range {
                                author: head.author,
                                from_seq: head.seq,
                                count: 1,
                            },
                        );
                    }
                }
                if roster_version > self.roster.version() {
                    self.send_request(
                        peer,
                        SyncRequest::Rosters {
                            after_version: self.roster.version(),
                        },
                    );
                }
                if proofs > self.known_proofs.len() as u64 {
                    self.send_request(peer, SyncRequest::Proofs { skip: 0 });
                }
                self.fetch_gaps();
            }
            (SyncRequest::Range { author, from_seq, .. }, SyncResponse::Entries(entries)) => {
                if entries.is_empty() {
                    self.fetching.remove(&author);
                    return;
                }
                let job = VerifyJob::Range {
                    peer,
                    author,
                    from_seq,
                    entries,
                };
                if self.verify.submit(job).is_err() {
                    self.fetching.remove(&author);
                }
            }
            (SyncRequest::Rosters { .. }, SyncResponse::Rosters(rosters)) => {
                for bytes in rosters {
                    match SignedRoster::from_bytes(&bytes) {
                        Ok(signed) => {
                            if self.offer_roster(&signed) == libp2p::gossipsub::MessageAcceptance::Reject {
                                self.penalize(peer, "invalid roster in sync response");
                                break;
                            }
                        }
                        Err(_) => {
                            self.penalize(peer, "malformed roster in sync response");
                            break;
                        }
                    }
                }
            }
            (SyncRequest::Proofs { .. }, SyncResponse::Proofs(proofs)) => {
                for proof in proofs {
                    match proof.verify(&self.roster) {
                        Ok((author, seq)) => self.store_proof(author, seq, proof),
                        Err(_) => {
                            self.penalize(peer, "invalid equivocation proof in sync response");
                            break;
                        }
                    }
                }
            }
            _ => self.penalize(peer, &SyncError::Mismatch("response type").to_string()),
        }
    }

    pub(super) fn on_range_verified(
        &mut self,
        peer: PeerId,
        author: OrgKey,
        _from_seq: u64,
        result: Result<Vec<VerifiedEntry>, String>,
    ) {
        self.fetching.remove(&author);
        let entries = match result {
            Ok(entries) => entries,
            Err(why) => {
                self.metrics.reject("bad_sync_entry");
                self.penalize(peer, &format!("range response: {why}"));
                return;
            }
        };
        // One write job for the whole batch (group commit, and the writer's
        // queue counts jobs, not entries).
        self.batched(|this| {
            for entry in entries {
                let _ = this.ingest(entry, Vec::new());
            }
        });
        // Continue with the next range if the peer announced more.
        self.fetch_gaps();
    }
}
