//! The roster updates of the membership scenario, drafted as a consortium
//! would: from the heads the proposer's node holds, signed by every voter
//! of the version in force with the key it holds now.

use riskmesh_node::store::{Head, Store};
use riskmesh_protocol::roster::{RetireReason, RetiredKey};
use riskmesh_protocol::{EntryId, OrgKey, OrgSecrets, Role, Roster, SignedRoster, testkit};
use std::path::Path;

/// The head of `author`'s log in the database at `db`, read-only (its node
/// may be running: this is what the node has committed).
pub(super) fn head_in(db: &Path, author: &OrgKey) -> Result<Option<Head>, String> {
    let store = Store::open_read_only(db).map_err(|e| format!("open {}: {e}", db.display()))?;
    store
        .head(author)
        .map_err(|e| format!("read {}: {e}", db.display()))
}

/// The entry at `seq` of `author`'s log in the database at `db`, as
/// `(id, timestamp_ms)`.
pub(super) fn entry_in(db: &Path, author: &OrgKey, seq: u64) -> Result<Option<(EntryId, u64)>, String> {
    let store = Store::open_read_only(db).map_err(|e| format!("open {}: {e}", db.display()))?;
    let entry = store
        .by_author_seq(author, seq)
        .map_err(|e| format!("read {}: {e}", db.display()))?;
    Ok(entry.map(|e| (e.meta.id, e.meta.timestamp_ms)))
}

/// Stores every roster version of `chain` (oldest first) in the database
/// at `db`, as a node that learned them while it was down would have: a
/// node restarting under a rotated key must find the version that lists
/// that key. Entries past a retired key's prefix go with it.
pub(super) fn store_rosters(db: &Path, chain: &[Roster]) -> Result<(), String> {
    let mut store = Store::open(db).map_err(|e| format!("open {}: {e}", db.display()))?;
    for roster in chain {
        store
            .save_roster(roster)
            .map_err(|e| format!("store roster version {}: {e}", roster.version()))?;
    }
    store.close().map_err(|e| format!("close {}: {e}", db.display()))
}

/// The keys the members of `current` sign with: generation `generation(org)`
/// of each (see [`testkit::rotated_secrets`]).
pub(super) fn voter_keys(current: &Roster, generation: &dyn Fn(&str) -> u32) -> Vec<OrgSecrets> {
    current
        .doc()
        .members
        .iter()
        .filter(|m| m.role == Role::Member)
        .map(|m| testkit::rotated_secrets(&m.org, generation(&m.org)))
        .collect()
}

fn sign_next(
    current: &Roster,
    edit: impl FnOnce(&mut riskmesh_protocol::RosterDoc),
    prefix: &dyn Fn(&OrgKey) -> Option<(u64, EntryId)>,
    voters: &[OrgSecrets],
) -> SignedRoster {
    let keys: Vec<&OrgSecrets> = voters.iter().collect();
    testkit::next_roster(current, edit, prefix, &keys)
}

/// Removes `org`; its key is retired `removed` with the valid prefix
/// `prefix` (`None`: nothing of its log stays valid).
pub(super) fn leave(
    current: &Roster,
    org: &str,
    prefix: Option<(u64, EntryId)>,
    voters: &[OrgSecrets],
) -> SignedRoster {
    sign_next(
        current,
        |doc| doc.members.retain(|m| m.org != org),
        &|_| prefix,
        voters,
    )
}

/// Gives `new.org` the keys of `new`, keeping its nodes and addresses; its
/// old signing key is retired `rotated` with the valid prefix `prefix`.
pub(super) fn rotate(
    current: &Roster,
    new: &OrgSecrets,
    prefix: Option<(u64, EntryId)>,
    voters: &[OrgSecrets],
) -> SignedRoster {
    let edit = |doc: &mut riskmesh_protocol::RosterDoc| {
        for m in doc.members.iter_mut().filter(|m| m.org == new.org) {
            m.signing_key = new.signing.public();
            m.encryption_key = new.encryption.public().0;
        }
    };
    sign_next(current, edit, &|_| prefix, voters)
}

/// Marks the retired key `key` compromised with the (shorter or equal)
/// valid prefix `prefix`. `None` if `key` is not retired on `current`.
pub(super) fn compromise(
    current: &Roster,
    key: &OrgKey,
    prefix: Option<(u64, EntryId)>,
    voters: &[OrgSecrets],
) -> Option<SignedRoster> {
    let retired = current.retired(key)?.clone();
    let record = RetiredKey {
        reason: RetireReason::Compromised,
        last_seq: prefix.map_or(0, |(seq, _)| seq),
        last_id: prefix.map(|(_, id)| id),
        ..retired
    };
    Some(sign_next(current, |doc| doc.retire(record), &|_| None, voters))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leave_rotate_and_compromise_make_a_valid_chain() {
        let c = testkit::consortium(testkit::NETWORK, &["amazon", "google", "meta", "openai"], &[]);
        let generation = |org: &str| u32::from(org == "meta");
        let openai = testkit::bulletins(&c.roster, "openai", 3, 1_700_000_000_000);
        let meta = testkit::bulletins(&c.roster, "meta", 4, 1_700_000_000_000);
        let at = |e: &riskmesh_protocol::VerifiedEntry| Some((e.header().seq, e.id()));

        let v2 = c
            .roster
            .apply_update(&leave(
                &c.roster,
                "openai",
                at(&openai[2]),
                &voter_keys(&c.roster, &|_| 0),
            ))
            .expect("leave applies");
        let new = testkit::rotated_secrets("meta", 1);
        let v3 = v2
            .apply_update(&rotate(&v2, &new, at(&meta[3]), &voter_keys(&v2, &|_| 0)))
            .expect("rotation applies");
        let old = testkit::org_secrets("meta").signing.public();
        let update = compromise(&v3, &old, at(&meta[1]), &voter_keys(&v3, &generation)).expect("retired");
        let v4 = v3.apply_update(&update).expect("compromise applies");

        let record = v4.retired(&old).expect("old key retired");
        assert_eq!((record.reason, record.last_seq), (RetireReason::Compromised, 2));
        assert_eq!(
            v4.member_by_org("meta").map(|m| m.signing_key),
            Some(new.signing.public())
        );
        assert!(v4.member_by_org("openai").is_none());
        let removed = v4.retired(&testkit::org_secrets("openai").signing.public());
        assert_eq!(
            removed.map(|r| (r.reason, r.last_seq)),
            Some((RetireReason::Removed, 3))
        );
        assert!(
            compromise(&v4, &new.signing.public(), None, &[]).is_none(),
            "a current key"
        );
    }
}
