//! The release policy's verdict on one access request (spec §8.6): a pure
//! function of the roster, the hazardous entry's author and policy, and the
//! log's facts about the request (its decisions and the retractions that
//! touch it), so that the author's node, an auditing node and the vectors
//! all reach the same answer from the same log.

use crate::ids::{EntryId, OrgKey};
use crate::redaction::ReleasePolicy;
use crate::roster::{Role, Roster};

/// An access decision on the request as the log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedDecision {
    /// The access-decision entry's id (what a retraction of it names).
    pub id: EntryId,
    /// Its author: the deciding organization.
    pub approver: OrgKey,
    /// Grant (true) or deny (false).
    pub grant: bool,
}

/// A retraction as the log records it: who retracted which entry. It counts
/// only when `author` is the author of the entry it names (spec §17), so
/// nobody can revoke another organization's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedRetraction {
    /// The retraction's author.
    pub author: OrgKey,
    /// The retracted entry.
    pub target: EntryId,
}

/// What the log holds about one access request when the evaluator runs:
/// the author's node builds it from its store at the moment it acts.
#[derive(Debug, Clone, Copy)]
pub struct RequestLog<'a> {
    /// The hazardous entry the request names.
    pub entry: EntryId,
    /// The access request's id.
    pub request: EntryId,
    /// The access request's author.
    pub requester: OrgKey,
    /// Decisions whose `request` is this request, in log order (for one
    /// approver, its `seq` order).
    pub decisions: &'a [RecordedDecision],
    /// Retractions whose target is the hazardous entry, the request or one
    /// of the decisions, by anyone (the evaluator keeps those that count).
    pub retractions: &'a [RecordedRetraction],
}

impl RequestLog<'_> {
    /// Whether `id`, authored by `author`, is retracted by its own author.
    fn retracted(&self, id: &EntryId, author: &OrgKey) -> bool {
        self.retractions
            .iter()
            .any(|r| r.target == *id && r.author == *author)
    }

    /// Steps 1 and 2 of the evaluation (spec §8.6), which need no roster:
    /// whether a retraction revoked the request for an entry by `author`.
    pub fn revocation(&self, author: &OrgKey) -> Option<Revocation> {
        if self.retracted(&self.entry, author) {
            Some(Revocation::EntryRetracted)
        } else if self.retracted(&self.request, &self.requester) {
            Some(Revocation::RequestRetracted)
        } else {
            None
        }
    }
}

/// Why a request is revoked: a retraction took it off the table for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    /// The hazardous entry's author retracted it (with or without purge).
    EntryRetracted,
    /// The requester retracted its access request.
    RequestRetracted,
}

impl Revocation {
    /// Stable name (spec §14.3).
    pub fn name(&self) -> &'static str {
        match self {
            Revocation::EntryRetracted => "entry_retracted",
            Revocation::RequestRetracted => "request_retracted",
        }
    }
}

/// Where an access request stands under its entry's release policy and the
/// log: only [`Verdict::Granted`] releases anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// A retraction revoked the request; nothing is released, whatever the
    /// decisions, now or later.
    Revoked(Revocation),
    /// The requester may not ask; nothing is released, whatever the
    /// decisions.
    NotAllowed(Ineligible),
    /// The policy's effective approvers are fewer than the threshold (for
    /// example the requester is the only named approver, and its own
    /// decisions never count): no decision can ever grant it.
    NeverGrantable {
        /// Approvers whose decisions count on this request.
        approvers: usize,
        /// The threshold.
        needed: usize,
    },
    /// Fewer than the threshold of distinct approvers grant, and enough have
    /// not denied for it still to be reached.
    Pending {
        /// Distinct approvers whose standing decision grants.
        grants: usize,
        /// The threshold.
        needed: usize,
    },
    /// So many approvers deny that the threshold can no longer be reached
    /// (not final: an approver may decide again).
    Denied,
    /// The threshold of distinct approvers grant: release.
    Granted,
}

impl Verdict {
    /// Stable name (spec §14.3): `revoked`, `not_allowed`,
    /// `never_grantable`, `pending`, `denied` or `granted`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Revoked(_) => "revoked",
            Verdict::NotAllowed(_) => "not_allowed",
            Verdict::NeverGrantable { .. } => "never_grantable",
            Verdict::Pending { .. } => "pending",
            Verdict::Denied => "denied",
            Verdict::Granted => "granted",
        }
    }
}

/// Why an organization may not request a hazardous entry's withheld fields
/// (steps 3 and 4 of the evaluation, spec §8.6). A request by such an
/// organization is [`Verdict::NotAllowed`] whatever the decisions on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ineligible {
    /// The requester is not a roster participant.
    #[error("the requester is not on the roster")]
    NotOnRoster,
    /// The requester is the entry's author (it holds the fields already).
    #[error("the requester is the entry's author")]
    Author,
    /// The requester is an observer and the policy does not let observers
    /// request.
    #[error("the requester is an observer and the release policy admits members only")]
    Observer,
}

impl Ineligible {
    /// Stable name (spec §14.3).
    pub fn name(&self) -> &'static str {
        match self {
            Ineligible::NotOnRoster => "not_on_roster",
            Ineligible::Author => "author",
            Ineligible::Observer => "observer",
        }
    }
}

/// Whether `requester` may request the withheld fields of an entry by
/// `author` under `policy` (spec §8.6 steps 3 and 4).
pub fn may_request(
    roster: &Roster,
    author: &OrgKey,
    policy: &ReleasePolicy,
    requester: &OrgKey,
) -> Result<(), Ineligible> {
    let Some(member) = roster.member(requester) else {
        return Err(Ineligible::NotOnRoster);
    };
    if requester == author {
        return Err(Ineligible::Author);
    }
    if member.role == Role::Observer && !policy.observers_may_request {
        return Err(Ineligible::Observer);
    }
    Ok(())
}

/// The organizations whose decisions count on `requester`'s request for an
/// entry by `author` under `policy` (spec §8.6 step 5): the author alone if
/// the policy names no approvers, otherwise the named approvers that are
/// roster participants with role member, less the requester (no
/// organization approves its own request).
pub fn approvers(
    roster: &Roster,
    author: &OrgKey,
    policy: &ReleasePolicy,
    requester: &OrgKey,
) -> Vec<OrgKey> {
    if policy.approvers.is_empty() {
        return vec![*author];
    }
    policy
        .approvers
        .iter()
        .filter(|a| roster.member(a).is_some_and(|m| m.role == Role::Member))
        .filter(|a| *a != requester)
        .copied()
        .collect()
}

/// The release policy's verdict on the request `log` describes, for an
/// entry by `author` under `policy` (spec §8.6). Retractions come first: a
/// retracted hazardous entry or request is [`Verdict::Revoked`]. Then
/// decisions by organizations that are not [`approvers`] are ignored (the
/// requester's own included); each approver's latest decision stands unless
/// that approver retracted it, in which case the approver has no standing
/// decision (a retraction withdraws a decision, it does not revive the one
/// it replaced).
pub fn evaluate(roster: &Roster, author: &OrgKey, policy: &ReleasePolicy, log: &RequestLog<'_>) -> Verdict {
    if let Some(why) = log.revocation(author) {
        return Verdict::Revoked(why);
    }
    if let Err(why) = may_request(roster, author, policy, &log.requester) {
        return Verdict::NotAllowed(why);
    }
    let approvers = approvers(roster, author, policy, &log.requester);
    let needed = usize::try_from(policy.threshold).unwrap_or(usize::MAX).max(1);
    if approvers.len() < needed {
        return Verdict::NeverGrantable {
            approvers: approvers.len(),
            needed,
        };
    }
    let mut latest: Vec<&RecordedDecision> = Vec::new();
    for decision in log.decisions.iter().filter(|d| approvers.contains(&d.approver)) {
        match latest.iter_mut().find(|d| d.approver == decision.approver) {
            Some(slot) => *slot = decision,
            None => latest.push(decision),
        }
    }
    latest.retain(|d| !log.retracted(&d.id, &d.approver));
    let grants = latest.iter().filter(|d| d.grant).count();
    let denials = latest.len() - grants;
    if grants >= needed {
        Verdict::Granted
    } else if approvers.len().saturating_sub(denials) < needed {
        Verdict::Denied
    } else {
        Verdict::Pending { grants, needed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Hash32;
    use crate::testkit;

    fn policy(c: &testkit::Consortium, approvers: &[&str], threshold: u64, observers: bool) -> ReleasePolicy {
        let mut approvers: Vec<OrgKey> = approvers.iter().map(|o| c.org(o).signing.public()).collect();
        approvers.sort();
        ReleasePolicy {
            observers_may_request: observers,
            approvers,
            threshold,
        }
    }

    const ENTRY: Hash32 = Hash32([0xee; 32]);
    const REQUEST: Hash32 = Hash32([0xaa; 32]);

    /// Decisions numbered in log order: decision `i` has id `[i; 32]`.
    fn decided(d: &[(OrgKey, bool)]) -> Vec<RecordedDecision> {
        d.iter()
            .enumerate()
            .map(|(i, (approver, grant))| RecordedDecision {
                id: Hash32([i as u8; 32]),
                approver: *approver,
                grant: *grant,
            })
            .collect()
    }

    fn verdict(
        c: &testkit::Consortium,
        author: &OrgKey,
        policy: &ReleasePolicy,
        requester: &OrgKey,
        decisions: &[(OrgKey, bool)],
        retractions: &[RecordedRetraction],
    ) -> Verdict {
        let decisions = decided(decisions);
        let log = RequestLog {
            entry: ENTRY,
            request: REQUEST,
            requester: *requester,
            decisions: &decisions,
            retractions,
        };
        evaluate(&c.roster, author, policy, &log)
    }

    #[test]
    fn k_of_n_needs_k_distinct_named_approvers() {
        let c = testkit::signatories();
        let key = |o: &str| c.org(o).signing.public();
        let author = key("meta");
        let p = policy(&c, &["anthropic", "google", "openai"], 2, false);
        let requester = key("microsoft");
        let eval = |d: &[(OrgKey, bool)]| verdict(&c, &author, &p, &requester, d, &[]);
        assert_eq!(eval(&[]), Verdict::Pending { grants: 0, needed: 2 });
        assert_eq!(
            eval(&[(key("anthropic"), true)]),
            Verdict::Pending { grants: 1, needed: 2 }
        );
        // The same approver twice is one approval; an unnamed org does not count.
        assert_eq!(
            eval(&[
                (key("anthropic"), true),
                (key("anthropic"), true),
                (key("amazon"), true)
            ]),
            Verdict::Pending { grants: 1, needed: 2 }
        );
        assert_eq!(
            eval(&[(key("anthropic"), true), (key("google"), true)]),
            Verdict::Granted
        );
        // Two denials of three leave the threshold unreachable.
        assert_eq!(
            eval(&[(key("anthropic"), false), (key("google"), false)]),
            Verdict::Denied
        );
        // A later decision replaces an earlier one by the same approver.
        assert_eq!(
            eval(&[
                (key("anthropic"), true),
                (key("anthropic"), false),
                (key("google"), true)
            ]),
            Verdict::Pending { grants: 1, needed: 2 }
        );
    }

    #[test]
    fn a_retracted_approval_never_counts_toward_a_grant() {
        let c = testkit::signatories();
        let key = |o: &str| c.org(o).signing.public();
        let author = key("meta");
        let p = policy(&c, &["anthropic", "google", "openai"], 2, false);
        let requester = key("microsoft");
        // anthropic approves (decision 0) and retracts it; google approves.
        let decisions = [(key("anthropic"), true), (key("google"), true)];
        let retract = |by: &str, id: u8| RecordedRetraction {
            author: key(by),
            target: Hash32([id; 32]),
        };
        assert_eq!(
            verdict(
                &c,
                &author,
                &p,
                &requester,
                &decisions,
                &[retract("anthropic", 0)]
            ),
            Verdict::Pending { grants: 1, needed: 2 }
        );
        // Only the decision's author can retract it.
        assert_eq!(
            verdict(&c, &author, &p, &requester, &decisions, &[retract("openai", 0)]),
            Verdict::Granted
        );
        // Retracting the latest decision does not revive the one it replaced.
        let flip = [
            (key("anthropic"), true),
            (key("anthropic"), false),
            (key("google"), true),
        ];
        assert_eq!(
            verdict(&c, &author, &p, &requester, &flip, &[retract("anthropic", 1)]),
            Verdict::Pending { grants: 1, needed: 2 }
        );
        // A new approval after the retraction counts.
        let again = [
            (key("anthropic"), true),
            (key("anthropic"), true),
            (key("google"), true),
        ];
        assert_eq!(
            verdict(&c, &author, &p, &requester, &again, &[retract("anthropic", 0)]),
            Verdict::Granted
        );
    }

    #[test]
    fn a_retracted_entry_or_request_is_revoked_whatever_the_decisions() {
        let c = testkit::signatories();
        let key = |o: &str| c.org(o).signing.public();
        let author = key("meta");
        let p = policy(&c, &[], 1, false);
        let requester = key("google");
        let granted = [(author, true)];
        let by = |who: OrgKey, target: Hash32| RecordedRetraction { author: who, target };
        assert_eq!(
            verdict(&c, &author, &p, &requester, &granted, &[]),
            Verdict::Granted
        );
        assert_eq!(
            verdict(&c, &author, &p, &requester, &granted, &[by(author, ENTRY)]),
            Verdict::Revoked(Revocation::EntryRetracted)
        );
        assert_eq!(
            verdict(&c, &author, &p, &requester, &granted, &[by(requester, REQUEST)]),
            Verdict::Revoked(Revocation::RequestRetracted)
        );
        // Retractions by anyone else revoke nothing.
        assert_eq!(
            verdict(
                &c,
                &author,
                &p,
                &requester,
                &granted,
                &[by(requester, ENTRY), by(author, REQUEST)]
            ),
            Verdict::Granted
        );
    }

    #[test]
    fn a_sole_approver_requesting_is_never_grantable() {
        let c = testkit::signatories();
        let key = |o: &str| c.org(o).signing.public();
        let p = policy(&c, &["google"], 1, false);
        assert_eq!(
            verdict(
                &c,
                &key("meta"),
                &p,
                &key("google"),
                &[(key("google"), true)],
                &[]
            ),
            Verdict::NeverGrantable {
                approvers: 0,
                needed: 1
            }
        );
    }

    #[test]
    fn observers_and_authors_may_not_request_unless_allowed() {
        let c = testkit::signatories();
        let author = c.org("meta").signing.public();
        let observer = c.org("safety-institute").signing.public();
        let closed = policy(&c, &[], 1, false);
        assert_eq!(
            verdict(&c, &author, &closed, &observer, &[(author, true)], &[]),
            Verdict::NotAllowed(Ineligible::Observer)
        );
        assert_eq!(
            verdict(&c, &author, &closed, &author, &[(author, true)], &[]),
            Verdict::NotAllowed(Ineligible::Author)
        );
        let open = policy(&c, &[], 1, true);
        assert_eq!(
            verdict(&c, &author, &open, &observer, &[(author, true)], &[]),
            Verdict::Granted
        );
        // With no named approvers only the author's decision counts.
        let member = c.org("google").signing.public();
        assert_eq!(
            verdict(
                &c,
                &author,
                &open,
                &member,
                &[(c.org("openai").signing.public(), true)],
                &[]
            ),
            Verdict::Pending { grants: 0, needed: 1 }
        );
    }

    #[test]
    fn eligibility_and_approvers_are_the_evaluations_steps() {
        let c = testkit::signatories();
        let key = |o: &str| c.org(o).signing.public();
        let author = key("meta");
        let closed = policy(&c, &["anthropic", "google", "academic-lab"], 1, false);
        assert_eq!(
            may_request(&c.roster, &author, &closed, &key("safety-institute")),
            Err(Ineligible::Observer)
        );
        assert_eq!(
            may_request(&c.roster, &author, &closed, &author),
            Err(Ineligible::Author)
        );
        let outsider = testkit::org_secrets("outsider").signing.public();
        assert_eq!(
            may_request(&c.roster, &author, &closed, &outsider),
            Err(Ineligible::NotOnRoster)
        );
        assert_eq!(may_request(&c.roster, &author, &closed, &key("google")), Ok(()));
        // The observer among the named approvers never counts, nor does the
        // requester itself.
        let mut expected = vec![key("anthropic")];
        expected.sort();
        assert_eq!(approvers(&c.roster, &author, &closed, &key("google")), expected);
        assert_eq!(
            approvers(&c.roster, &author, &policy(&c, &[], 1, false), &key("google")),
            vec![author]
        );
    }
}
