//! Conversions between protocol values and SQLite column values.
//!
//! Enums are stored as their CBOR wire index (the position in their `ALL`
//! array), which the protocol already promises never to renumber; that also
//! makes `severity >= ?` mean "at least this severe". Unsigned integers are
//! stored as SQLite's signed 64-bit integers, refusing values that do not
//! fit rather than wrapping them.

use super::error::{StoreError, StoreResult};
use riskmesh_protocol::{Category, EntryId, Hash32, Kind, OrgKey, Severity, Tier};
use rusqlite::Row;
use rusqlite::types::{FromSqlError, Type};

/// A `u64` as an SQLite integer, or [`StoreError::OutOfRange`] naming `what`.
pub(super) fn int(value: u64, what: &'static str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange(what))
}

/// A `usize` count or limit as an SQLite integer, saturating (limits only).
pub(super) fn limit(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn bad(index: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Integer, message.into())
}

/// A non-negative integer column as `u64`.
pub(super) fn get_u64(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(index)?;
    u64::try_from(value).map_err(|_| bad(index, format!("negative value {value}")))
}

/// A 32-byte blob column as an entry id.
pub(super) fn get_id(row: &Row<'_>, index: usize) -> rusqlite::Result<EntryId> {
    row.get::<_, [u8; 32]>(index).map(Hash32)
}

/// A nullable 32-byte blob column as an entry id.
pub(super) fn get_opt_id(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<EntryId>> {
    row.get::<_, Option<[u8; 32]>>(index).map(|v| v.map(Hash32))
}

/// A 32-byte blob column as an organization key.
pub(super) fn get_org(row: &Row<'_>, index: usize) -> rusqlite::Result<OrgKey> {
    row.get::<_, [u8; 32]>(index).map(OrgKey)
}

/// The wire index of an enum value within its `ALL` array.
fn code<T: PartialEq>(all: &[T], value: &T) -> i64 {
    all.iter().position(|v| v == value).map_or(-1, |p| p as i64)
}

fn from_code<T: Copy>(all: &[T], row: &Row<'_>, index: usize, what: &str) -> rusqlite::Result<T> {
    let value: i64 = row.get(index)?;
    usize::try_from(value)
        .ok()
        .and_then(|i| all.get(i).copied())
        .ok_or_else(|| bad(index, format!("unknown {what} code {value}")))
}

fn from_opt_code<T: Copy>(all: &[T], row: &Row<'_>, index: usize, what: &str) -> rusqlite::Result<Option<T>> {
    match row
        .get_ref(index)?
        .as_i64_or_null()
        .map_err(|e| from_sql(index, e))?
    {
        None => Ok(None),
        Some(_) => from_code(all, row, index, what).map(Some),
    }
}

fn from_sql(index: usize, error: FromSqlError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Integer, Box::new(error))
}

/// Column value of a tier.
pub(super) fn tier_code(tier: Tier) -> i64 {
    code(&Tier::ALL, &tier)
}

/// Column value of a kind.
pub(super) fn kind_code(kind: Kind) -> i64 {
    code(&Kind::ALL, &kind)
}

/// Column value of a category.
pub(super) fn category_code(category: Category) -> i64 {
    code(&Category::ALL, &category)
}

/// Column value of a severity.
pub(super) fn severity_code(severity: Severity) -> i64 {
    code(&Severity::ALL, &severity)
}

/// A tier column.
pub(super) fn get_tier(row: &Row<'_>, index: usize) -> rusqlite::Result<Tier> {
    from_code(&Tier::ALL, row, index, "tier")
}

/// A kind column.
pub(super) fn get_kind(row: &Row<'_>, index: usize) -> rusqlite::Result<Kind> {
    from_code(&Kind::ALL, row, index, "kind")
}

/// A nullable category column.
pub(super) fn get_category(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Category>> {
    from_opt_code(&Category::ALL, row, index, "category")
}

/// A nullable severity column.
pub(super) fn get_severity(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Severity>> {
    from_opt_code(&Severity::ALL, row, index, "severity")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_wire_indices() {
        // The protocol encodes these enums by index; the store relies on the
        // `ALL` arrays being in that order.
        for (i, tier) in Tier::ALL.into_iter().enumerate() {
            assert_eq!(tier_code(tier), i as i64);
            let wire = riskmesh_protocol::cbor::encode(&tier);
            assert_eq!(wire, riskmesh_protocol::cbor::encode(&(i as u64)));
        }
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(
                riskmesh_protocol::cbor::encode(&kind),
                riskmesh_protocol::cbor::encode(&(i as u64))
            );
            assert_eq!(kind_code(kind), i as i64);
        }
        for (i, c) in Category::ALL.into_iter().enumerate() {
            assert_eq!(
                riskmesh_protocol::cbor::encode(&c),
                riskmesh_protocol::cbor::encode(&(i as u64))
            );
            assert_eq!(category_code(c), i as i64);
        }
        for (i, s) in Severity::ALL.into_iter().enumerate() {
            assert_eq!(
                riskmesh_protocol::cbor::encode(&s),
                riskmesh_protocol::cbor::encode(&(i as u64))
            );
            assert_eq!(severity_code(s), i as i64);
        }
    }

    #[test]
    fn out_of_range_integers_are_refused() {
        assert!(matches!(
            int(u64::MAX, "timestamp"),
            Err(StoreError::OutOfRange("timestamp"))
        ));
        assert_eq!(int(7, "seq").ok(), Some(7));
    }
}
