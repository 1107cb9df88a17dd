//! Writes the language-neutral test vectors to `spec/vectors/`.
//!
//! Run `cargo run -p riskmesh-protocol --example gen_vectors` after changing a
//! wire structure, a validation rule or a vector; the `vectors` integration
//! test fails until the files on disk match what this writes. The vectors are
//! built in `tests/it/vectors_build/`, which that test shares, so the
//! generator and the check can never disagree about the expected bytes.

use std::fs;
use std::path::Path;

#[path = "../tests/it/vectors_build/mod.rs"]
mod vectors_build;

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors");
    fs::create_dir_all(&dir)?;
    for (name, contents) in vectors_build::build_files() {
        let path = dir.join(name);
        fs::write(&path, &contents)?;
        println!("wrote {} ({} bytes)", path.display(), contents.len());
    }
    Ok(())
}
