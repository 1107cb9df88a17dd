//! Each honest node's STIX 2.1 bundle after a run, written from its
//! database with the node's own export code (`riskmesh_node::stix`), so
//! interoperability checks (the OASIS validator, `scripts/interop-tests.sh`)
//! run on what the simulated organizations would hand their analysts.

use crate::run::RunData;
use riskmesh_node::stix::export_bundle;
use riskmesh_node::store::Store;
use riskmesh_protocol::{Tier, testkit};
use std::path::{Path, PathBuf};

/// Writes `<org>.stix.json` into `dir` for every honest node; returns the
/// files written.
pub fn write_bundles(data: &RunData, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (i, node) in data.plan.nodes.iter().enumerate() {
        let org = &node.org;
        let path = data.cluster.data_dir(org).join("riskmesh.db");
        let store = Store::open_read_only(&path).map_err(|e| std::io::Error::other(format!("{org}: {e}")))?;
        let updates = store
            .load_rosters()
            .map_err(|e| std::io::Error::other(format!("{org}: {e}")))?;
        let roster = data
            .cluster
            .roster
            .clone()
            .replay(&updates)
            .map_err(|e| std::io::Error::other(format!("{org}: stored roster updates: {e}")))?;
        let out = dir.join(format!("{org}.stix.json"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
        // The bundle's id only has to be unique; the seed and node index keep
        // a rerun's files identical.
        let mut random = [0u8; 16];
        random[..8].copy_from_slice(&data.plan.seed.to_le_bytes());
        random[8..].copy_from_slice(&(i as u64).to_le_bytes());
        export_bundle(
            &store,
            &roster,
            &testkit::org_secrets(org),
            Tier::Hazardous,
            random,
            &mut file,
        )
        .map_err(|e| std::io::Error::other(format!("{org}: {e}")))?;
        written.push(out);
    }
    Ok(written)
}
