//! podman 4.3 with runc (`scripts/containers.conf`), each `Podman` in a store of its own under
//! a temporary directory (vfs driver: nothing mounted on the host), removed with everything in
//! it when the `Podman` is dropped, also when a test fails.

use crate::common::engine::Cli;
use sleeper_tests::image::{DockerArchive, decompressed};
use sleeper_tests::repo_root;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Podman {
    dir: PathBuf,
}

fn require(program: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", "command -v \"$1\"", "sh", program])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{program} is missing: apt-get install {package}");
}

impl Podman {
    pub fn new() -> Self {
        require("podman", "podman");
        require("runc", "runc");
        Podman {
            dir: crate::common::scratch_dir("podman"),
        }
    }

    /// A scratch directory inside the store's, removed with it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command
            .env(
                "CONTAINERS_CONF",
                repo_root().join("scripts/containers.conf"),
            )
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(["--storage-driver", "vfs"]);
        command
    }

    /// Loads a docker-archive and returns its image ID. A gzip'd archive is unpacked first:
    /// podman 4.3.1 fails on every gzip'd docker-archive ("loading tar component
    /// manifest.json: unexpected EOF"), although docker loads them.
    pub fn load(&self, archive: &Path) -> Result<String, String> {
        let id = DockerArchive::read(archive)?.image_id();
        let tar = self.dir.join(format!("{id}.tar"));
        std::fs::write(&tar, decompressed(archive)?).map_err(|e| e.to_string())?;
        self.run(&["load", "--quiet", "--input", &tar.to_string_lossy()])?;
        std::fs::remove_file(&tar).map_err(|e| e.to_string())?;
        Ok(id)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.output(&["pod", "rm", "--all", "--force", "--time", "0"]);
        // podman 4.3 refuses to remove a holder before its members, even with --all: repeat
        // until nothing is left (each round removes at least the outermost members).
        let mut left = String::new();
        for _ in 0..5 {
            let _ = self.output(&["rm", "--all", "--force", "--time", "0"]);
            left = self.run(&["ps", "--all", "--quiet"]).unwrap_or_else(|e| e);
            if left.is_empty() {
                break;
            }
        }
        if !left.is_empty() {
            // Removing the store under live containers would leak them; leave it to a human.
            eprintln!(
                "podman store {} kept: cannot remove {left}",
                self.dir.display()
            );
            return;
        }
        // conmon's `podman container cleanup` of an exited container may still be writing to
        // the store for a moment after `rm` returns.
        let removed = crate::common::poll(std::time::Duration::from_secs(10), || {
            std::fs::remove_dir_all(&self.dir).ok()
        });
        if removed.is_none() {
            eprintln!("cannot remove {}", self.dir.display());
        }
    }
}

/// The network namespace of a host PID, as the kernel names it (`net:[inode]`).
pub fn netns(pid: i32) -> Result<String, String> {
    let link = format!("/proc/{pid}/ns/net");
    std::fs::read_link(&link)
        .map(|target| target.to_string_lossy().into_owned())
        .map_err(|e| format!("{link}: {e}"))
}

/// The real, effective, saved and filesystem UIDs of a host PID.
pub fn uids(pid: i32) -> Result<Vec<u32>, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .ok_or_else(|| format!("{path}: no Uid line"))?
        .split_whitespace()
        .map(|uid| uid.parse().map_err(|_| format!("{path}: Uid {uid:?}")))
        .collect()
}
