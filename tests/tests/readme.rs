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

/// The README's benchmark figures are bench/compare's output: every table row in the
/// README's benchmark block is a line of bench/results.md, so none is typed in by hand.
#[test]
fn readme_benchmark_rows_are_bench_compare_output() {
    let text = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let results =
        std::fs::read_to_string(repo_root().join("bench/results.md")).expect("bench/results.md");
    let begin = text
        .find("<!-- bench:begin")
        .expect("README.md has bench markers");
    let end = begin
        + text[begin..]
            .find("<!-- bench:end -->")
            .expect("bench:end marker");
    let rows: Vec<&str> = text[begin..end]
        .lines()
        .filter(|l| l.starts_with('|') || l.starts_with("- "))
        .collect();
    assert!(rows.len() > 20, "the benchmark block lost its tables");
    let missing: Vec<&&str> = rows
        .iter()
        .filter(|row| !results.lines().any(|line| line == **row))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md rows not in bench/results.md (re-run bench/compare > bench/results.md and copy):\n{}",
        missing
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
