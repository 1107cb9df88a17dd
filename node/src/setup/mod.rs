//! Standing up a consortium from files: `riskmesh init` (keys, member file,
//! config) and `riskmesh roster …` (create, sign, verify, show, install,
//! update), and drafting later roster versions (`proposal`: propose,
//! status). Library functions return typed results and reports; printing is
//! left to the `riskmesh` binary (`cli/src/setup/`).
//!
//! Architecture Invariants:
//! - Secret key files are created exclusively (never overwritten) with mode
//!   0600; an existing key is an error, not a prompt.
//! - A file that already exists is replaced only by writing a temporary file
//!   beside it, syncing it and renaming it over the original, so a crash
//!   leaves either the old or the new content.

mod init;
mod member_file;
mod proposal;
mod roster_files;
mod roster_report;

pub use init::{InitOptions, InitReport, MEMBER_FILE, init};
pub use member_file::{MEMBER_FILE_FORMAT, MemberFile, MemberRole, peer_id_text, with_peer_suffix};
pub use proposal::{
    Compromise, DraftStatus, LogHead, Proposal, RetiredChange, RosterChange, draft_status, parse_head,
};
pub use roster_files::{
    CreateOptions, InstallReport, SignReport, UpdateOptions, create, install, parse_quorum, read_roster,
    sign, update, write_proposal,
};
pub use roster_report::{MemberSummary, RosterSummary, SignatureState, verify};

use crate::config_file::ConfigError;
use riskmesh_protocol::Hash32;
use riskmesh_protocol::keys::KeyError;
use riskmesh_protocol::roster::RosterError;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Why an `init` or `roster` command failed. Each message says which file or
/// argument is at fault and what to do.
///
/// Underlying errors are part of the message, not a `source()`, so printing
/// the chain at the binary edge (`{:#}`) does not repeat them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A command-line argument is unusable; the message says how to fix it.
    #[error("{0}")]
    Argument(String),
    /// A file is in the way and will not be overwritten.
    #[error("{path} already exists; refusing to overwrite it. {hint}")]
    Exists {
        /// The existing file.
        path: PathBuf,
        /// What to do instead.
        hint: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {error}")]
    Io {
        /// What was being done (`read the member file`, `write`, …).
        action: String,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
    /// A member file is malformed.
    #[error("member file {path}: {message}")]
    MemberFile {
        /// The member file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Two member files describe the same organization.
    #[error("member files {first} and {second} both describe org `{org}`; pass each organization once")]
    DuplicateMember {
        /// The org id.
        org: String,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },
    /// A roster file does not decode, or its document breaks a structural rule.
    #[error(
        "{path} is not a usable roster file: {error} (expected a file written by `riskmesh roster create` or `roster update`)"
    )]
    RosterFile {
        /// The roster file.
        path: PathBuf,
        /// Why.
        error: RosterError,
    },
    /// The roster that would be drafted breaks a protocol rule.
    #[error("the drafted roster would be invalid: {0}")]
    DraftInvalid(RosterError),
    /// A roster failed verification; the message lists what is missing.
    #[error("roster {path} is not valid: {reason}")]
    RosterInvalid {
        /// The roster file.
        path: PathBuf,
        /// What failed and what to do.
        reason: String,
    },
    /// An org key file is malformed.
    #[error("org key file {path}: {error}; it must be a file written by `riskmesh init`")]
    OrgKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        error: KeyError,
    },
    /// The organization key does not fit the roster: it is not on it, or its
    /// role may not sign.
    #[error("{0}")]
    WrongKey(String),
    /// The config already pins a different genesis.
    #[error(
        "{config} already pins genesis {pinned}, but {file} has hash {found}. A node's genesis never \
         changes; to join another network, run `riskmesh init` into a new directory"
    )]
    GenesisPinned {
        /// The config file.
        config: PathBuf,
        /// The roster being installed.
        file: PathBuf,
        /// The hash the config pins.
        pinned: Hash32,
        /// The hash of the roster being installed.
        found: Hash32,
    },
    /// `genesis_hash` could not be set in the config text (unusual formatting).
    #[error("could not set genesis_hash in {path} automatically; set `genesis_hash = \"{hash}\"` by hand")]
    ConfigEdit {
        /// The config file.
        path: PathBuf,
        /// The hash to pin.
        hash: Hash32,
    },
    /// The config file (for `roster install`) is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The node's database could not be created.
    #[error("cannot create the database: {0}")]
    Store(crate::store::StoreError),
}

fn io_error(action: impl Into<String>, path: &Path) -> impl FnOnce(io::Error) -> SetupError {
    let action = action.into();
    let path = path.to_path_buf();
    move |error| SetupError::Io { action, path, error }
}

/// Reads a whole file of at most `limit` bytes.
fn read_file(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>, SetupError> {
    crate::config_file::read_capped(path, limit).map_err(io_error(format!("read the {what}"), path))
}

/// Creates `path` exclusively with `mode` (on Unix) and syncs it. Fails if
/// anything is already there.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SetupError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io_error("create", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_error("write", path))
}

/// Replaces (or creates) `path` atomically: a temporary file in the same
/// directory is written, synced and renamed over it. An existing file's
/// permissions are kept; a new file gets `new_mode` (on Unix).
fn write_atomic(path: &Path, bytes: &[u8], new_mode: u32) -> Result<(), SetupError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| SetupError::Argument(format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{:016x}",
        name.to_string_lossy(),
        std::process::id(),
        rand::random::<u64>()
    ));
    let permissions = fs::metadata(path).ok().map(|m| m.permissions());
    let result = write_new(&tmp, bytes, new_mode).and_then(|()| {
        if let Some(permissions) = permissions {
            fs::set_permissions(&tmp, permissions).map_err(io_error("set permissions of", &tmp))?;
        }
        fs::rename(&tmp, path).map_err(io_error("replace", path))
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Syncing the directory makes the rename itself durable; where the
    // platform cannot open a directory this is best effort.
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(())
}

/// Fails if `path` exists.
fn refuse_existing(path: &Path, hint: &str) -> Result<(), SetupError> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(SetupError::Exists {
            path: path.to_path_buf(),
            hint: hint.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_content_and_keeps_permissions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        write_atomic(&path, b"one", 0o600).expect("create");
        write_atomic(&path, b"two", 0o644).expect("replace");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path()).expect("list").collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn write_new_refuses_an_existing_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        write_new(&path, b"one", 0o600).expect("create");
        assert!(write_new(&path, b"two", 0o600).is_err());
        assert_eq!(fs::read(&path).expect("read"), b"one");
    }
}
