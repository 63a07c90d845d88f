//! The one interface every container engine of the tests sits behind (podman, docker,
//! compose, containerd's CRI): each behaviour (exit 0 on stop, shared netns, reaping, strays,
//! uid) is asserted once, over this trait, for every engine.

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

impl Engine for super::podman::Podman {
    fn describe(&self) -> String {
        self.run(&["version", "--format", "podman {{.Client.Version}}"])
            .unwrap_or_else(|e| e)
    }

    fn start(&self, name: &str, image: &str) -> Result<i32, String> {
        self.run_holder(name, image)
    }

    fn pid(&self, name: &str) -> Result<i32, String> {
        super::podman::Podman::pid(self, name)
    }

    fn stop(&self, name: &str, timeout: Duration) -> Result<(), String> {
        let seconds = timeout.as_secs().to_string();
        self.run(&["stop", "--time", &seconds, name]).map(drop)
    }

    fn exit_code(&self, name: &str) -> Result<i32, String> {
        super::podman::Podman::exit_code(self, name)
    }
}
