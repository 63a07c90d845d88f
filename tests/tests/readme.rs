//! The README's generated blocks (size table, index digest) are what the build produces
//! today, and its other figures and commands come from where they are proven.

mod common;

use sleeper_tests::{platforms, readme, repo_root};

#[test]
fn readme_size_table_matches_the_built_binaries() {
    common::built();
    let text = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let shown = readme::SIZE_TABLE
        .current(&text)
        .expect("README.md has the size-table markers");
    let actual = readme::table(&platforms::load(), &repo_root().join("dist")).expect("table");
    assert_eq!(
        shown, actual,
        "README.md is stale: run scripts/dist --readme"
    );
}

/// The index digest the README publishes is the one both build paths give today (the cargo
/// path's `dist/oci/`; dockertools-replay shows the Nix path's archives are the same bytes).
#[test]
fn readme_index_digest_is_the_built_one() {
    let built = &common::images().index_digest;
    let text = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let shown = readme::INDEX_DIGEST
        .current(&text)
        .expect("README.md has the index-digest markers");
    assert_eq!(
        shown,
        readme::index_digest(built),
        "README.md's index digest is stale: run scripts/dist --readme"
    );
}

/// The benchmark page's figures are bench/compare's output: every table row in its benchmark
/// block is a line of bench/results.md, so none is typed in by hand.
#[test]
fn benchmark_page_rows_are_bench_compare_output() {
    let text =
        std::fs::read_to_string(repo_root().join("docs/benchmark.md")).expect("docs/benchmark.md");
    let results =
        std::fs::read_to_string(repo_root().join("bench/results.md")).expect("bench/results.md");
    let begin = text
        .find("<!-- bench:begin")
        .expect("docs/benchmark.md has bench markers");
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
        "docs/benchmark.md rows not in bench/results.md (re-run bench/compare > bench/results.md and copy):\n{}",
        missing
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// CI runs what the README tells a reader to run: the lines of the Quick start (Debian 12) code
/// block are exactly the commands `.ci/run` takes from the README (setup, then test), and each
/// runs an executable script of this repository.
#[test]
fn ci_runs_the_readme_quick_start_commands() {
    let text = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let section = &text[text
        .find("## Quick start without Nix (Debian 12)")
        .expect("README.md has the Quick start without Nix section")..];
    let fence = "```sh\n";
    let block = &section[section.find(fence).expect("a sh code block") + fence.len()..];
    let block = &block[..block.find("```").expect("the code block ends")];
    let shown: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();

    let output = std::process::Command::new(repo_root().join(".ci/run"))
        .arg("--print-readme-commands")
        .output()
        .expect("run .ci/run --print-readme-commands");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let ci: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        ci, shown,
        ".ci/run does not run the README's Quick start commands (its ci-commands markers must \
         surround that code block)"
    );
    assert_eq!(
        shown.len(),
        2,
        "the Quick start is a setup and a test command"
    );
    for command in shown {
        let script = command
            .split_whitespace()
            .take_while(|word| !word.starts_with('#'))
            .map(|word| repo_root().join(word))
            .find(|path| path.is_file())
            .unwrap_or_else(|| panic!("{command:?} runs no file of the repository"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&script).expect("metadata").permissions(),
        );
        assert!(mode & 0o111 != 0, "{} is not executable", script.display());
    }
}
