//! The build recipe for one platform: the same cargo invocation and flag file as the Nix
//! flake (`link/cargo.toml`), then the same `rust-objcopy --strip-sections`.

use crate::platforms::Platform;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The flag file both build paths load with `cargo --config`.
pub const CARGO_CONFIG: &str = "link/cargo.toml";

/// Runs `command`; its stdout, or an error with its stderr.
pub(crate) fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The compiler cargo uses: `$RUSTC`, else `rustc` on PATH.
fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())
}

/// The `rust-objcopy` that ships with the compiler, in `<sysroot>/lib/rustlib/<host>/bin`.
pub fn objcopy() -> Result<PathBuf, String> {
    let sysroot = run(Command::new(rustc()).args(["--print", "sysroot"]))?;
    let version = run(Command::new(rustc()).arg("-vV"))?;
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .ok_or("rustc -vV printed no host line")?;
    let path = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/rust-objcopy");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing; the compiler's rust-objcopy strips the section headers",
            path.display()
        ))
    }
}

/// Compiles and links `platform` from the tree at `source` with its own `target_dir`, with
/// any `--config` overrides on top of the shipped recipe. Returns the linked ELF.
pub fn link(
    platform: &Platform,
    source: &Path,
    target_dir: &Path,
    overrides: &[&str],
) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(source)
        // -Zbuild-std: the distribution's compiler has no prebuilt core for foreign targets.
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["--config", CARGO_CONFIG]);
    for value in overrides {
        command.args(["--config", value]);
    }
    run(command
        .args(["build", "--quiet", "--release", "--locked"])
        .args(["-p", "sleeper", "-Zbuild-std=core", "--target"])
        .arg(&platform.rust_target)
        .arg("--target-dir")
        .arg(target_dir))?;
    Ok(target_dir
        .join(&platform.rust_target)
        .join("release/sleeper"))
}

/// Builds `platform` from the tree at `source` with its own `target_dir`, and writes the
/// shipped binary to `out/<name>/sleeper`.
pub fn build(
    platform: &Platform,
    source: &Path,
    target_dir: &Path,
    out: &Path,
) -> Result<PathBuf, String> {
    let linked = link(platform, source, target_dir, &[])?;
    let shipped = out.join(&platform.name).join("sleeper");
    std::fs::create_dir_all(shipped.parent().expect("has a parent"))
        .map_err(|e| format!("creating {}: {e}", out.display()))?;
    run(Command::new(objcopy()?)
        .arg("--strip-sections")
        .arg(&linked)
        .arg(&shipped))?;
    Ok(shipped)
}

/// Builds every platform into `<repo>/dist`, two at a time: each build is mostly a
/// single-threaded compile of `core`, and each platform has its own target directory
/// because cargo locks a target directory for the length of a build.
pub fn dist(platforms: &[Platform]) -> Result<Vec<PathBuf>, String> {
    let root = crate::repo_root();
    build_all(
        platforms,
        &root,
        &root.join("target/dist"),
        &root.join("dist"),
    )
}

/// Builds every platform from the tree at `source`, with `target_root/<name>` as each
/// platform's target directory, into `out/<name>/sleeper`.
pub fn build_all(
    platforms: &[Platform],
    source: &Path,
    target_root: &Path,
    out: &Path,
) -> Result<Vec<PathBuf>, String> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = platforms
            .chunks(platforms.len().div_ceil(2).max(1))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|p| build(p, source, &target_root.join(&p.name), out))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut built = Vec::new();
        for worker in workers {
            built.extend(worker.join().expect("build thread panicked")?);
        }
        Ok(built)
    })
}
