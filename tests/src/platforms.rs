//! `platforms.toml`, the one table of platforms.

use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Platform {
    pub name: String,
    pub docker: DockerPlatform,
    pub nix_system: String,
    pub rust_target: String,
    pub rust_std: RustStd,
    pub qemu: String,
    pub elf_machine: String,
    pub size_budget: u64,
    pub image_budget: u64,
    pub kernel: Kernel,
}

/// The real kernel a row is booted on (tests/tests/real_kernel.rs; fetched by
/// scripts/setup-kernels): a Debian kernel package and the qemu-system machine that boots it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Kernel {
    /// A glob over Debian package names; the newest one that downloads is taken.
    pub package: String,
    pub suite: String,
    pub apt_arch: String,
    pub qemu_system: String,
    pub machine: Vec<String>,
    pub memory_mib: Option<u32>,
    pub console: String,
    /// Extra kernel command line.
    pub append: Option<String>,
    /// A device tree from the kernel package (`/usr/lib/linux-image-*/<dtb>`).
    pub dtb: Option<String>,
    pub firmware: Option<Firmware>,
}

/// UEFI firmware from a Debian package, given to qemu as `-bios`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firmware {
    pub package: String,
    pub suite: String,
    pub path: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerPlatform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// Where the Nix build gets `core` from; the cargo path always builds it from source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RustStd {
    Prebuilt,
    BuildStd,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    platform: Vec<Platform>,
    multiarch: Multiarch,
}

/// The multi-arch OCI layout of every row.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Multiarch {
    pub layout_budget: u64,
}

impl DockerPlatform {
    /// `os/architecture[/variant]`, as `docker run --platform` takes it.
    pub fn spec(&self) -> String {
        match &self.variant {
            Some(variant) => format!("{}/{}/{}", self.os, self.architecture, variant),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

impl Platform {
    /// Whether this x86_64 machine runs the binary without an emulator.
    pub fn runs_natively(&self) -> bool {
        cfg!(target_arch = "x86_64") && matches!(self.name.as_str(), "x86_64" | "i686")
    }

    /// The emulator command on Debian (`qemu-user-static` names its binaries `*-static`).
    pub fn qemu_static(&self) -> String {
        format!("{}-static", self.qemu)
    }
}

fn table_from(path: &Path) -> Result<Table, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn table() -> Table {
    table_from(&crate::repo_root().join("platforms.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The rows of the repository's `platforms.toml`.
pub fn load() -> Vec<Platform> {
    table().platform
}

/// The `[multiarch]` table of the repository's `platforms.toml`.
pub fn multiarch() -> Multiarch {
    table().multiarch
}
