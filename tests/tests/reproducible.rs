//! Two clean builds, from copies of the tree at different paths with fresh target
//! directories, give byte-identical binaries.

mod common;

use sleeper_tests::{build, platforms, repo_root};
use std::path::Path;

/// The tree as a user would have it: everything but build output and git metadata.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if [".git", "target", "dist", "result"]
            .iter()
            .any(|skip| name == *skip)
        {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(&name))?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}

#[test]
fn a_clean_rebuild_elsewhere_is_byte_identical() {
    let first = common::built();
    let scratch = std::env::temp_dir().join(format!("sleeper-rebuild-{}", std::process::id()));
    let source = scratch.join("a/different/path");
    copy_tree(&repo_root(), &source).expect("copy the tree");
    let platforms = platforms::load();
    let second = build::build_all(
        &platforms,
        &source,
        &scratch.join("target"),
        &scratch.join("out"),
    );
    let result = second.map(|second| {
        first
            .iter()
            .zip(second)
            .filter_map(|((p, a), b)| {
                let (a, b) = (std::fs::read(a).ok()?, std::fs::read(&b).ok()?);
                (a != b).then(|| {
                    format!(
                        "{}: {} vs {} bytes, contents differ",
                        p.name,
                        a.len(),
                        b.len()
                    )
                })
            })
            .collect::<Vec<_>>()
    });
    std::fs::remove_dir_all(&scratch).ok();
    let differing = result.unwrap_or_else(|e| panic!("second build failed: {e}"));
    assert!(
        differing.is_empty(),
        "not reproducible:\n{}",
        differing.join("\n")
    );
}
