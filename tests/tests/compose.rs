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

    /// Where each service is, holder first: the network namespace of its process, or None
    /// once it has exited; an error while one is starting or restarting.
    fn namespaces(&self) -> Result<Vec<Option<String>>, String> {
        ["holder"]
            .into_iter()
            .chain(MEMBERS)
            .map(|service| {
                let container = self.container(service);
                match self
                    .docker
                    .inspect(&container, "{{.State.Status}}")?
                    .as_str()
                {
                    "running" => {
                        let pid = inspected_pid(self.docker, &container)?;
                        let held =
                            File::open(format!("/proc/{pid}/ns/net")).map_err(|e| e.to_string())?;
                        self.seen.borrow_mut().push(held);
                        netns(pid).map(Some)
                    }
                    "exited" => Ok(None),
                    status => Err(format!("{service} is {status}")),
                }
            })
            .collect()
    }

    /// Waits up to 20 s until the holder runs in a namespace other than `old` and sleeps in
    /// rt_sigtimedwait, and `members` accepts where the members are; returns where each
    /// service is, holder first, or what was last seen.
    fn after_restart(
        &self,
        old: &str,
        members: impl Fn(&str, &[Option<String>]) -> bool,
    ) -> Result<Vec<Option<String>>, Vec<Option<String>>> {
        let mut last = Vec::new();
        let settled = poll(Duration::from_secs(20), || {
            let found = self.namespaces().ok()?;
            last = found.clone();
            let holder = found[0].as_deref()?;
            let waits = asleep_in_sigtimedwait(self.holder_pid().ok()?);
            (holder != old && waits && members(holder, &found[1..])).then_some(found)
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

/// Every member runs in the holder's namespace.
fn together(holder: &str, members: &[Option<String>]) -> bool {
    members.iter().all(|ns| ns.as_deref() == Some(holder))
}

/// No member runs outside the holder's namespace: each is in it, or has exited.
fn none_stranded(holder: &str, members: &[Option<String>]) -> bool {
    members
        .iter()
        .all(|ns| ns.is_none() || ns.as_deref() == Some(holder))
}

/// The holder's namespace in `found`.
fn holder(found: &[Option<String>]) -> &str {
    found[0].as_deref().expect("the holder runs")
}

/// The example, up: its members share the holder's namespace. `compose restart holder`
/// (`depends_on: {restart: true}`) restarts them into the holder's new one. When the holder
/// restarts without compose (`docker restart`, or killed and restarted by its restart policy),
/// the kernel ends the members with the holder's PID namespace (`pid: service:holder`): none is
/// left running in the old namespace. Their restart policy starts them again, into the new
/// one, unless it tries before the holder is back (then it stays exited: seen once on a
/// loaded machine); `compose up` starts those. The control shares only the network: after a `docker restart` its members keep
/// running in the old namespace. `compose stop` ends everything at once with the holder's exit
/// code 0; the control with a `pause()` loop as holder takes the whole grace period and ends
/// with 137.
fn the_example_pod_follows_its_holder_and_stops_at_once(release: Release) {
    let docker = Docker::new(release);
    let engine = docker.describe();
    let pod = Project::new(&docker, "dns", &[]);
    pod.compose(&["up", "--detach", "--wait"]);
    let up = pod.after_restart("", together).unwrap();
    assert_ne!(holder(&up), netns(std::process::id() as i32).unwrap());
    let networks = docker
        .run(&["network", "ls", "--format", "{{.Name}}"])
        .unwrap();
    assert!(
        !networks.contains("dns_"),
        "compose made a network: {networks}"
    );

    pod.compose(&["restart", "holder"]);
    let restarted = pod
        .after_restart(holder(&up), together)
        .unwrap_or_else(|seen| panic!("{engine}: after `compose restart holder`: {seen:?}"));

    // Restarts compose does not make: none strands a member.
    let mut outside = Vec::new();
    let mut before = restarted.clone();
    for how in ["docker restart", "SIGKILL"] {
        if how == "SIGKILL" {
            let pid = pod.holder_pid().unwrap();
            let pid = rustix::process::Pid::from_raw(pid).unwrap();
            rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
        } else {
            docker.run(&["restart", &pod.container("holder")]).unwrap();
        }
        let after = pod
            .after_restart(holder(&before), none_stranded)
            .unwrap_or_else(|seen| panic!("{engine}: after {how}: {seen:?}"));
        std::thread::sleep(Duration::from_secs(2));
        let later = pod.namespaces().unwrap();
        assert!(
            later[0] == after[0] && none_stranded(holder(&later), &later[1..]),
            "{engine}: 2 s after {how}: {later:?}"
        );
        let followed = later[1..].iter().filter(|ns| ns.is_some()).count();
        pod.compose(&["up", "--detach", "--wait"]);
        let again = pod
            .after_restart("", together)
            .unwrap_or_else(|seen| panic!("{engine}: `compose up` after {how}: {seen:?}"));
        assert_eq!(
            again[0], later[0],
            "{engine}: `compose up` restarted the holder"
        );
        outside.push(format!(
            "{how}: holder in {}, {followed} of 2 members followed it (the rest exited), none left outside; after `compose up` all in it",
            holder(&later)
        ));
        before = again;
    }

    // The control: members that share only the network stay in the old namespace.
    let control = Project::new(&docker, "network-only", &[NETWORK_ONLY]);
    control.compose(&["up", "--detach", "--wait"]);
    let control_up = control.after_restart("", together).unwrap();
    docker
        .run(&["restart", &control.container("holder")])
        .unwrap();
    let old = holder(&control_up).to_string();
    let left_behind =
        |_: &str, members: &[Option<String>]| members.iter().all(|ns| *ns == Some(old.clone()));
    let stranded = control.after_restart(&old, left_behind).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let still = control.namespaces().unwrap();
    assert!(
        still[0] == stranded[0] && left_behind("", &still[1..]),
        "{engine}: the network-only members were not stranded: {still:?}"
    );
    assert!(!none_stranded(holder(&still), &still[1..]));
    control.compose(&["restart", "holder"]);
    control
        .after_restart(holder(&stranded), together)
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
        "{engine}: up: all in {}; `compose restart holder`: all in {}; {}; network-only \
         control, `docker restart`: holder in {}, members left running in {old}, until \
         `compose restart holder`; `compose stop` took {took:?}, exit codes (holder, bird, \
         unbound) {codes:?}; `down` took {down:?}",
        holder(&up),
        holder(&restarted),
        outside.join("; "),
        holder(&stranded),
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
