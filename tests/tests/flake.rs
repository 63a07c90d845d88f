//! The Nix layer, checked where Nix cannot build: every .nix file parses and is deadnix-clean,
//! nix/platforms.nix evaluates to the mapping this test reads itself from platforms.toml, the
//! flake reads the shared files instead of copying them, and flake.lock matches flake.nix.
//!
//! Needs `nix-instantiate` (Debian: `apt-get install -y nix-bin`) and `deadnix`
//! (`cargo install deadnix --locked`). A missing tool fails the test; it never skips.

use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Runs a tool from the repository root; a tool that is not installed is a clear failure.
fn run(tool: &str, args: &[&str]) -> Output {
    match Command::new(tool).args(args).current_dir(root()).output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{tool}` is not on PATH, so the Nix files cannot be checked. Install it: {}",
            match tool {
                "nix-instantiate" => "apt-get install -y nix-bin",
                "deadnix" => "cargo install deadnix --locked",
                "git" => "apt-get install -y git",
                _ => "(see tests/tests/flake.rs)",
            }
        ),
        Err(error) => panic!("could not run `{tool}`: {error}"),
    }
}

fn run_ok(tool: &str, args: &[&str]) -> String {
    let output = run(tool, args);
    assert!(
        output.status.success(),
        "`{tool} {}` failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Every .nix file of the repository: tracked, or new and not ignored (so that the test also
/// covers files before their first commit). Paths are relative to the root.
fn nix_files() -> Vec<String> {
    let listed = run_ok(
        "git",
        &[
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            "*.nix",
        ],
    );
    let mut files: Vec<String> = listed
        .lines()
        .filter(|path| root().join(path).is_file())
        .map(str::to_owned)
        .collect();
    files.sort();
    files.dedup();
    for expected in [
        "flake.nix",
        "nix/platforms.nix",
        "nix/packages.nix",
        "nix/checks.nix",
        "nix/module.nix",
        "nix/vm-test.nix",
        "nix/image.nix",
        "nix/toolchain.nix",
    ] {
        assert!(
            files.iter().any(|file| file == expected),
            "{expected} is missing (found {files:?})"
        );
    }
    files
}

fn read(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|error| panic!("reading {path}: {error}"))
}

/// Evaluates a Nix expression (from the repository root) to JSON.
fn eval_json(expression: &str) -> Value {
    let text = run_ok(
        "nix-instantiate",
        &["--eval", "--strict", "--json", "--expr", expression],
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{expression}: not JSON ({e}): {text}"))
}

fn table() -> Vec<toml::Table> {
    let table: toml::Table = read("platforms.toml")
        .parse()
        .expect("platforms.toml parses");
    table["platform"]
        .as_array()
        .expect("[[platform]] rows")
        .iter()
        .map(|row| row.as_table().expect("a row is a table").clone())
        .collect()
}

fn string<'a>(row: &'a toml::Table, key: &str) -> &'a str {
    row.get(key)
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("platforms.toml: a row lacks string {key}: {row:?}"))
}

fn integer(row: &toml::Table, key: &str) -> i64 {
    row.get(key)
        .and_then(toml::Value::as_integer)
        .unwrap_or_else(|| panic!("platforms.toml: a row lacks integer {key}: {row:?}"))
}

#[test]
fn every_nix_file_parses() {
    let files = nix_files();
    for file in &files {
        run_ok("nix-instantiate", &["--parse", file]);
    }
    println!("nix-instantiate --parse: {} files parse", files.len());
}

#[test]
fn deadnix_is_clean() {
    let files = nix_files();
    let mut args = vec!["--fail"];
    args.extend(files.iter().map(String::as_str));
    let output = run("deadnix", &args);
    assert!(
        output.status.success(),
        "deadnix --fail found unused code:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// nixfmt: `$NIXFMT`, else `nixfmt` on PATH, else the project's shared tools beside the
/// repository (where CI has nixfmt 1.2.0, the version nixos-26.05 ships).
fn nixfmt() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NIXFMT") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nixfmt"));
    let shared = root().join("../shared/bin/nixfmt");
    on_path.chain([shared]).find(|path| path.is_file())
}

#[test]
fn every_nix_file_is_nixfmt_formatted() {
    let Some(nixfmt) = nixfmt() else {
        let message = "nixfmt is not installed (set NIXFMT=path, or put nixfmt on PATH), so the \
                       Nix files' formatting is not checked";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        println!("SKIPPED: {message}");
        return;
    };
    let files = nix_files();
    let output = Command::new(&nixfmt)
        .arg("--check")
        .args(&files)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", nixfmt.display()));
    assert!(
        output.status.success(),
        "{} --check: these need formatting (run it without --check):\n{}{}",
        nixfmt.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{}: {} files formatted", nixfmt.display(), files.len());
}

/// The Nix build's one compiler is the cargo path's, and the standard library lock it vendors
/// for -Zbuild-std (committed, to avoid import-from-derivation) is that release's own.
#[test]
fn nix_toolchain_is_the_cargo_paths_and_its_library_lock_is_current() {
    // toString: the file in the tree, not the store path it would be copied to.
    let toolchain = eval_json(
        "let toolchain = import ./nix/toolchain.nix; \
         in toolchain // { libraryLock = toString toolchain.libraryLock; }",
    );
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = run_ok(&rustc, &["-vV"]);
    let release = version
        .lines()
        .find_map(|line| line.strip_prefix("release: "))
        .expect("rustc -vV prints its release");
    assert_eq!(
        toolchain["rustVersion"], release,
        "nix/toolchain.nix pins another rustc than the cargo path's {rustc}"
    );
    let sysroot = run_ok(&rustc, &["--print", "sysroot"]);
    let library_lock = Path::new(sysroot.trim()).join("lib/rustlib/src/rust/library/Cargo.lock");
    let committed = toolchain["libraryLock"]
        .as_str()
        .expect("libraryLock is a path");
    assert!(
        fs::read(committed).expect("the committed library lock")
            == fs::read(&library_lock).unwrap_or_else(|e| panic!(
                "{} (install rust-web-src): {e}",
                library_lock.display()
            )),
        "nix/toolchain.nix's libraryLock differs from {}: copy it over",
        library_lock.display()
    );
}

/// nix/platforms.nix, evaluated by Nix, equals the mapping read here from platforms.toml.
#[test]
fn platform_mapping_matches_the_table() {
    let rows = table();
    assert!(!rows.is_empty(), "platforms.toml has no rows");

    let evaluated = eval_json(
        "let p = import ./nix/platforms.nix { }; in map (r: { \
           inherit (r) name goArch variant ociPlatform nixSystem rustTarget buildStd qemu \
             sizeBudget imageBudget binaryPackage imagePackage; \
         }) p.rows",
    );

    let mut expected = Vec::new();
    for row in &rows {
        let name = string(row, "name");
        let docker = row["docker"].as_table().expect("docker is a table");
        let os = docker["os"].as_str().expect("docker.os");
        let arch = docker["architecture"]
            .as_str()
            .expect("docker.architecture");
        let variant = docker
            .get("variant")
            .map(|v| v.as_str().expect("docker.variant"));
        let oci = match variant {
            Some(variant) => format!("{os}/{arch}/{variant}"),
            None => format!("{os}/{arch}"),
        };
        let rust_std = string(row, "rust-std");
        assert!(
            rust_std == "prebuilt" || rust_std == "build-std",
            "{name}: rust-std is {rust_std}"
        );
        expected.push(json!({
            "binaryPackage": format!("sleeper-{name}"),
            "buildStd": rust_std == "build-std",
            "goArch": arch,
            "imageBudget": integer(row, "image-budget"),
            "imagePackage": format!("image-{name}"),
            "name": name,
            "nixSystem": string(row, "nix-system"),
            "ociPlatform": oci,
            "qemu": string(row, "qemu"),
            "rustTarget": string(row, "rust-target"),
            "sizeBudget": integer(row, "size-budget"),
            "variant": variant,
        }));
    }
    assert_eq!(
        evaluated,
        Value::Array(expected),
        "nix/platforms.nix does not give the mapping of platforms.toml"
    );

    // The package names and build systems the flake exposes.
    let names: Vec<String> = rows
        .iter()
        .flat_map(|row| {
            let name = string(row, "name");
            [format!("sleeper-{name}"), format!("image-{name}")]
        })
        .collect();
    assert_eq!(
        eval_json("(import ./nix/platforms.nix { }).packageNames"),
        json!(names)
    );
    let systems: Vec<&str> = rows.iter().map(|row| string(row, "nix-system")).collect();
    for build in ["x86_64-linux", "aarch64-linux"] {
        assert!(
            systems.contains(&build),
            "no row builds natively on {build}"
        );
    }
    assert_eq!(
        eval_json("(import ./nix/platforms.nix { }).buildSystems"),
        json!(["x86_64-linux", "aarch64-linux"])
    );

    // Image labels come from Cargo.toml; the layout budget from platforms.toml.
    let cargo: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml parses");
    let package = cargo["package"].as_table().expect("[package]");
    let crate_fields = eval_json("(import ./nix/platforms.nix { }).crate");
    for key in ["name", "version", "description", "license", "repository"] {
        let value = package[key].as_str().expect("a string in [package]");
        assert_eq!(
            crate_fields[key], value,
            "nix/platforms.nix crate.{key} is not Cargo.toml's"
        );
    }
    assert_eq!(
        eval_json("(import ./nix/platforms.nix { }).layoutBudget"),
        json!(sleeper_tests::platforms::multiarch().layout_budget)
    );
    println!(
        "nix/platforms.nix: {} rows match platforms.toml",
        rows.len()
    );
}

/// The flake reads the files the cargo path uses and copies none of their content.
#[test]
fn flake_reads_the_shared_files_and_copies_none() {
    let files = nix_files();
    let all: Vec<(String, String)> = files
        .iter()
        .map(|file| (file.clone(), read(file)))
        .collect();
    let text_of = |file: &str| -> &str {
        &all.iter()
            .find(|(name, _)| name == file)
            .unwrap_or_else(|| panic!("{file} missing"))
            .1
    };

    // Read by path.
    for (file, needle) in [
        ("nix/platforms.nix", "../platforms.toml"),
        ("nix/platforms.nix", "../Cargo.toml"),
        ("nix/packages.nix", "../link/cargo.toml"),
        ("nix/packages.nix", "../link/sleeper.ld"),
        ("nix/packages.nix", "../Cargo.lock"),
        ("nix/packages.nix", "--config link/cargo.toml"),
        ("nix/checks.nix", "../tests/smoke.sh"),
        ("flake.nix", "./nix/platforms.nix"),
    ] {
        assert!(
            text_of(file).contains(needle),
            "{file} does not read {needle}"
        );
    }
    // link/cargo.toml must be what packages.nix loads, by the relative path cargo resolves
    // from the workspace root, the same as the cargo path.
    assert!(root().join("link/cargo.toml").is_file());
    assert!(root().join("link/sleeper.ld").is_file());
    assert!(root().join("tests/smoke.sh").is_file());

    // Copied content: Rust target triples, rustflags, linker-script statements.
    let mut forbidden: Vec<String> = table()
        .iter()
        .map(|row| string(row, "rust-target").to_owned())
        .collect();

    let config: toml::Table = read("link/cargo.toml")
        .parse()
        .expect("link/cargo.toml parses");
    let mut flags = Vec::new();
    for (_, target) in config["target"].as_table().expect("[target.*] tables") {
        if let Some(rustflags) = target.get("rustflags") {
            for flag in rustflags.as_array().expect("rustflags is an array") {
                let flag = flag.as_str().expect("a rustflag is a string");
                if flag != "-C" && flag != "-Z" {
                    flags.push(flag.to_owned());
                }
            }
        }
    }
    assert!(
        flags.len() >= 3,
        "link/cargo.toml: too few rustflags found: {flags:?}"
    );
    forbidden.extend(flags);
    for variable in [
        "RUSTFLAGS",
        "_LINKER",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_PROFILE_",
    ] {
        forbidden.push(variable.to_owned());
    }

    let script = read("link/sleeper.ld");
    let mut statements = 0;
    let mut in_comment = false;
    for line in script.lines() {
        let line = line.trim();
        if in_comment {
            in_comment = !line.contains("*/");
            continue;
        }
        if line.starts_with("/*") {
            in_comment = !line.contains("*/");
            continue;
        }
        if line.len() >= 8 {
            forbidden.push(line.to_owned());
            statements += 1;
        }
    }
    assert!(statements >= 3, "link/sleeper.ld: too few statements found");
    forbidden.extend(["SIZEOF_HEADERS", "PT_LOAD", "PT_GNU_STACK", "/DISCARD/"].map(String::from));

    for (file, text) in &all {
        for needle in &forbidden {
            assert!(
                !text.contains(needle.as_str()),
                "{file} contains {needle:?}, copied from platforms.toml or link/: read the file instead"
            );
        }
    }
    println!(
        "{} .nix files: no copy of {} target triples, flags and linker-script lines",
        all.len(),
        forbidden.len()
    );
}

/// flake.lock has a locked node for every input of flake.nix, whose `original` is the input's
/// URL, and the follows of flake.nix.
#[test]
fn flake_lock_matches_flake_inputs() {
    let problems = eval_json(
        r#"
        let
          inherit (builtins) attrNames elemAt filter fromJSON isString match readFile;
          flake = import ./flake.nix;
          lock = fromJSON (readFile ./flake.lock);
          root = lock.nodes.${lock.root};
          parse = url:
            let m = match "github:([^/]+)/([^/]+)(/(.+))?" url;
            in if m == null then { unparsed = url; } else
              { type = "github"; owner = elemAt m 0; repo = elemAt m 1; }
              // (if elemAt m 3 == null then { } else { ref = elemAt m 3; });
          urlOf = input: if isString input then input else input.url;
          nodeOf = name: lock.nodes.${root.inputs.${name}};
          inputProblems = name:
            let
              input = flake.inputs.${name};
              node = nodeOf name;
              locked = node.locked or { };
              follows = input.inputs or { };
            in
            (if node.original or null != parse (urlOf input)
              then [ "${name}: original ${builtins.toJSON (node.original or null)} is not ${urlOf input}" ]
              else [ ])
            ++ (if match "[0-9a-f]{40}" (locked.rev or "") == null
              then [ "${name}: locked.rev is not a commit" ] else [ ])
            ++ (if match "sha256-[A-Za-z0-9+/]{43}=" (locked.narHash or "") == null
              then [ "${name}: locked.narHash is not an SRI sha256" ] else [ ])
            ++ (if !(builtins.isInt (locked.lastModified or null))
              then [ "${name}: locked.lastModified is not an integer" ] else [ ])
            ++ (if (locked.type or null) != "github" || locked.owner or null != (parse (urlOf input)).owner
                 || locked.repo or null != (parse (urlOf input)).repo
              then [ "${name}: locked owner/repo/type differ from the URL" ] else [ ])
            ++ map (dep: "${name}: inputs.${dep} does not follow ${follows.${dep}.follows} in the lock")
              (filter (dep: (node.inputs.${dep} or null) != [ follows.${dep}.follows ]) (attrNames follows))
            ++ (if follows == { } && node ? inputs
              then [ "${name}: the lock has inputs that flake.nix does not declare" ] else [ ]);
        in
        (if lock.version != 7 then [ "lock version is not 7" ] else [ ])
        ++ (if attrNames root.inputs != attrNames flake.inputs
          then [ "root inputs ${toString (attrNames root.inputs)} differ from flake.nix" ] else [ ])
        ++ builtins.concatMap inputProblems (attrNames flake.inputs)
        "#,
    );
    assert_eq!(problems, json!([]), "flake.lock does not match flake.nix");
}
