//! Storage for the hazardous tier: sealed withheld fields and the release
//! record of access requests.

use super::Store;
use super::columns::int;
use super::error::StoreResult;
use riskmesh_protocol::EntryId;
use rusqlite::{OptionalExtension, params};

/// Where a release stands on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseState {
    /// This node (the author's) sent the openings.
    Sent,
    /// This node (the requester's) received and verified the openings.
    Received,
    /// An opening did not match its commitment; the evidence (the fault
    /// proof, spec §8.9) is kept.
    Fault,
}

impl ReleaseState {
    fn code(self) -> i64 {
        match self {
            ReleaseState::Sent => 0,
            ReleaseState::Received => 1,
            ReleaseState::Fault => 2,
        }
    }

    fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(ReleaseState::Sent),
            1 => Some(ReleaseState::Received),
            2 => Some(ReleaseState::Fault),
            _ => None,
        }
    }
}

/// A recorded release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    /// The access request.
    pub request: EntryId,
    /// The hazardous entry.
    pub target: EntryId,
    /// What happened.
    pub state: ReleaseState,
    /// For a fault, the fault proof (spec §8.9), sealed to this
    /// organization.
    pub evidence: Option<Vec<u8>>,
    /// When, Unix ms.
    pub at_ms: u64,
}

impl Store {
    /// Stores sealed withheld fields of `target` (`(field code, age
    /// ciphertext)`); an existing field is kept.
    pub fn insert_withheld(&mut self, target: &EntryId, sealed: &[(u8, Vec<u8>)]) -> StoreResult<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO withheld (target, field, sealed) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            )?;
            for (field, bytes) in sealed {
                stmt.execute(params![target.0, i64::from(*field), bytes])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The sealed withheld fields of `target` held here, ascending by field.
    pub fn withheld(&self, target: &EntryId) -> StoreResult<Vec<(u8, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT field, sealed FROM withheld WHERE target = ?1 ORDER BY field")?;
        let rows = stmt
            .query_map([target.0], |row| {
                let field: i64 = row.get(0)?;
                Ok((u8::try_from(field).unwrap_or(u8::MAX), row.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Records a release; the first record for a request wins.
    pub fn record_release(
        &mut self,
        request: &EntryId,
        target: &EntryId,
        state: ReleaseState,
        evidence: Option<&[u8]>,
        at_ms: u64,
    ) -> StoreResult<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "INSERT INTO releases (request, target, state, evidence, at_ms) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (request) DO NOTHING",
            )?
            .execute(params![
                request.0,
                target.0,
                state.code(),
                evidence,
                int(at_ms, "at_ms")?
            ])?;
        Ok(changed == 1)
    }

    /// The release record of a request.
    pub fn release(&self, request: &EntryId) -> StoreResult<Option<ReleaseRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT request, target, state, evidence, at_ms FROM releases WHERE request = ?1",
        )?;
        let record = stmt.query_row([request.0], release_from_row).optional()?;
        Ok(record.flatten())
    }

    /// Test kit: from now on every release record fails to commit (a
    /// trigger in the database file aborts the insert, whichever connection
    /// writes), or, with `fail` false, records commit again. For tests of
    /// what a node does when a commit fails; never part of a real node.
    #[cfg(feature = "testnet")]
    pub fn fail_release_records(&self, fail: bool) -> StoreResult<()> {
        self.conn.execute_batch(if fail {
            "CREATE TRIGGER IF NOT EXISTS testnet_fail_release_records BEFORE INSERT ON releases \
             BEGIN SELECT RAISE(ABORT, 'testnet: release records fail to commit'); END;"
        } else {
            "DROP TRIGGER IF EXISTS testnet_fail_release_records;"
        })?;
        Ok(())
    }
}

fn release_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<ReleaseRecord>> {
    let request: [u8; 32] = row.get(0)?;
    let target: [u8; 32] = row.get(1)?;
    let state: i64 = row.get(2)?;
    let at: i64 = row.get(4)?;
    Ok(ReleaseState::from_code(state).map(|state| ReleaseRecord {
        request: riskmesh_protocol::Hash32(request),
        target: riskmesh_protocol::Hash32(target),
        state,
        evidence: row.get(3).ok().flatten(),
        at_ms: u64::try_from(at).unwrap_or(0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_protocol::Hash32;

    #[test]
    fn withheld_and_releases_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::create(dir.path().join("db")).expect("create");
        let target = Hash32::of(b"t");
        store
            .insert_withheld(&target, &[(0, vec![1, 2]), (4, vec![3])])
            .expect("insert");
        store.insert_withheld(&target, &[(0, vec![9])]).expect("again");
        assert_eq!(
            store.withheld(&target).expect("read"),
            vec![(0, vec![1, 2]), (4, vec![3])]
        );
        let request = Hash32::of(b"r");
        assert!(
            store
                .record_release(&request, &target, ReleaseState::Sent, None, 5)
                .expect("record")
        );
        assert!(
            !store
                .record_release(&request, &target, ReleaseState::Fault, Some(b"x"), 6)
                .expect("again")
        );
        let record = store.release(&request).expect("read").expect("present");
        assert_eq!((record.state, record.at_ms), (ReleaseState::Sent, 5));
        assert_eq!(store.release(&target).expect("read"), None);
    }
}
