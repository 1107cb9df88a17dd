//! The event loop's part of the hazardous release flow: noticing access
//! entries, delivering granted releases to the requester's node (retrying
//! while it is offline), and acting on releases this node receives.

use super::event_loop::EventLoop;
use super::hazard::{self, Received};
use super::workers::{Ack, ReadJob, WriteJob};
use crate::store::ReleaseState;
use libp2p::request_response::{self, Message};
use riskmesh_protocol::body::AccessDecisionBody;
use riskmesh_protocol::redaction::Redaction;
use riskmesh_protocol::{Body, BulletinBody, Draft, Kind, Tier, VerifiedEntry};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How often undelivered releases are retried.
const RELEASE_RETRY: Duration = Duration::from_secs(2);
/// Verdicts the requester's node answers with.
const VERDICT_OK: &[u8] = b"ok";
const VERDICT_MISMATCH: &[u8] = b"mismatch";
const VERDICT_ALREADY: &[u8] = b"refused: already received";

impl EventLoop {
    /// Remembers access entries so the release policy is re-evaluated once
    /// they are committed.
    pub(super) fn note_access(&mut self, entry: &VerifiedEntry) {
        match entry.header().kind {
            Kind::AccessRequest => {
                self.release_checks.insert(entry.id(), entry.id());
            }
            Kind::AccessDecision => {
                if let Some(Ok(Body::AccessDecision(AccessDecisionBody { request, .. }))) =
                    entry.decode_body()
                {
                    self.release_checks.insert(entry.id(), request);
                }
            }
            _ => {}
        }
    }

    /// After a commit: re-evaluate requests whose entries just landed.
    pub(super) fn after_commit(&mut self, ids: impl Iterator<Item = riskmesh_protocol::EntryId>) {
        for id in ids {
            if let Some(request) = self.release_checks.remove(&id) {
                let _ = self.reader.submit(ReadJob::PrepareRelease { request });
            }
        }
    }

    /// Asks the reader to re-check every open request for our hazardous entries.
    pub(super) fn scan_releases(&mut self) {
        let _ = self.reader.submit(ReadJob::ScanReleases);
    }

    /// Queues a granted release and tries to deliver it.
    pub(super) fn release_ready(&mut self, out: hazard::ReleaseOut) {
        if self.pending_releases.contains_key(&out.request)
            || self.release_outstanding.values().any(|r| *r == out.request)
        {
            return;
        }
        tracing::info!(request = %super::short(&out.request), "release granted; delivering to the requester's node");
        self.pending_releases.insert(out.request, out);
        self.attempt_releases();
    }

    /// Sends every pending release to a connected node of its requester.
    pub(super) fn attempt_releases(&mut self) {
        self.last_release_attempt = Instant::now();
        let mut sends = Vec::new();
        for (request, out) in &self.pending_releases {
            // One delivery in flight per request; the release stays pending
            // until the requester answers.
            if self.release_outstanding.values().any(|r| r == request) {
                continue;
            }
            let Some(org) = self.roster.member(&out.requester).map(|m| m.org.as_str()) else {
                continue;
            };
            if let Some((peer, _)) = self.peers.iter().find(|(_, s)| s.connected && s.org == org) {
                sends.push((*request, *peer, out.sealed.clone()));
            }
        }
        for (request, peer, sealed) in sends {
            let id = self.swarm.behaviour_mut().release.send_request(&peer, sealed);
            self.release_outstanding.insert(id, request);
        }
    }

    /// Retries undelivered releases now and then.
    pub(super) fn retry_releases(&mut self) {
        if !self.pending_releases.is_empty() && self.last_release_attempt.elapsed() >= RELEASE_RETRY {
            self.attempt_releases();
        }
    }

    pub(super) fn on_release(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message: Message::Request { request, channel, .. },
                ..
            } => {
                tracing::info!(%peer, "release received; verifying against the commitments");
                if let Err(job) = self.reader.submit(ReadJob::ReceiveRelease {
                    channel,
                    bytes: request,
                }) && let ReadJob::ReceiveRelease { channel, .. } = *job
                {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .release
                        .send_response(channel, b"refused: busy".to_vec());
                }
            }
            request_response::Event::Message {
                message: Message::Response { request_id, response },
                ..
            } => {
                let Some(request) = self.release_outstanding.remove(&request_id) else {
                    return;
                };
                // "already received" means an earlier delivery's `ok` was lost.
                let delivered = response == VERDICT_OK || response.starts_with(VERDICT_ALREADY);
                if delivered || response == VERDICT_MISMATCH {
                    if response == VERDICT_MISMATCH {
                        tracing::error!(request = %super::short(&request), "the requester reports our release does not match our commitments");
                    }
                    if let Some(out) = self.pending_releases.remove(&request) {
                        self.submit_write(WriteJob::Release {
                            request,
                            target: out.target,
                            state: ReleaseState::Sent,
                            evidence: None,
                        });
                    }
                } else {
                    // Refused (the requester may not have synced its request
                    // yet): keep it and retry.
                    tracing::debug!(verdict = %String::from_utf8_lossy(&response), "release refused; will retry");
                }
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                tracing::debug!(%error, "release delivery failed; will retry");
                self.release_outstanding.remove(&request_id);
            }
            _ => {}
        }
    }

    pub(super) fn release_received(
        &mut self,
        channel: request_response::ResponseChannel<Vec<u8>>,
        received: Received,
    ) {
        let verdict = match received {
            Received::Accepted {
                request,
                target,
                sealed,
                receipt,
            } => {
                tracing::info!(target = %super::short(&target), "released fields verified against the commitments; publishing the receipt");
                self.submit_write(WriteJob::Withheld { target, sealed });
                self.submit_write(WriteJob::Release {
                    request,
                    target,
                    state: ReleaseState::Received,
                    evidence: None,
                });
                let (reply, _) = oneshot::channel();
                self.publish_draft(&receipt, reply);
                VERDICT_OK.to_vec()
            }
            Received::Fault {
                request,
                target,
                evidence,
                why,
            } => {
                tracing::error!(target = %super::short(&target), %why, "RELEASE FAULT: the author's signed release does not match its commitments; proof kept, no receipt");
                self.metrics.reject("release_mismatch");
                self.submit_write(WriteJob::Release {
                    request,
                    target,
                    state: ReleaseState::Fault,
                    evidence: Some(evidence),
                });
                VERDICT_MISMATCH.to_vec()
            }
            Received::Refused(why) => {
                tracing::debug!(%why, "release refused");
                format!("refused: {why}").into_bytes()
            }
        };
        let _ = self.swarm.behaviour_mut().release.send_response(channel, verdict);
    }

    /// Redacts a finding, seals the withheld fields to ourselves, publishes
    /// the redacted entry.
    pub(super) fn publish_hazardous(
        &mut self,
        full: &BulletinBody,
        redaction: &Redaction,
        reply: oneshot::Sender<Result<VerifiedEntry, String>>,
    ) {
        let salts: [[u8; 32]; 5] = rand::random();
        let (redacted, reveals) = riskmesh_protocol::redaction::redact(full, redaction, &salts);
        let draft = Draft {
            kind: if redacted.supersedes.is_some() {
                Kind::Correction
            } else {
                Kind::Bulletin
            },
            tier: Tier::Hazardous,
            body: Body::Bulletin(redacted),
            recipients: None,
        };
        let sealed = match hazard::seal_for_self(&self.org, &reveals) {
            Ok(sealed) => sealed,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let entry = match self
            .log
            .append(&self.org.signing, &self.roster, &draft, super::now_ms())
        {
            Ok(entry) => entry,
            Err(reason) => {
                let _ = reply.send(Err(reason.to_string()));
                return;
            }
        };
        // The writer commits the sealed fields before the entry.
        self.submit_write(WriteJob::Withheld {
            target: entry.id(),
            sealed,
        });
        self.commit_own(entry, reply);
    }

    /// Publishes a draft of this organization (API, receipts).
    pub(super) fn publish_draft(
        &mut self,
        draft: &Draft,
        reply: oneshot::Sender<Result<VerifiedEntry, String>>,
    ) {
        match self
            .log
            .append(&self.org.signing, &self.roster, draft, super::now_ms())
        {
            Ok(entry) => self.commit_own(entry, reply),
            Err(reason) => {
                let _ = reply.send(Err(reason.to_string()));
            }
        }
    }

    /// Runs an own, freshly signed entry through the chain and the writer;
    /// the reply and the gossip happen after the commit.
    fn commit_own(&mut self, entry: VerifiedEntry, reply: oneshot::Sender<Result<VerifiedEntry, String>>) {
        let report = self.chain.ingest(entry.clone(), super::now_ms());
        if report.outcome != riskmesh_protocol::Outcome::Accept {
            let _ = reply.send(Err(format!("own entry not accepted: {:?}", report.outcome)));
            self.fatal = Some("own log out of step with the store".into());
            return;
        }
        self.note_access(&entry);
        self.metrics
            .accepted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let job = WriteJob::Entries {
            entries: report.accepted,
            acks: vec![Ack::Publish { entry, reply }],
        };
        self.submit_write(job);
    }
}
