//! binfmt_misc entries for Debian's qemu-user-static, so that the kernel runs foreign images'
//! binaries in containers. binfmt_misc is machine-wide: the guard registers only what is
//! missing and removes exactly that (and unmounts only what it mounted) when dropped.

use sleeper_tests::platforms::Platform;
use std::path::Path;
use std::process::Command;

const DIR: &str = "/proc/sys/fs/binfmt_misc";
const CONFS: &str = "/usr/lib/binfmt.d";

#[derive(Default)]
pub struct Binfmt {
    mounted: bool,
    registered: Vec<String>,
}

impl Binfmt {
    /// Makes every foreign platform's qemu (platforms.toml's `qemu`) a registered handler.
    pub fn for_platforms(platforms: &[&Platform]) -> Result<Self, String> {
        let mut guard = Binfmt::default();
        if !Path::new(DIR).join("register").exists() {
            let status = Command::new("mount")
                .args(["-t", "binfmt_misc", "binfmt_misc", DIR])
                .status()
                .map_err(|e| format!("mount: {e}"))?;
            if !status.success() {
                return Err(format!("mount binfmt_misc on {DIR}: {status}"));
            }
            guard.mounted = true;
        }
        for platform in platforms.iter().filter(|p| !p.runs_natively()) {
            let name = &platform.qemu;
            if Path::new(DIR).join(name).exists() || guard.registered.contains(name) {
                continue;
            }
            let conf = Path::new(CONFS).join(format!("{name}.conf"));
            let text = std::fs::read_to_string(&conf).map_err(|e| {
                format!("{}: {e} (apt-get install qemu-user-static)", conf.display())
            })?;
            let entry = text
                .lines()
                .find(|line| line.starts_with(':'))
                .ok_or_else(|| format!("{}: no entry", conf.display()))?;
            std::fs::write(Path::new(DIR).join("register"), entry)
                .map_err(|e| format!("registering {name}: {e}"))?;
            guard.registered.push(name.clone());
        }
        Ok(guard)
    }
}

impl Drop for Binfmt {
    fn drop(&mut self) {
        for name in &self.registered {
            if let Err(e) = std::fs::write(Path::new(DIR).join(name), "-1") {
                eprintln!("cannot remove the binfmt entry {name}: {e}");
            }
        }
        if self.mounted {
            let _ = Command::new("umount").arg(DIR).status();
        }
    }
}
