//! containerd's CRI behind the `Engine` trait: start is RunPodSandbox (with the image as the
//! instance's configured sandbox image: the CRI takes no image per pod), stop is
//! StopPodSandbox, and the exit code is the one containerd reports for the sandbox's task.

use super::engine::Engine;
use sleeper_tests::cri::{Containerd, Pod};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub struct Cri {
    pub containerd: Containerd,
    pods: Mutex<HashMap<String, Pod>>,
    exits: Mutex<HashMap<String, i32>>,
    /// Whether the pods share one PID namespace (`namespace_options.pid = POD`).
    pub share_pid: bool,
}

impl Cri {
    pub fn new(containerd: Containerd, share_pid: bool) -> Self {
        Cri {
            containerd,
            pods: Mutex::default(),
            exits: Mutex::default(),
            share_pid,
        }
    }

    pub fn pod(&self, name: &str) -> Result<Pod, String> {
        let pods = self.pods.lock().expect("not poisoned");
        pods.get(name)
            .cloned()
            .ok_or_else(|| format!("no pod {name}"))
    }

    /// RunPodSandbox for `name`: the pod and how long the call took.
    pub fn run_pod(&self, name: &str) -> Result<(Pod, std::time::Duration), String> {
        let (pod, took) = self.containerd.run_pod(name, self.share_pid)?;
        let mut pods = self.pods.lock().expect("not poisoned");
        pods.insert(name.into(), pod.clone());
        Ok((pod, took))
    }

    /// StopPodSandbox for `name`: how long it took and the exit status containerd reported.
    pub fn stop_pod(&self, name: &str) -> Result<(Duration, i32), String> {
        let pod = self.pod(name)?;
        let (took, status) = self.containerd.stop_pod(&pod.id)?;
        let mut exits = self.exits.lock().expect("not poisoned");
        exits.insert(name.into(), status);
        Ok((took, status))
    }
}

impl Engine for Cri {
    fn describe(&self) -> String {
        format!("containerd {} (CRI)", self.containerd.version)
    }

    fn start(&self, name: &str, image: &str) -> Result<i32, String> {
        if image != self.containerd.sandbox_image {
            return Err(format!(
                "this containerd's sandbox image is {}, not {image}",
                self.containerd.sandbox_image
            ));
        }
        let (pod, _) = self.run_pod(name)?;
        self.containerd.sandbox_pid(&pod.id)
    }

    fn pid(&self, name: &str) -> Result<i32, String> {
        self.containerd.sandbox_pid(&self.pod(name)?.id)
    }

    /// containerd takes no timeout: StopPodSandbox kills the sandbox at once.
    fn stop(&self, name: &str, _timeout: Duration) -> Result<(), String> {
        self.stop_pod(name).map(drop)
    }

    fn exit_code(&self, name: &str) -> Result<i32, String> {
        let exits = self.exits.lock().expect("not poisoned");
        exits
            .get(name)
            .copied()
            .ok_or_else(|| format!("{name} has not been stopped"))
    }
}
