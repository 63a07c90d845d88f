//! `examples/compose.yaml`, the pod by hand as docker users write it, run by compose v2 (sid's
//! `docker-compose`) against Debian 12's docker 20.10 and sid's docker, each a dockerd of the
//! test's own (`common::docker`). BIRD and Unbound cannot be pulled here: an override puts
//! busybox in their place and gives the holder a namespace with only loopback; the holder, the
//! joins and the `depends_on` are the example's own.

mod common;

use common::docker::{Docker, Release};
use common::engine::{Cli, Engine, inspected_exit_code, inspected_pid};
use common::podman::netns;
use common::test_images::{host_row, member_archive, pause_loop_archive};
use common::{asleep_in_sigtimedwait, images, poll};
use sleeper_tests::repo_root;
use std::cell::RefCell;
use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const MEMBERS: [&str; 2] = ["bird", "unbound"];

/// What this machine cannot run of the example: the members' images and the holder's ports.
const OVERRIDE: &str = "
services:
  holder:
    ports: !reset []
    network_mode: none
  bird:
    image: sleeper-test-member:test
    command: [sleep, '600']
    volumes: !reset []
  unbound:
    image: sleeper-test-member:test
    command: [sleep, '600']
    volumes: !reset []
";

/// The control for the restarts: members that share only the holder's network.
const NETWORK_ONLY: &str = "
services:
  bird:
    pid: !reset null
  unbound:
    pid: !reset null
";

/// The control for the stop: the example with a `pause()` loop as its holder.
const PAUSE_LOOP: &str = "
services:
  holder:
    image: sleeper-test-pause-loop:test
    stop_grace_period: 2s
";

/// The example's project on one daemon, with the images it names loaded.
struct Project<'d> {
    docker: &'d Docker,
    name: String,
    files: Vec<PathBuf>,
    /// Every namespace seen, held open: the kernel reuses a freed namespace's inode number,
    /// so a namespace must outlive the comparison of its name with a newer one's.
    seen: RefCell<Vec<File>>,
}

impl<'d> Project<'d> {
    fn new(docker: &'d Docker, name: &str, overrides: &[&str]) -> Self {
        for archive in [
            images().archives[host_row()].as_path(),
            member_archive(),
            pause_loop_archive(),
        ] {
            docker.load(archive).unwrap();
        }
        let mut files = vec![repo_root().join("examples/compose.yaml")];
        let overrides = [OVERRIDE].iter().chain(overrides);
        for (i, text) in overrides.enumerate() {
            let file = docker.dir().join(format!("{name}-{i}.yaml"));
            std::fs::write(&file, text).unwrap();
            files.push(file);
        }
        Project {
            docker,
            name: name.to_string(),
            files,
            seen: RefCell::new(Vec::new()),
        }
    }

    /// `docker-compose -f examples/compose.yaml -f OVERRIDES... ARGS`: its trimmed stdout.
    fn compose(&self, args: &[&str]) -> String {
        let mut command = Command::new(Release::compose());
        self.docker.client_env(&mut command);
        command.args(["--project-name", &self.name]);
        for file in &self.files {
            command.arg("--file").arg(file);
        }
        let output = command
            .args(["--progress", "quiet"])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        assert!(
            output.status.success(),
            "compose {args:?} ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// The container of `service`.
    fn container(&self, service: &str) -> String {
        let id = self.compose(&["ps", "--all", "--quiet", service]);
        assert!(!id.is_empty() && !id.contains('\n'), "{service}: {id:?}");
        id
    }

    /// The network namespace of each service's process: holder first, then the members.
    fn namespaces(&self) -> Result<Vec<String>, String> {
        ["holder"]
            .into_iter()
            .chain(MEMBERS)
            .map(|service| {
                let pid = inspected_pid(self.docker, &self.container(service))?;
                let held = File::open(format!("/proc/{pid}/ns/net")).map_err(|e| e.to_string())?;
                self.seen.borrow_mut().push(held);
                netns(pid)
            })
            .collect()
    }

    /// Waits up to 20 s until the holder runs in a namespace other than `old` and sleeps in
    /// rt_sigtimedwait, and `members` says the members are where they should be; returns the
    /// namespaces, holder first, or the last ones seen.
    fn after_restart(
        &self,
        old: &str,
        members: impl Fn(&[String]) -> bool,
    ) -> Result<Vec<String>, Vec<String>> {
        let mut last = Vec::new();
        let settled = poll(Duration::from_secs(20), || {
            let found = self.namespaces().ok()?;
            let holder_waits = asleep_in_sigtimedwait(self.holder_pid().ok()?);
            last = found.clone();
            (found[0] != old && holder_waits && members(&found)).then_some(found)
        });
        settled.ok_or(last)
    }

    fn holder_pid(&self) -> Result<i32, String> {
        inspected_pid(self.docker, &self.container("holder"))
    }

    /// `compose stop`: how long it took, and each service's exit code (holder first).
    fn stop(&self) -> (Duration, Vec<i32>) {
        let containers: Vec<String> = ["holder"]
            .into_iter()
            .chain(MEMBERS)
            .map(|service| self.container(service))
            .collect();
        let started = Instant::now();
        self.compose(&["stop"]);
        let took = started.elapsed();
        let codes = containers
            .iter()
            .map(|c| inspected_exit_code(self.docker, c).unwrap())
            .collect();
        (took, codes)
    }
}

/// All in one namespace: the holder's.
fn together(found: &[String]) -> bool {
    found.iter().all(|ns| *ns == found[0])
}

/// The example, up: its members share the holder's namespace. `compose restart holder`
/// (`depends_on: {restart: true}`) restarts them into the holder's new one. A `docker
/// restart` of the holder outside compose: the kernel ends the members with the holder's PID
/// namespace (`pid: service:holder`) and their restart policy starts them again, in the new
/// one; the same when the holder is killed and its restart policy restarts it. The control shares only the network: there a `docker restart` strands the members in
/// the old namespace (and `compose restart holder` brings them back). `compose stop` ends
/// everything at once with the holder's exit code 0; the control with a `pause()` loop as holder
/// takes the whole grace period and ends with 137.
fn the_example_pod_follows_its_holder_and_stops_at_once(release: Release) {
    let docker = Docker::new(release);
    let engine = docker.describe();
    let pod = Project::new(&docker, "dns", &[]);
    pod.compose(&["up", "--detach", "--wait"]);
    let up = pod.after_restart("", together).unwrap();
    assert_ne!(up[0], netns(std::process::id() as i32).unwrap());
    let networks = docker
        .run(&["network", "ls", "--format", "{{.Name}}"])
        .unwrap();
    assert!(
        !networks.contains("dns_"),
        "compose made a network: {networks}"
    );

    pod.compose(&["restart", "holder"]);
    let restarted = pod
        .after_restart(&up[0], together)
        .unwrap_or_else(|seen| panic!("{engine}: after `compose restart holder`: {seen:?}"));
    let holder = pod.container("holder");
    docker.run(&["restart", &holder]).unwrap();
    let followed = pod
        .after_restart(&restarted[0], together)
        .unwrap_or_else(|seen| panic!("{engine}: after `docker restart`: {seen:?}"));

    // A crash: the holder killed from outside, restarted by its restart policy.
    let crashed = pod.holder_pid().unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(crashed).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let after_crash = pod
        .after_restart(&followed[0], together)
        .unwrap_or_else(|seen| panic!("{engine}: after the holder was killed: {seen:?}"));

    // The control: members that share only the network stay in the old namespace.
    let control = Project::new(&docker, "network-only", &[NETWORK_ONLY]);
    control.compose(&["up", "--detach", "--wait"]);
    let control_up = control.after_restart("", together).unwrap();
    docker
        .run(&["restart", &control.container("holder")])
        .unwrap();
    let left_behind = |found: &[String]| found[1..].iter().all(|ns| *ns == control_up[0]);
    let stranded = control.after_restart(&control_up[0], left_behind).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let still = control.namespaces().unwrap();
    assert!(
        left_behind(&still) && still[0] == stranded[0],
        "{engine}: the network-only members were not stranded: {still:?}"
    );
    control.compose(&["restart", "holder"]);
    let recovered = control
        .after_restart(&stranded[0], together)
        .unwrap_or_else(|seen| panic!("{engine}: control after `compose restart`: {seen:?}"));
    control.compose(&["down"]);

    let (took, codes) = pod.stop();
    assert_eq!(codes[0], 0, "{engine}: the holder's exit code");
    assert!(
        took < Duration::from_secs(3),
        "{engine}: compose stop took {took:?}"
    );
    let started = Instant::now();
    pod.compose(&["down"]);
    let down = started.elapsed();
    assert_eq!(docker.run(&["ps", "--all", "--quiet"]).unwrap(), "");
    eprintln!(
        "{engine}: up: all in {}; `compose restart holder`: all in {}; `docker restart`: all in {}; \
         holder killed: all in {}; network-only control, `docker restart`: holder in {}, members left in {}, then \
         `compose restart holder`: all in {}; `compose stop` took {took:?}, exit codes \
         (holder, bird, unbound) {codes:?}; `down` took {down:?}",
        up[0], restarted[0], followed[0], after_crash[0], stranded[0], control_up[0], recovered[0]
    );

    let pause_loop = Project::new(&docker, "pause-loop", &[PAUSE_LOOP]);
    pause_loop.compose(&["up", "--detach", "--wait"]);
    let (control_took, control_codes) = pause_loop.stop();
    assert_eq!(
        control_codes[0], 137,
        "{engine}: the pause loop's exit code"
    );
    assert!(
        control_took >= Duration::from_secs(2),
        "{engine}: compose stop of the pause loop took {control_took:?}"
    );
    pause_loop.compose(&["down"]);
    eprintln!(
        "{engine}: pause loop as holder: `compose stop` took {control_took:?}, exit codes {control_codes:?}"
    );
}

#[test]
fn compose_on_docker_bookworm() {
    the_example_pod_follows_its_holder_and_stops_at_once(Release::Bookworm);
}

#[test]
fn compose_on_docker_sid() {
    the_example_pod_follows_its_holder_and_stops_at_once(Release::Sid);
}
