//! The README's size table is what the build produces today.

mod common;

use sleeper_tests::{platforms, readme, repo_root};

#[test]
fn readme_size_table_matches_the_built_binaries() {
    common::built();
    let text = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let shown = readme::current(&text).expect("README.md has the size-table markers");
    let actual = readme::table(&platforms::load(), &repo_root().join("dist")).expect("table");
    assert_eq!(
        shown, actual,
        "README.md is stale: run scripts/dist --readme"
    );
}
