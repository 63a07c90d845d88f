//! Nothing from `core` or `compiler_builtins` is linked in: the binary is `_start`, its one
//! static and (mips64el) its out-of-line syscall. So the bytes cannot depend on how `core` was
//! built, which is why the Nix build's prebuilt rust-std and the cargo path's `-Zbuild-std=core`
//! ship the same file from the same compiler. Checked on an unstripped link of the same recipe.

mod common;

use object::{Object, ObjectSymbol, SymbolKind};
use sleeper_tests::{build, repo_root};

/// Symbols the linker defines itself for the ABI: the MIPS global pointer and the ppc64 TOC.
const LINKER_DEFINED: [&str; 2] = ["_gp", ".TOC."];

#[test]
fn only_the_programs_own_code_and_data_are_linked() {
    common::for_each_platform(|platform, _| {
        let target_dir = repo_root().join("target/unstripped").join(&platform.name);
        let linked = build::link(
            platform,
            &repo_root(),
            &target_dir,
            &["profile.release.strip=false"],
        )?;
        let data = std::fs::read(&linked).map_err(|e| e.to_string())?;
        let file = object::File::parse(&*data).map_err(|e| e.to_string())?;
        let mut own = Vec::new();
        for symbol in file.symbols().filter(|s| s.is_definition()) {
            let name = symbol.name().map_err(|e| e.to_string())?;
            if LINKER_DEFINED.contains(&name) || symbol.kind() == SymbolKind::File {
                continue;
            }
            // The program's own items (mips64el's out-of-line syscall among them) carry the
            // crate's name: `_RNv...Cs<hash>_7sleeper...` (v0) or `_ZN7sleeper...` (legacy).
            let own_item = name.starts_with("_ZN7sleeper")
                || (name.starts_with("_R") && name.contains("_7sleeper"));
            if name != "_start" && !own_item {
                return Err(format!(
                    "{name} is linked in: the binary depends on how core was built"
                ));
            }
            own.push(name.to_string());
        }
        if !own.iter().any(|n| n == "_start")
            || !own.iter().any(|n| n.contains("IGNORE_BLOCKING_ALL"))
        {
            return Err(format!(
                "expected _start and IGNORE_BLOCKING_ALL, found {own:?}"
            ));
        }
        Ok(())
    });
}
