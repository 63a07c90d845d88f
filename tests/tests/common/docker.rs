//! docker: a dockerd of the test's own, started in a scratch directory (data root, exec root,
//! socket, pidfile, `daemon.json`, CLI config) and stopped, with everything it made, when the
//! `Docker` is dropped, also when a test fails.
//!
//! The daemon runs in a private mount namespace with tmpfs on `/run` and `/opt`: dockerd always
//! makes `/run/docker/plugins` and the containerd it starts makes `/opt/containerd`, and its
//! overlay mounts stay in that namespace, so none of them reaches the host. Its cgroup parent is
//! a directory per daemon (cgroupfs driver, no cgroup change on the host), removed afterwards;
//! no iptables rules, no bridge.
//!
//! Two engines: Debian 12's `docker.io` (installed) and sid's (`docker.io`, `docker-cli`,
//! `docker-compose` unpacked by `scripts/setup-docker` into its cache); both use Debian 12's
//! containerd and runc.

use crate::common::engine::{self, Cli, Engine};
use crate::common::{poll, scratch_dir};
use sleeper_tests::image::DockerArchive;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SETUP: &str = "scripts/setup-docker (run by scripts/setup-debian)";

/// Where `scripts/setup-docker` unpacks sid's packages.
pub fn sid_root() -> PathBuf {
    PathBuf::from(
        std::env::var("SLEEPER_DOCKER_CACHE")
            .unwrap_or_else(|_| "/var/cache/sleeper/docker-sid".into()),
    )
    .join("root")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Debian 12's `docker.io`: dockerd and docker 20.10.
    Bookworm,
    /// sid's `docker.io`, `docker-cli` and `docker-compose` (v2).
    Sid,
}

impl Release {
    fn root(self) -> PathBuf {
        match self {
            Release::Bookworm => PathBuf::from("/"),
            Release::Sid => sid_root(),
        }
    }

    pub fn dockerd(self) -> PathBuf {
        self.root().join("usr/sbin/dockerd")
    }

    /// The CLI by absolute path: another `docker` may come first on PATH.
    pub fn cli(self) -> PathBuf {
        self.root().join("usr/bin/docker")
    }

    /// Compose v2 (sid's `docker-compose`), which drives either daemon.
    pub fn compose() -> PathBuf {
        sid_root().join("usr/libexec/docker/cli-plugins/docker-compose")
    }
}

pub struct Docker {
    dir: PathBuf,
    release: Release,
    daemon: Child,
    /// The cgroup parent's name: a directory under every cgroup v1 hierarchy.
    cgroup: String,
    version: String,
}

/// The programs a release needs, or a message naming the setup command.
fn require(release: Release) {
    for program in [release.dockerd(), release.cli()]
        .into_iter()
        .chain((release == Release::Sid).then(Release::compose))
        .chain(["/usr/bin/containerd", "/usr/sbin/runc"].map(PathBuf::from))
    {
        assert!(
            program.exists(),
            "{} is missing: run {SETUP}",
            program.display()
        );
    }
}

impl Docker {
    /// Starts the release's dockerd in a new scratch directory and waits until it answers.
    pub fn new(release: Release) -> Self {
        require(release);
        let dir = scratch_dir("docker");
        let cgroup = dir
            .file_name()
            .expect("a scratch dir has a name")
            .to_string_lossy()
            .into_owned();
        let config = serde_json::json!({
            // dockerd 20.10 keeps a key in /etc/docker/key.json otherwise.
            "deprecated-key-path": dir.join("key.json"),
        });
        let config_file = dir.join("daemon.json");
        std::fs::write(&config_file, config.to_string()).expect("daemon.json");
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("dockerd.log");
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg("mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /opt && exec \"$@\"")
            .arg("sh")
            .arg(release.dockerd())
            .arg("--config-file")
            .arg(&config_file)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("sock").display()))
            .args([
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--ip-masq=false",
            ])
            .arg(format!("--cgroup-parent=/{cgroup}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        // If the test process dies without dropping the `Docker`, so does the daemon.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::TERM,
                ))
                .map_err(std::io::Error::from)
            });
        }
        let daemon = command
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        let mut docker = Docker {
            dir,
            release,
            daemon,
            cgroup,
            version: String::new(),
        };
        let answered = poll(Duration::from_secs(60), || {
            let out = docker
                .output(&["version", "--format", "{{.Server.Version}}"])
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        });
        match answered {
            Some(version) => docker.version = version,
            None => panic!(
                "{} did not answer within 60 s:\n{}",
                release.dockerd().display(),
                docker.log()
            ),
        }
        docker
    }

    pub fn release(&self) -> Release {
        self.release
    }

    /// The daemon's version, as it reports it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// The environment that points a docker client (CLI, compose) at this daemon only.
    pub fn client_env(&self, command: &mut Command) {
        command
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.join("sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.join("client"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY");
    }

    /// The host PID of the daemon.
    pub fn daemon_pid(&self) -> i32 {
        self.daemon.id() as i32
    }

    /// The cgroup v1 directories of this daemon's cgroup parent that exist now.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|hierarchy| hierarchy.path().join(&self.cgroup))
            .filter(|dir| dir.is_dir())
            .collect()
    }

    /// Ends the daemon (SIGTERM, then SIGKILL after 20 s) and waits for it.
    fn end_daemon(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.daemon_pid()) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let ended = poll(Duration::from_secs(20), || {
            self.daemon.try_wait().ok().flatten()
        });
        if ended.is_none() {
            eprintln!(
                "dockerd {} ignored SIGTERM for 20 s: killed",
                self.daemon_pid()
            );
            let _ = self.daemon.kill();
            let _ = self.daemon.wait();
        }
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if let Ok(all) = self.run(&["ps", "--all", "--quiet"]) {
            let ids: Vec<&str> = all.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "--force", "--volumes"];
                args.extend(&ids);
                let _ = self.output(&args);
            }
        }
        self.end_daemon();
        // The cgroup parent's directories are left empty once the containers are gone.
        let left = poll(Duration::from_secs(10), || {
            let dirs = self.cgroup_dirs();
            dirs.iter().for_each(|dir| drop(std::fs::remove_dir(dir)));
            self.cgroup_dirs().is_empty().then_some(())
        });
        if left.is_none() {
            eprintln!("cannot remove the cgroups {:?}", self.cgroup_dirs());
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("cannot remove {}: {e}", self.dir.display());
        }
    }
}

impl Engine for Docker {
    fn describe(&self) -> String {
        format!("docker {}", self.version)
    }

    fn start(&self, name: &str, image: &str) -> Result<i32, String> {
        engine::run_holder(self, name, image)
    }

    fn pid(&self, name: &str) -> Result<i32, String> {
        engine::inspected_pid(self, name)
    }

    fn stop(&self, name: &str, timeout: Duration) -> Result<(), String> {
        engine::stop_within(self, name, timeout)
    }

    fn exit_code(&self, name: &str) -> Result<i32, String> {
        engine::inspected_exit_code(self, name)
    }
}

impl Cli for Docker {
    fn command(&self) -> Command {
        let mut command = Command::new(self.release.cli());
        self.client_env(&mut command);
        command
    }

    /// `docker load < ARCHIVE`: docker reads the gzip'd archive itself.
    fn load(&self, archive: &Path) -> Result<String, String> {
        let input =
            std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
        let output = self
            .command()
            .arg("load")
            .stdin(input)
            .output()
            .map_err(|e| format!("docker load: {e}"))?;
        let said = String::from_utf8_lossy(&output.stdout);
        let id = DockerArchive::read(archive)?.image_id();
        if !output.status.success() || !said.contains("Loaded image") {
            return Err(format!(
                "docker load < {} ({}): {said} {}",
                archive.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(id)
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}
