//! The one interface every container engine of the tests sits behind (podman, docker,
//! compose, containerd's CRI): each behaviour (exit 0 on stop, shared netns, reaping, strays,
//! uid) is asserted once, over this trait, for every engine.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

pub trait Engine {
    /// The engine and its version, for messages: "podman 4.3.1", "docker 20.10.24".
    fn describe(&self) -> String;

    /// Starts `image` as the holder `name`, in a network namespace of its own with only
    /// loopback, and returns its host PID.
    fn start(&self, name: &str, image: &str) -> Result<i32, String>;

    /// The host PID of the container's (or sandbox's) first process.
    fn pid(&self, name: &str) -> Result<i32, String>;

    /// Stops `name` as the engine's users do, waiting at most `timeout` before it kills.
    fn stop(&self, name: &str, timeout: Duration) -> Result<(), String>;

    /// The exit code the engine reports for the stopped `name`.
    fn exit_code(&self, name: &str) -> Result<i32, String>;
}

/// Engines driven by a docker-compatible command line (podman, docker): the same `run`,
/// `exec`, `kill`, `pause`, `stop` and `inspect` options, so a test writes each step once.
pub trait Cli: Engine + Sync {
    /// The engine's command, pointed at the test's own store or daemon.
    fn command(&self) -> Command;

    /// Loads a docker-archive as shipped (`dist/images/<name>.tar.gz`) and returns its image ID.
    fn load(&self, archive: &Path) -> Result<String, String>;

    /// A scratch directory, removed with the engine.
    fn dir(&self) -> &Path;

    /// Runs the engine with `args`, whatever its exit status.
    fn output(&self, args: &[&str]) -> Result<Output, String> {
        self.command()
            .args(args)
            .output()
            .map_err(|e| format!("{} {args:?}: {e}", self.describe()))
    }

    /// Runs the engine with `args`; its trimmed stdout, or an error with its stderr.
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let output = self.output(args)?;
        if !output.status.success() {
            return Err(format!(
                "{} {args:?} failed ({}): {}",
                self.describe(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    fn inspect(&self, container: &str, format: &str) -> Result<String, String> {
        self.run(&["container", "inspect", "--format", format, container])
    }

    fn running(&self, container: &str) -> Result<bool, String> {
        Ok(self.inspect(container, "{{.State.Running}}")? == "true")
    }
}

/// The host PID of a container, from `inspect`.
pub fn inspected_pid(engine: &dyn Cli, container: &str) -> Result<i32, String> {
    let pid = engine.inspect(container, "{{.State.Pid}}")?;
    match pid.parse() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(format!("{container} has no process (pid {pid:?})")),
    }
}

/// The exit code of a container, from `inspect`.
pub fn inspected_exit_code(engine: &dyn Cli, container: &str) -> Result<i32, String> {
    let code = engine.inspect(container, "{{.State.ExitCode}}")?;
    code.parse().map_err(|_| format!("exit code {code:?}"))
}

/// `ENGINE run --detach --name NAME --network none IMAGE`: a namespace with only loopback
/// (nothing depends on the engine's bridge); the container's host PID.
pub fn run_holder(engine: &dyn Cli, name: &str, image: &str) -> Result<i32, String> {
    engine.run(&[
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "none",
        image,
    ])?;
    inspected_pid(engine, name)
}

/// `ENGINE stop --time SECONDS NAME`.
pub fn stop_within(engine: &dyn Cli, name: &str, timeout: Duration) -> Result<(), String> {
    let seconds = timeout.as_secs().to_string();
    engine.run(&["stop", "--time", &seconds, name]).map(drop)
}

impl Engine for super::podman::Podman {
    fn describe(&self) -> String {
        let version = self
            .command()
            .args(["version", "--format", "{{.Client.Version}}"])
            .output();
        match version {
            Ok(out) => format!("podman {}", String::from_utf8_lossy(&out.stdout).trim()),
            Err(e) => format!("podman ({e})"),
        }
    }

    fn start(&self, name: &str, image: &str) -> Result<i32, String> {
        run_holder(self, name, image)
    }

    fn pid(&self, name: &str) -> Result<i32, String> {
        inspected_pid(self, name)
    }

    fn stop(&self, name: &str, timeout: Duration) -> Result<(), String> {
        stop_within(self, name, timeout)
    }

    fn exit_code(&self, name: &str) -> Result<i32, String> {
        inspected_exit_code(self, name)
    }
}

impl Cli for super::podman::Podman {
    fn command(&self) -> Command {
        super::podman::Podman::command(self)
    }

    fn load(&self, archive: &Path) -> Result<String, String> {
        super::podman::Podman::load(self, archive)
    }

    fn dir(&self) -> &Path {
        super::podman::Podman::dir(self)
    }
}
