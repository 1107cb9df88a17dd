//! Writes the language-neutral test vectors to `spec/vectors/`.
//!
//! Run `cargo run -p riskmesh-protocol --example gen_vectors` after changing a
//! wire structure, a validation rule or a vector; the `vectors` integration
//! test fails until the files on disk match what this writes. The vectors are
//! built in `tests/it/vectors_build/`, which that test shares, so the
//! generator and the check can never disagree about the expected bytes.
//!
//! `restricted.json` is the exception: its age ciphertexts are randomized, so
//! it is written only when missing and otherwise kept as it is. Delete it to
//! build a new one.

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
    let path = dir.join(vectors_build::RANDOMIZED_FILE);
    if path.exists() {
        println!(
            "kept {} (randomized; delete it to build a new one)",
            path.display()
        );
    } else {
        let contents = vectors_build::build_randomized_file();
        fs::write(&path, &contents)?;
        println!("wrote {} ({} bytes)", path.display(), contents.len());
    }
    Ok(())
}
