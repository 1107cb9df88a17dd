//! `/v1/roster`: the roster in force on this node, with the head this node
//! holds for every current and retired key (what an operator drafting the
//! next version needs, `riskmesh roster propose`), and roster updates an
//! operator offers (`riskmesh roster apply`, or `status` with `dry_run`).
//!
//! The checks are the protocol's (`Roster::apply_update`), run by the node
//! on the roster in force; this module decodes, bounds and answers.

use super::entries::bad_request;
use super::{ApiError, ApiState, node_status};
use crate::runtime::{Membership, NodeError, Refusal};
use crate::setup::{MemberRole, peer_id_text};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use riskmesh_protocol::Hash32;
use riskmesh_protocol::limits::MAX_ROSTER_BYTES;
use riskmesh_protocol::roster::{Role, RosterError, SignedRoster};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest `POST /v1/roster` body: the hex of the largest signed roster
/// and room for the JSON around it.
pub const MAX_ROSTER_REQUEST_BYTES: usize = 2 * MAX_ROSTER_BYTES + 4096;

/// The answer of `GET /v1/roster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterView {
    /// Network id.
    pub network: String,
    /// Version in force (1 = genesis).
    pub version: u64,
    /// SHA-256 of the document, hex: what the next version names as `prev`.
    pub hash: String,
    /// Hash of the previous version, hex; absent for the genesis.
    pub prev: Option<String>,
    /// Change policy, `N/D`: the next version needs strictly more than this
    /// share of `voters`.
    pub quorum: String,
    /// Signatures the next version needs.
    pub signatures_needed: usize,
    /// Participants with role member: the orgs whose signatures count for
    /// the next version.
    pub voters: Vec<String>,
    /// When this version was drafted, Unix ms.
    pub created_ms: u64,
    /// Where this node's organization stands on it.
    pub membership: Membership,
    /// The signed roster as stored and gossiped, hex (canonical CBOR).
    pub signed: String,
    /// Participants, in roster order.
    pub participants: Vec<ParticipantView>,
    /// Retired keys, ascending by key.
    pub retired: Vec<RetiredView>,
    /// The head this node holds for every current and retired key.
    pub heads: Vec<HeadView>,
}

/// One participant of the roster in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantView {
    /// Org id.
    pub org: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: MemberRole,
    /// Ed25519 signing key, hex.
    pub signing_key: String,
    /// Node peer ids.
    pub nodes: Vec<String>,
    /// Bootstrap addresses.
    pub addrs: Vec<String>,
}

/// A retired key and the prefix of its log that stays valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredView {
    /// The organization it belonged to.
    pub org: String,
    /// The key, hex.
    pub key: String,
    /// The role it had.
    pub role: MemberRole,
    /// `removed`, `rotated` or `compromised`.
    pub reason: String,
    /// The last valid seq; 0 when none is.
    pub last_seq: u64,
    /// Id of the entry at `last_seq`, hex.
    pub last_id: Option<String>,
}

/// The head of one key's log on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadView {
    /// The organization.
    pub org: String,
    /// The signing key, hex.
    pub key: String,
    /// Whether the key is retired.
    pub retired: bool,
    /// Highest contiguous seq held; 0 when none.
    pub seq: u64,
    /// Id of the entry at `seq`, hex.
    pub id: Option<String>,
    /// Highest seq a peer announced for this key; above `seq` the node has
    /// not caught up.
    pub best_known_seq: u64,
}

/// The body of `POST /v1/roster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterOffer {
    /// The signed roster, hex (the bytes of a roster file).
    pub signed: String,
    /// Only check it against the roster in force; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What became of an offered roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferOutcome {
    /// It is in force on this node now, stored, and gossiped to the others.
    Applied,
    /// (`dry_run`) It is the valid next version and would apply.
    WouldApply,
    /// It is the version already in force here; nothing changed.
    AlreadyInForce,
}

/// The answer of `POST /v1/roster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterAnswer {
    /// The offered roster's version.
    pub version: u64,
    /// Its hash, hex.
    pub hash: String,
    /// What happened.
    pub outcome: OfferOutcome,
}

fn role(role: Role) -> MemberRole {
    role.into()
}

/// `GET /v1/roster`.
pub(crate) async fn show(State(state): State<ApiState>) -> Result<Json<RosterView>, ApiError> {
    let status = node_status(&state).await?;
    let roster = state.node.current_roster();
    let doc = roster.doc();
    let voters: Vec<String> = doc
        .members
        .iter()
        .filter(|m| m.role == Role::Member)
        .map(|m| m.org.clone())
        .collect();
    let head_of = |key: &str| status.authors.iter().find(|a| a.author == key);
    let heads = doc
        .members
        .iter()
        .map(|m| (&m.org, m.signing_key, false))
        .chain(doc.retired_keys().iter().map(|r| (&r.org, r.key, true)))
        .map(|(org, key, retired)| {
            let key = key.to_hex();
            let head = head_of(&key);
            HeadView {
                org: org.clone(),
                retired,
                seq: head.map_or(0, |h| h.seq),
                id: head.and_then(|h| h.head_id.clone()),
                best_known_seq: head.map_or(0, |h| h.best_known_seq),
                key,
            }
        })
        .collect();
    Ok(Json(RosterView {
        network: doc.network.clone(),
        version: doc.version,
        hash: roster.hash().to_hex(),
        prev: doc.prev.map(|h| h.to_hex()),
        quorum: format!(
            "{}/{}",
            doc.policy.quorum_numerator, doc.policy.quorum_denominator
        ),
        signatures_needed: doc.policy.needed(voters.len()),
        voters,
        created_ms: doc.created_ms,
        membership: Membership::of(&roster, &state.node.org_key),
        signed: hex::encode(roster.signed().to_bytes()),
        participants: doc
            .members
            .iter()
            .map(|m| ParticipantView {
                org: m.org.clone(),
                name: m.name.clone(),
                role: role(m.role),
                signing_key: m.signing_key.to_hex(),
                nodes: m.nodes.iter().map(peer_id_text).collect(),
                addrs: m.addrs.clone(),
            })
            .collect(),
        retired: doc
            .retired_keys()
            .iter()
            .map(|r| RetiredView {
                org: r.org.clone(),
                key: r.key.to_hex(),
                role: role(r.role),
                reason: r.reason.name().to_string(),
                last_seq: r.last_seq,
                last_id: r.last_id.map(|id| id.to_hex()),
            })
            .collect(),
        heads,
    }))
}

/// The typed fields of a refused roster: `roster_error` (the protocol's
/// label, spec §14.3) and what a script needs to act on it.
pub fn error_detail(error: &RosterError) -> Map<String, Value> {
    let mut detail = Map::new();
    detail.insert("roster_error".into(), error.name().into());
    match error {
        RosterError::NoQuorum {
            have,
            members,
            numerator,
            denominator,
        } => {
            let policy = riskmesh_protocol::roster::Policy {
                quorum_numerator: *numerator,
                quorum_denominator: *denominator,
            };
            let needed = policy.needed(*members);
            detail.insert("have".into(), (*have).into());
            detail.insert("needed".into(), needed.into());
            detail.insert("more".into(), needed.saturating_sub(*have).into());
            detail.insert("voters".into(), (*members).into());
            detail.insert("quorum".into(), format!("{numerator}/{denominator}").into());
        }
        RosterError::BadSignature(signer) | RosterError::UnknownSigner(signer) => {
            detail.insert("signer".into(), signer.to_hex().into());
        }
        RosterError::MissingFounder(org) => {
            detail.insert("org".into(), org.clone().into());
        }
        _ => {}
    }
    detail
}

fn refused(error: RosterError) -> ApiError {
    NodeError::Refused(Refusal::Roster(error)).into()
}

/// A request body that could not be read, in this route's terms.
fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is over the limit of {} KiB: a signed roster is at most {} KiB \
                 ({} KiB as hex)",
                MAX_ROSTER_REQUEST_BYTES / 1024,
                MAX_ROSTER_BYTES / 1024,
                2 * MAX_ROSTER_BYTES / 1024
            ),
        );
    }
    ApiError::new(rejection.status(), rejection.body_text())
}

/// Decodes the hex of a signed roster, bounded before and after decoding.
fn decode(text: &str) -> Result<SignedRoster, ApiError> {
    let text = text.trim();
    if text.len() > 2 * MAX_ROSTER_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "`signed` is {} bytes once decoded; a signed roster is at most {MAX_ROSTER_BYTES} bytes",
                text.len() / 2
            ),
        ));
    }
    let bytes = hex::decode(text).map_err(|e| {
        bad_request(format!(
            "`signed` is not hex ({e}): give the bytes of a roster file (from `riskmesh roster \
             propose`, then signed with `riskmesh roster sign`) as hex"
        ))
    })?;
    SignedRoster::from_bytes(&bytes).map_err(refused)
}

/// `POST /v1/roster`: checks an offered roster against the one in force
/// and, unless `dry_run`, applies it (stored and gossiped before the
/// answer). 200 with the outcome, or a 422 naming the roster error.
pub(crate) async fn offer(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RosterAnswer>, ApiError> {
    let bytes = body.map_err(body_rejection)?;
    let offer: RosterOffer = serde_json::from_slice(&bytes).map_err(|e| {
        bad_request(format!(
            "the request is not a roster offer ({{\"signed\": \"<hex>\", \"dry_run\": false}}): {e}"
        ))
    })?;
    let signed = decode(&offer.signed)?;
    let doc = signed.document().map_err(refused)?;
    let hash = Hash32::of(&signed.doc);
    let answer = |outcome| {
        Json(RosterAnswer {
            version: doc.version,
            hash: hash.to_hex(),
            outcome,
        })
    };
    let current = state.node.current_roster();
    if hash == current.hash() {
        return Ok(answer(OfferOutcome::AlreadyInForce));
    }
    if doc.network == current.network() && doc.version <= current.version() {
        return Err(refused(RosterError::NotSuccessor(format!(
            "it is version {}, and version {} is already in force on this node; draft the change \
             again from the roster in force (`riskmesh roster propose`)",
            doc.version,
            current.version()
        ))));
    }
    if offer.dry_run {
        // Signature checks are CPU work: off the async threads.
        let checked = tokio::task::spawn_blocking(move || current.apply_update(&signed).map(|_| ()))
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("checking the roster failed: {e}"),
                )
            })?;
        checked.map_err(refused)?;
        return Ok(answer(OfferOutcome::WouldApply));
    }
    state.node.offer_roster(signed).await?;
    Ok(answer(OfferOutcome::Applied))
}
