//! Test-only damage to a stored database, as a faulty disk or a careless
//! tool might do it, for the checks that must notice (`reverify`). It lives
//! here because SQL is written only in this module tree.

use super::Store;
use riskmesh_protocol::{EntryId, OrgKey};
use rusqlite::params;

impl Store {
    /// Deletes `author`'s entry at `seq` (and its body), leaving a hole in
    /// the chain.
    pub(crate) fn damage_delete_entry(&mut self, author: &OrgKey, seq: u64) {
        let deleted = self
            .conn
            .execute(
                "DELETE FROM entries WHERE author = ?1 AND seq = ?2",
                params![author.0, seq as i64],
            )
            .expect("damage");
        assert_eq!(deleted, 1, "no entry at seq {seq} to delete");
    }

    /// Replaces the stored body of entry `id` with `body`.
    pub(crate) fn damage_replace_body(&mut self, id: &EntryId, body: &[u8]) {
        let updated = self
            .conn
            .execute(
                "UPDATE bodies SET body = ?2 WHERE local_id = (SELECT local_id FROM entries WHERE id = ?1)",
                params![id.0, body],
            )
            .expect("damage");
        assert_eq!(updated, 1, "no stored body to replace");
    }
}
