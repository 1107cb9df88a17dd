//! The walk that feeds a store's entries, read for this organization, to
//! the [`Mapper`] in arrival order, and the STIX bundle written from what it
//! returns: streamed page by page by the API (`GET /v1/export/stix`), or
//! written to a file from a database offline ([`export_bundle`], used by the
//! simulator for its nodes).

use super::mapper::{Input, Mapper, StixObject};
use crate::api::views::Reader;
use crate::plaintext::Wiped;
use crate::store::{ALL_ENTRIES_PAGE, Store, StoreError, StoredEntry};
use riskmesh_protocol::{OrgSecrets, Role, Roster, Tier};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use uuid::{Builder, Uuid};

/// Why an offline export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading the database failed.
    #[error("reading the database: {0}")]
    Store(#[from] StoreError),
    /// Writing the bundle failed.
    #[error("writing the bundle: {0}")]
    Write(#[from] std::io::Error),
}

/// A mapper for the organization `reader` reads for, naming roles from its
/// roster.
pub(crate) fn mapper_for(roster: &Roster, me: &str) -> Mapper {
    let roles: HashMap<String, Role> = roster
        .doc()
        .members
        .iter()
        .map(|m| (m.org.clone(), m.role))
        .collect();
    Mapper::new(roster.network(), me, roles)
}

/// Feeds every stored entry to `mapper` in arrival order, one page at a
/// time from `page` (which returns the entries after an arrival position),
/// and hands each entry's objects to `emit` until it returns `false`.
/// Restricted bodies are opened by `reader` after `page` returned, so a
/// `page` that locks the API's store holds no lock while they are decrypted.
pub(crate) fn walk(
    mut page: impl FnMut(u64) -> Result<Vec<(u64, StoredEntry)>, StoreError>,
    reader: &Reader<'_>,
    mapper: &mut Mapper,
    mut emit: impl FnMut(u64, Vec<StixObject>) -> bool,
) -> Result<(), StoreError> {
    let mut after = 0;
    let mut added_ms = 0;
    loop {
        let entries = page(after)?;
        for (position, stored) in &entries {
            // `date_added` never goes backwards, even if the node's clock did.
            added_ms = stored.meta.received_ms.max(added_ms);
            let read = Wiped::new(reader.read(stored));
            let objects = mapper.map(Input {
                view: &read.view,
                body: read.body.as_ref(),
                added_ms,
                envelope: Some(&stored.envelope),
            });
            if !objects.is_empty() && !emit(*position, objects) {
                return Ok(());
            }
        }
        match entries.last() {
            Some((position, _)) if entries.len() == ALL_ENTRIES_PAGE => after = *position,
            _ => return Ok(()),
        }
    }
}

/// Writes a bundle's JSON text in pieces: the opening, the objects of each
/// entry up to a tier, the closing. Shared objects (markings, identities,
/// definitions, taxonomy) are written once; every version of a report or
/// sighting is written.
#[derive(Debug)]
pub(crate) struct BundleWriter {
    max_tier: Tier,
    written_shared: HashSet<String>,
    first: bool,
    /// Objects written so far.
    pub count: u64,
}

impl BundleWriter {
    pub(crate) fn new(max_tier: Tier) -> Self {
        BundleWriter {
            max_tier,
            written_shared: HashSet::new(),
            first: true,
            count: 0,
        }
    }

    /// The opening of a bundle with this id.
    pub(crate) fn opening(bundle_id: Uuid) -> Vec<u8> {
        format!("{{\"type\":\"bundle\",\"id\":\"bundle--{bundle_id}\",\"objects\":[").into_bytes()
    }

    /// The objects of one entry that belong in the bundle, as JSON text.
    pub(crate) fn objects(&mut self, objects: &[StixObject]) -> Result<Vec<u8>, serde_json::Error> {
        let mut chunk = Vec::new();
        for object in objects {
            if object.tier > self.max_tier
                || (object.shared && !self.written_shared.insert(object.id.clone()))
            {
                continue;
            }
            if !self.first {
                chunk.push(b',');
            }
            self.first = false;
            serde_json::to_writer(&mut chunk, &object.json)?;
            self.count += 1;
        }
        Ok(chunk)
    }

    /// The closing.
    pub(crate) fn closing() -> &'static [u8] {
        b"]}\n"
    }
}

/// Writes the STIX bundle of everything organization `secrets.org` may read
/// in `store`, up to `max_tier`, to `out`; returns the number of objects.
/// `bundle_random` are the random bytes of the bundle's UUIDv4 (a bundle is
/// a wrapper, not an object: its id need not repeat across exports).
/// The same mapping and walk as the API's `GET /v1/export/stix`, for a
/// database whose node is not answering (the simulator's, after a run).
pub fn export_bundle(
    store: &Store,
    roster: &Roster,
    secrets: &OrgSecrets,
    max_tier: Tier,
    bundle_random: [u8; 16],
    out: &mut impl Write,
) -> Result<u64, ExportError> {
    let reader = Reader {
        roster,
        me: secrets.signing.public(),
        secrets,
    };
    let mut mapper = mapper_for(roster, &secrets.org);
    let mut writer = BundleWriter::new(max_tier);
    out.write_all(&BundleWriter::opening(
        Builder::from_random_bytes(bundle_random).into_uuid(),
    ))?;
    let mut failure: Option<std::io::Error> = None;
    walk(
        |after| store.entries_by_arrival(after, ALL_ENTRIES_PAGE),
        &reader,
        &mut mapper,
        |_, objects| {
            let written = writer
                .objects(&objects)
                .map_err(std::io::Error::from)
                .and_then(|chunk| out.write_all(&chunk));
            match written {
                Ok(()) => true,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        },
    )?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    out.write_all(BundleWriter::closing())?;
    out.flush()?;
    Ok(writer.count)
}
