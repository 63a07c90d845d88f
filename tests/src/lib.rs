//! What the dist builder and the test suite share: the platform table and the build recipe.

pub mod build;
pub mod cri;
pub mod image;
pub mod platforms;
pub mod procfs;
pub mod readme;

use std::path::{Path, PathBuf};

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}
