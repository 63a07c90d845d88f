//! The images the container tests run besides sleeper's: the members' busybox and the
//! `pause()`-loop control, each a docker-archive of one static host binary made by the script
//! that makes sleeper's images (`target/test-images/<name>.tar.gz`, built once per test binary).

use super::built;
use sleeper_tests::{image, repo_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The row of the machine the tests run on.
pub fn host_row() -> usize {
    built()
        .iter()
        .position(|(p, _)| p.name == std::env::consts::ARCH)
        .unwrap_or_else(|| panic!("no row of platforms.toml is {}", std::env::consts::ARCH))
}

/// A docker-archive of one static host binary as `path` (`target/test-images/<name>.tar.gz`).
pub fn test_archive(name: &str, binary: &Path, path: &str) -> Result<PathBuf, String> {
    let dir = repo_root().join("target/test-images");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let out = dir.join(format!("{name}.tar.gz"));
    let host = &built()[host_row()].0;
    let name = format!("sleeper-test-{name}");
    image::single_binary_archive(&name, "test", binary, path, &host.docker.architecture, &out)?;
    Ok(out)
}

/// The members' image: busybox, whose shell runs its applets without links.
pub fn member_archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "/bin/busybox is missing: apt-get install busybox-static"
        );
        test_archive("member", busybox, "/bin/busybox").unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The control holder's binary: `for (;;) pause();`, static, as people build it.
pub fn pause_loop_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let binary = repo_root().join("target/test-images/pause-loop");
        std::fs::create_dir_all(binary.parent().expect("has a parent")).expect("mkdir");
        let status = Command::new("musl-gcc")
            .args(["-Os", "-static", "-s", "-o"])
            .arg(&binary)
            .arg(repo_root().join("bench/alternatives/pause-loop.c"))
            .status()
            .unwrap_or_else(|e| panic!("musl-gcc: {e} (apt-get install musl-tools)"));
        assert!(status.success(), "musl-gcc: {status}");
        binary
    })
}

/// The control holder's image: the pause loop as `/pause-loop`, with no `User` (so root).
pub fn pause_loop_archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        test_archive("pause-loop", pause_loop_binary(), "/pause-loop")
            .unwrap_or_else(|e| panic!("{e}"))
    })
}
