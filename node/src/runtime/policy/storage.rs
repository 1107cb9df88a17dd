//! Storage budgets: how many bytes of entries each author may keep on this
//! node (by roster role), and a floor of free disk below which no new entry
//! is taken. Sans-IO: the driver reports stored bytes at start-up, each
//! commit and each purge, and free disk space when it reads it; `admit`
//! answers from those numbers alone.
//!
//! Without budgets any participant can make every node store what it
//! publishes as fast as gossip carries it (about 150 MiB a minute was
//! measured), until the disk is full and the node stops on a failed commit.
//! A budget turns that into a refusal of one author's new entries, and the
//! floor keeps room for SQLite (the write-ahead log, checkpoints,
//! migrations) and for everything else on the disk.
//!
//! An entry's size is [`entry_bytes`]: envelope plus body as stored, the
//! same count as `Store::stored_bytes_by_author`.

use riskmesh_protocol::{OrgKey, Role, VerifiedEntry};
use std::collections::HashMap;

/// Default budget of a member organization: 1 GiB of envelopes and bodies.
/// At 10 KiB per bulletin that is about 100 000 entries, decades of honest
/// publishing; a flood at 150 MiB a minute is stopped in under 7 minutes.
pub const MEMBER_BUDGET_BYTES: u64 = 1 << 30;
/// Default budget of an observer: 256 MiB. Observers publish only at the
/// public and consortium tiers, and typically far less than members.
pub const OBSERVER_BUDGET_BYTES: u64 = 256 << 20;
/// Default absolute free-disk floor: 256 MiB, room for SQLite to finish a
/// checkpoint and for the node's other files.
pub const FREE_DISK_FLOOR_BYTES: u64 = 256 << 20;
/// Default relative free-disk floor: 1 % of the file system, so a node on a
/// large shared disk leaves the others a share proportionate to the disk.
pub const FREE_DISK_FLOOR_PERCENT: u8 = 1;

/// The bounds a [`StorageBudget`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageLimits {
    /// Most bytes a member may have stored.
    pub member_bytes: u64,
    /// Most bytes an observer may have stored.
    pub observer_bytes: u64,
    /// New entries are refused while free space is below this many bytes.
    pub free_disk_floor_bytes: u64,
    /// New entries are refused while free space is below this percentage of
    /// the file system's size (whichever floor is higher applies).
    pub free_disk_floor_percent: u8,
}

impl Default for StorageLimits {
    fn default() -> Self {
        StorageLimits {
            member_bytes: MEMBER_BUDGET_BYTES,
            observer_bytes: OBSERVER_BUDGET_BYTES,
            free_disk_floor_bytes: FREE_DISK_FLOOR_BYTES,
            free_disk_floor_percent: FREE_DISK_FLOOR_PERCENT,
        }
    }
}

impl StorageLimits {
    /// The budget of an author with this role.
    pub fn budget(&self, role: Role) -> u64 {
        match role {
            Role::Member => self.member_bytes,
            Role::Observer => self.observer_bytes,
        }
    }

    /// The free space below which new entries are refused, on a file system
    /// of `total_bytes`.
    pub fn floor(&self, total_bytes: u64) -> u64 {
        let relative = total_bytes / 100 * u64::from(self.free_disk_floor_percent);
        self.free_disk_floor_bytes.max(relative)
    }
}

/// Free space of the file system holding the database, as the driver read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes available to the node's user.
    pub available: u64,
    /// Size of the file system.
    pub total: u64,
}

/// Why a new entry is not stored. The entry is ignored, not rejected: it is
/// valid, this node has no room for it, and a peer is not at fault for
/// relaying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageRefusal {
    /// The author's stored bytes plus this entry would exceed its role's
    /// budget.
    #[error(
        "author {author} has {stored} bytes stored; {entry} more would exceed the {role:?} budget of {budget} bytes"
    )]
    AuthorBudget {
        /// The entry's author.
        author: OrgKey,
        /// The author's role, which chose the budget.
        role: Role,
        /// Bytes the author has stored.
        stored: u64,
        /// Bytes of the refused entry.
        entry: u64,
        /// The budget.
        budget: u64,
    },
    /// Free disk space is below the floor; the operator must free space or
    /// move the data directory.
    #[error(
        "only {available} bytes free on the database's disk, below the floor of {floor}; free space or move the data directory"
    )]
    DiskFloor {
        /// Bytes free, as last read and less what was stored since.
        available: u64,
        /// The floor in force.
        floor: u64,
    },
}

impl StorageRefusal {
    /// Stable name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            StorageRefusal::AuthorBudget { .. } => "storage_budget",
            StorageRefusal::DiskFloor { .. } => "disk_floor",
        }
    }
}

/// Bytes an entry takes in storage: its envelope and its body, if any.
pub fn entry_bytes(entry: &VerifiedEntry) -> u64 {
    entry.stored_len() as u64
}

/// Stored bytes by author role, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoleTotals {
    /// Bytes stored by members.
    pub members: u64,
    /// Bytes stored by observers.
    pub observers: u64,
    /// Bytes stored by authors no longer on the roster.
    pub former: u64,
}

/// Per-author stored bytes against their budgets, and the free-disk floor.
#[derive(Debug)]
pub struct StorageBudget {
    limits: StorageLimits,
    // bounded: one entry per author that has stored entries; only verified
    // entries (roster participants, at most MAX_ROSTER_MEMBERS per version)
    // are recorded.
    stored: HashMap<OrgKey, u64>,
    /// The last reading, less the bytes recorded since (so a flood between
    /// two readings still meets the floor). `None` until the first reading:
    /// an unknown disk refuses nothing.
    disk: Option<DiskSpace>,
}

impl StorageBudget {
    /// A budget with nothing stored and no disk reading yet.
    pub fn new(limits: StorageLimits) -> Self {
        StorageBudget {
            limits,
            stored: HashMap::new(),
            disk: None,
        }
    }

    /// Sets an author's stored bytes, at start-up from
    /// `Store::stored_bytes_by_author`.
    pub fn restore(&mut self, author: OrgKey, bytes: u64) {
        self.stored.insert(author, bytes);
    }

    /// Takes a new reading of the database disk's free space.
    pub fn free_disk(&mut self, space: DiskSpace) {
        self.disk = Some(space);
    }

    /// Whether an entry of `bytes` by `author` (with this `role` in the
    /// roster in force) may be stored now. Checked before the entry enters
    /// the chain validator, so a refused entry is not accepted in memory
    /// either. Does not reserve: call [`StorageBudget::record`] when the
    /// entry is committed.
    pub fn admit(&self, author: OrgKey, role: Role, bytes: u64) -> Result<(), StorageRefusal> {
        if let Some(disk) = self.disk {
            let floor = self.limits.floor(disk.total);
            if disk.available.saturating_sub(bytes) < floor {
                return Err(StorageRefusal::DiskFloor {
                    available: disk.available,
                    floor,
                });
            }
        }
        let stored = self.stored(&author);
        let budget = self.limits.budget(role);
        if stored.saturating_add(bytes) > budget {
            return Err(StorageRefusal::AuthorBudget {
                author,
                role,
                stored,
                entry: bytes,
                budget,
            });
        }
        Ok(())
    }

    /// Counts `bytes` committed for `author` (an entry stored, or a body
    /// added to a stored header).
    pub fn record(&mut self, author: OrgKey, bytes: u64) {
        let stored = self.stored.entry(author).or_default();
        *stored = stored.saturating_add(bytes);
        if let Some(disk) = &mut self.disk {
            disk.available = disk.available.saturating_sub(bytes);
        }
    }

    /// Gives back `bytes` of `author` whose body was purged.
    pub fn purged(&mut self, author: OrgKey, bytes: u64) {
        if let Some(stored) = self.stored.get_mut(&author) {
            *stored = stored.saturating_sub(bytes);
        }
    }

    /// Bytes `author` has stored.
    pub fn stored(&self, author: &OrgKey) -> u64 {
        self.stored.get(author).copied().unwrap_or(0)
    }

    /// Stored bytes summed by each author's role (`role_of` looks it up in
    /// the roster in force; `None` for an author no longer on it).
    pub fn totals_by_role(&self, role_of: impl Fn(&OrgKey) -> Option<Role>) -> RoleTotals {
        let mut totals = RoleTotals::default();
        for (author, bytes) in &self.stored {
            let slot = match role_of(author) {
                Some(Role::Member) => &mut totals.members,
                Some(Role::Observer) => &mut totals.observers,
                None => &mut totals.former,
            };
            *slot += bytes;
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    fn org(n: u8) -> OrgKey {
        OrgKey([n; 32])
    }

    fn small() -> StorageLimits {
        StorageLimits {
            member_bytes: 1000,
            observer_bytes: 250,
            free_disk_floor_bytes: 0,
            free_disk_floor_percent: 0,
        }
    }

    #[test]
    fn an_author_is_refused_beyond_its_roles_budget_and_others_are_not() {
        let mut budget = StorageBudget::new(small());
        budget
            .admit(org(1), Role::Observer, 250)
            .expect("exactly the budget fits");
        budget.record(org(1), 200);
        assert_eq!(
            budget.admit(org(1), Role::Observer, 51),
            Err(StorageRefusal::AuthorBudget {
                author: org(1),
                role: Role::Observer,
                stored: 200,
                entry: 51,
                budget: 250,
            })
        );
        budget.admit(org(1), Role::Observer, 50).expect("fits");
        // The same bytes under a member's budget, and another author, pass.
        budget.admit(org(1), Role::Member, 51).expect("member budget");
        budget.admit(org(2), Role::Observer, 250).expect("another author");
    }

    #[test]
    fn a_flood_stops_at_the_budget_and_a_purge_gives_room_back() {
        let mut budget = StorageBudget::new(StorageLimits {
            free_disk_floor_bytes: 0,
            free_disk_floor_percent: 0,
            ..StorageLimits::default()
        });
        let entry = 260 * 1024;
        let mut stored = 0;
        while budget.admit(org(7), Role::Observer, entry).is_ok() {
            budget.record(org(7), entry);
            stored += entry;
        }
        assert!(stored <= OBSERVER_BUDGET_BYTES && stored + entry > OBSERVER_BUDGET_BYTES);
        assert_eq!(budget.stored(&org(7)), stored);
        budget.purged(org(7), entry);
        budget.admit(org(7), Role::Observer, entry).expect("room again");
    }

    #[test]
    fn restored_bytes_count_against_the_budget() {
        let mut budget = StorageBudget::new(small());
        budget.restore(org(3), 990);
        assert!(matches!(
            budget.admit(org(3), Role::Member, 11),
            Err(StorageRefusal::AuthorBudget { stored: 990, .. })
        ));
        budget.admit(org(3), Role::Member, 10).expect("fits");
    }

    /// Floors of 1 GiB and 5 %, whatever the defaults are.
    fn floors() -> StorageLimits {
        StorageLimits {
            free_disk_floor_bytes: GIB,
            free_disk_floor_percent: 5,
            ..StorageLimits::default()
        }
    }

    #[test]
    fn the_disk_floor_refuses_everyone_and_counts_writes_since_the_reading() {
        let mut budget = StorageBudget::new(floors());
        // No reading yet: the disk does not refuse.
        budget.admit(org(1), Role::Member, 1000).expect("unknown disk");
        budget.free_disk(DiskSpace {
            available: GIB + 10 * MIB,
            total: 10 * GIB,
        });
        budget
            .admit(org(1), Role::Member, MIB)
            .expect("above the 1 GiB floor");
        // Writes since the reading bring the estimate below the floor.
        budget.record(org(1), 10 * MIB);
        let refusal = budget
            .admit(org(2), Role::Member, 1)
            .expect_err("below the floor");
        assert_eq!(
            refusal,
            StorageRefusal::DiskFloor {
                available: GIB,
                floor: GIB
            }
        );
        assert_eq!(refusal.name(), "disk_floor");
        assert!(
            refusal
                .to_string()
                .contains("free space or move the data directory")
        );
        // A new reading after the operator freed space lifts it.
        budget.free_disk(DiskSpace {
            available: 2 * GIB,
            total: 10 * GIB,
        });
        budget.admit(org(2), Role::Member, MIB).expect("room again");
    }

    #[test]
    fn the_relative_floor_applies_on_large_disks() {
        let limits = floors();
        assert_eq!(limits.floor(10 * GIB), GIB);
        assert_eq!(limits.floor(100 * GIB), 5 * GIB);
        let mut budget = StorageBudget::new(limits);
        budget.free_disk(DiskSpace {
            available: 4 * GIB,
            total: 100 * GIB,
        });
        assert!(matches!(
            budget.admit(org(1), Role::Member, 1),
            Err(StorageRefusal::DiskFloor { floor, .. }) if floor == 5 * GIB
        ));
    }

    #[test]
    fn totals_by_role_follow_the_roster_in_force() {
        let mut budget = StorageBudget::new(small());
        budget.record(org(1), 100);
        budget.record(org(2), 20);
        budget.record(org(3), 3);
        let totals = budget.totals_by_role(|author| match author.0[0] {
            1 => Some(Role::Member),
            2 => Some(Role::Observer),
            _ => None,
        });
        assert_eq!(
            totals,
            RoleTotals {
                members: 100,
                observers: 20,
                former: 3
            }
        );
    }
}
