//! sleeper's images (`dist/images/`) in real container engines, each in a throwaway store or
//! daemon: podman 4.3 with runc (`common::podman`), Debian 12's docker 20.10 and sid's docker
//! (`common::docker`). Each behaviour is written once, over the engines' common command line
//! (`common::engine::Cli`), and run for every engine, next to a control that fails the same
//! check: a classic `pause()` loop (bench/alternatives/pause-loop.c) as the holder, or an
//! ordinary process.
//!
//! Members need a userland: their image holds only Debian's static busybox. Holders get
//! `--network none`: a namespace with just loopback, so nothing depends on a bridge.

mod common;

use common::binfmt::Binfmt;
use common::docker::{Docker, Release};
use common::engine::{Cli, Engine, inspected_exit_code, inspected_pid};
use common::podman::{Podman, netns, uids};
use common::test_images::{host_row, member_archive, pause_loop_archive};
use common::{asleep_in_sigtimedwait, built, images, poll, voluntary_sleeps, wchan};
use sleeper_tests::procfs::{children_of, stat_fields};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Generous for qemu's start-up and a loaded machine; a native start takes milliseconds.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// podman's and docker's own default for `stop`.
const DEFAULT_STOP: Duration = Duration::from_secs(10);
/// The control's stop timeout: the pause loop ignores SIGTERM and waits all of it.
const CONTROL_STOP: Duration = Duration::from_secs(2);

/// Each check runs once per engine, as `podman::CHECK`, `docker_bookworm::CHECK` (20.10) and
/// `docker_sid::CHECK`; the `docker` ones on the two docker engines only.
macro_rules! engines {
    (all: [$($check:ident),* $(,)?], docker: [$($docker:ident),* $(,)?] $(,)?) => {
        mod podman {
            $(#[test] fn $check() { super::$check(&super::Podman::new()); })*
        }
        mod docker_bookworm {
            $(#[test] fn $check() { super::$check(&super::Docker::new(super::Release::Bookworm)); })*
            $(#[test] fn $docker() { super::$docker(&super::Docker::new(super::Release::Bookworm)); })*
        }
        mod docker_sid {
            $(#[test] fn $check() { super::$check(&super::Docker::new(super::Release::Sid)); })*
            $(#[test] fn $docker() { super::$docker(&super::Docker::new(super::Release::Sid)); })*
        }
    };
}

engines!(
    all: [
        members_share_the_holders_network_and_talk_over_its_loopback,
        the_holder_reaps_orphans_of_members_and_the_pause_loop_does_not,
        stop_ends_it_at_once_with_status_0_and_waits_out_a_pause_loop,
        stray_signals_from_kill_leave_it_running,
        pause_and_unpause_leave_it_waiting_and_stoppable_at_once,
        it_runs_as_uid_65534,
        it_runs_read_only_without_capabilities_or_new_privileges,
        every_platforms_image_runs_under_binfmt_and_stops_with_status_0,
    ],
    docker: [pull_picks_each_platforms_own_image_from_a_registry],
);

/// An engine with the host's sleeper image, the member image and the control holder loaded.
struct Runtime<'e> {
    engine: &'e dyn Cli,
    sleeper: String,
    member: String,
    pause_loop: String,
}

impl<'e> Runtime<'e> {
    fn new(engine: &'e dyn Cli) -> Self {
        let load = |archive: &Path| {
            engine
                .load(archive)
                .unwrap_or_else(|e| panic!("{}: {e}", engine.describe()))
        };
        Runtime {
            engine,
            sleeper: load(&images().archives[host_row()]),
            member: load(member_archive()),
            pause_loop: load(pause_loop_archive()),
        }
    }

    /// Starts `image` as the holder `name` and returns its host PID once it waits.
    fn holder(&self, name: &str, image: &str) -> Result<i32, String> {
        let pid = self.engine.start(name, image)?;
        self.waiting(name, image, pid)
    }

    /// Waits until the holder `name` (host PID `pid`) waits: sleeper in rt_sigtimedwait, the
    /// control asleep at all.
    fn waiting(&self, name: &str, image: &str, pid: i32) -> Result<i32, String> {
        let waits = |pid| {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let sleeping = stat_fields(&state).first() == Some(&"S");
            (sleeping && (image != self.sleeper || asleep_in_sigtimedwait(pid))).then_some(())
        };
        poll(START_TIMEOUT, || waits(pid))
            .ok_or_else(|| format!("{name} is not waiting (wchan {:?})", wchan(pid)))?;
        Ok(pid)
    }

    /// Starts a member running `command` in the holder's network namespace.
    fn member(&self, name: &str, holder: &str, command: &[&str]) -> Result<i32, String> {
        let network = format!("container:{holder}");
        let mut args = vec!["run", "--detach", "--name", name, "--network", &network];
        args.push(&self.member);
        args.extend(command);
        self.engine.run(&args)?;
        self.engine.pid(name)
    }

    /// `stop` with `timeout`: the time it took and the container's exit code.
    fn timed_stop(&self, name: &str, timeout: Duration) -> (Duration, i32) {
        let started = Instant::now();
        self.engine.stop(name, timeout).unwrap();
        (started.elapsed(), self.engine.exit_code(name).unwrap())
    }

    /// sleeper's stop: under 1 s with exit code 0, though the engine would wait 10 s.
    fn stops_at_once(&self, name: &str) -> Duration {
        let (took, code) = self.timed_stop(name, DEFAULT_STOP);
        let engine = self.engine.describe();
        assert_eq!(code, 0, "{engine}: exit code after stop");
        assert!(
            took < Duration::from_secs(1),
            "{engine}: stop took {took:?}"
        );
        took
    }

    /// The control's stop: the whole timeout, then SIGKILL (137).
    fn waits_out_the_timeout(&self, name: &str) -> Duration {
        let (took, code) = self.timed_stop(name, CONTROL_STOP);
        let engine = self.engine.describe();
        assert_eq!(code, 137, "{engine}: the pause loop should die of SIGKILL");
        assert!(took >= CONTROL_STOP, "{engine}: stop took {took:?}");
        took
    }
}

fn members_share_the_holders_network_and_talk_over_its_loopback(engine: &dyn Cli) {
    let rt = Runtime::new(engine);
    let holder = rt.holder("holder", &rt.sleeper).unwrap();
    let token = format!("served-to-{}", std::process::id());
    let server_script = format!(
        "mkdir /www && echo {token} > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"
    );
    let server = rt
        .member("server", "holder", &["sh", "-c", &server_script])
        .unwrap();
    let client = rt.member("client", "holder", &["sleep", "600"]).unwrap();
    // The control: a container of its own, with its own loopback.
    engine
        .run(&[
            "run",
            "--detach",
            "--name",
            "outsider",
            "--network",
            "none",
            &rt.member,
            "sleep",
            "600",
        ])
        .unwrap();
    let outsider = engine.pid("outsider").unwrap();

    let holder_net = netns(holder).unwrap();
    assert_eq!(netns(server).unwrap(), holder_net, "server");
    assert_eq!(netns(client).unwrap(), holder_net, "client");
    assert_ne!(
        netns(outsider).unwrap(),
        holder_net,
        "the control shares it"
    );
    assert_ne!(netns(std::process::id() as i32).unwrap(), holder_net);

    // No `wget -T`: Debian's static busybox 1.35 segfaults on it.
    let fetch = |from: &str| {
        engine.output(&[
            "exec",
            from,
            "/bin/busybox",
            "wget",
            "-q",
            "-O",
            "-",
            "http://127.0.0.1:8080/",
        ])
    };
    let served = poll(Duration::from_secs(5), || {
        let output = fetch("client").ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    });
    assert_eq!(
        served.as_deref(),
        Some(token.as_str()),
        "client got no page"
    );
    let outside = fetch("outsider").unwrap();
    assert!(
        !outside.status.success(),
        "the outsider reached the pod's loopback: {}",
        String::from_utf8_lossy(&outside.stdout)
    );
    assert!(asleep_in_sigtimedwait(holder), "the holder is not waiting");
    eprintln!(
        "{}: holder, server and client in {holder_net}; client fetched {token:?}; the outsider did not",
        engine.describe()
    );
}

/// Runs a member in `holder`'s PID namespace that leaves two orphans (re-parented to the
/// holder, PID 1 there), and returns what is left under the holder once they have exited.
fn left_under(rt: &Runtime, holder: &str, image: &str) -> Vec<(i32, char, String)> {
    let pid = rt.holder(holder, image).unwrap();
    let pid_ns = format!("container:{holder}");
    let orphaner = format!("{holder}-member");
    rt.engine
        .run(&[
            "run",
            "--name",
            &orphaner,
            "--pid",
            &pid_ns,
            "--network",
            &pid_ns,
            &rt.member,
            "sh",
            "-c",
            "sleep 0.2 & sleep 0.2 & exit 0",
        ])
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    children_of(pid)
}

fn the_holder_reaps_orphans_of_members_and_the_pause_loop_does_not(engine: &dyn Cli) {
    let rt = Runtime::new(engine);
    let left = left_under(&rt, "holder", &rt.sleeper);
    assert!(left.is_empty(), "left under sleeper: {left:?}");
    let left = left_under(&rt, "control", &rt.pause_loop);
    assert!(
        left.iter().filter(|(_, state, _)| *state == 'Z').count() == 2,
        "expected two zombies under the pause loop, found {left:?}"
    );
    eprintln!(
        "{}: sleeper: nothing left; pause loop: {left:?}",
        engine.describe()
    );
}

fn stop_ends_it_at_once_with_status_0_and_waits_out_a_pause_loop(engine: &dyn Cli) {
    let rt = Runtime::new(engine);
    rt.holder("holder", &rt.sleeper).unwrap();
    let took = rt.stops_at_once("holder");
    rt.holder("control", &rt.pause_loop).unwrap();
    let control = rt.waits_out_the_timeout("control");
    eprintln!(
        "{}: sleeper: `stop` took {took:?}, exit code 0; pause loop: `stop --time 2` took {control:?}, exit code 137",
        engine.describe()
    );
}

fn stray_signals_from_kill_leave_it_running(engine: &dyn Cli) {
    let rt = Runtime::new(engine);
    let pid = rt.holder("holder", &rt.sleeper).unwrap();
    let strays = [
        "HUP", "QUIT", "USR1", "USR2", "PIPE", "ALRM", "WINCH", "CHLD", "RTMIN+1",
    ];
    for signal in strays {
        let before = voluntary_sleeps(pid).unwrap();
        engine.run(&["kill", "--signal", signal, "holder"]).unwrap();
        // Woken by the signal and waiting again: it was consumed, not left pending.
        poll(Duration::from_secs(2), || {
            (voluntary_sleeps(pid).ok()? > before && asleep_in_sigtimedwait(pid)).then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "not waiting again after SIG{signal} (wchan {:?})",
                wchan(pid)
            )
        });
        assert!(engine.running("holder").unwrap(), "SIG{signal} ended it");
    }
    // The control: the same check sees an ordinary process (not PID 1) die of SIGHUP.
    engine
        .run(&[
            "run",
            "--detach",
            "--name",
            "victim",
            "--pid",
            "container:holder",
            &rt.member,
            "sleep",
            "600",
        ])
        .unwrap();
    engine.run(&["kill", "--signal", "HUP", "victim"]).unwrap();
    let died = poll(Duration::from_secs(5), || {
        (!engine.running("victim").ok()?).then_some(())
    });
    assert!(died.is_some(), "the control survived SIGHUP");

    let took = rt.stops_at_once("holder");
    eprintln!(
        "{}: survived {strays:?}; then stopped in {took:?} with exit code 0; the control died of SIGHUP",
        engine.describe()
    );
}

/// `pause` freezes the holder's cgroup and `unpause` thaws it: it is waiting again, and a
/// stop still ends it at once with exit code 0. The control, paused and unpaused the same
/// way, still needs the whole timeout.
fn pause_and_unpause_leave_it_waiting_and_stoppable_at_once(engine: &dyn Cli) {
    let rt = Runtime::new(engine);
    let mut took = Vec::new();
    for (name, image) in [("holder", &rt.sleeper), ("control", &rt.pause_loop)] {
        let pid = rt.holder(name, image).unwrap();
        engine.run(&["pause", name]).unwrap();
        assert_eq!(engine.inspect(name, "{{.State.Paused}}").unwrap(), "true");
        engine.run(&["unpause", name]).unwrap();
        assert_eq!(engine.inspect(name, "{{.State.Paused}}").unwrap(), "false");
        rt.waiting(name, image, pid).unwrap();
        took.push(if name == "holder" {
            rt.stops_at_once(name)
        } else {
            rt.waits_out_the_timeout(name)
        });
    }
    eprintln!(
        "{}: after pause/unpause, sleeper stopped in {:?} (exit 0), the pause loop in {:?} (137)",
        engine.describe(),
        took[0],
        took[1]
    );
}

fn it_runs_as_uid_65534(engine: &dyn Cli) {
    let rt = Runtime::new(engine);
    let holder = rt.holder("holder", &rt.sleeper).unwrap();
    assert_eq!(
        uids(holder).unwrap(),
        [65534; 4],
        "real, effective, saved, fs"
    );
    // The control: a member from an image without a User runs as root.
    let member = rt.member("member", "holder", &["sleep", "600"]).unwrap();
    assert_eq!(uids(member).unwrap(), [0; 4]);
    eprintln!("{}: holder uids 65534, member uids 0", engine.describe());
}

/// A `/proc/<pid>/status` field.
fn status_field(pid: i32, field: &str) -> Result<String, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(|value| value.trim().to_string())
        .ok_or_else(|| format!("{path}: no {field}"))
}

/// The hardening a careful compose file gives a holder costs it nothing: it needs no
/// writable file, no capability and no privilege. The control: a program that writes a file
/// at start (as many do, a pid file say) fails under the same options.
fn it_runs_read_only_without_capabilities_or_new_privileges(engine: &dyn Cli) {
    let rt = Runtime::new(engine);
    let hardening = [
        "--read-only",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
    ];
    let mut args = vec!["run", "--detach", "--name", "holder", "--network", "none"];
    args.extend(hardening);
    args.push(&rt.sleeper);
    engine.run(&args).unwrap();
    let pid = rt
        .waiting(
            "holder",
            &rt.sleeper,
            inspected_pid(engine, "holder").unwrap(),
        )
        .unwrap();
    assert_eq!(status_field(pid, "CapEff").unwrap(), "0000000000000000");
    assert_eq!(status_field(pid, "CapPrm").unwrap(), "0000000000000000");
    assert_eq!(status_field(pid, "NoNewPrivs").unwrap(), "1");
    let took = rt.stops_at_once("holder");

    let mut args = vec!["run", "--name", "writer", "--network", "none"];
    args.extend(hardening);
    args.extend([rt.member.as_str(), "sh", "-c", "echo 1 > /pid"]);
    let written = engine.output(&args).unwrap();
    assert!(
        !written.status.success(),
        "the control wrote to a read-only root"
    );
    let code = inspected_exit_code(engine, "writer").unwrap();
    assert_ne!(code, 0, "the control's exit code");
    eprintln!(
        "{}: {hardening:?}: no capabilities, NoNewPrivs 1, stopped in {took:?} with exit 0; a writer exited {code}",
        engine.describe()
    );
}

/// qemu under binfmt is machine-wide and CPU-bound: one engine at a time runs the 11 images.
static EMULATION: Mutex<()> = Mutex::new(());

fn every_platforms_image_runs_under_binfmt_and_stops_with_status_0(engine: &dyn Cli) {
    let _one_at_a_time = EMULATION.lock().unwrap_or_else(|e| e.into_inner());
    let rows: Vec<_> = built().iter().map(|(p, _)| p).collect();
    let binfmt = Binfmt::for_platforms(&rows).unwrap_or_else(|e| panic!("binfmt: {e}"));
    let ids: Vec<String> = images()
        .archives
        .iter()
        .map(|archive| engine.load(archive).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let run = |index: usize| -> Result<String, String> {
        let platform = rows[index];
        let name = &platform.name;
        let pid = engine.start(name, &ids[index])?;
        poll(START_TIMEOUT, || asleep_in_sigtimedwait(pid).then_some(()))
            .ok_or_else(|| format!("not waiting (wchan {:?})", wchan(pid)))?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map_err(|e| e.to_string())?;
        let emulated = exe.to_string_lossy().contains(&platform.qemu);
        if emulated == platform.runs_natively() {
            return Err(format!("runs as {}", exe.display()));
        }
        let started = Instant::now();
        engine.stop(name, DEFAULT_STOP)?;
        let took = started.elapsed();
        match engine.exit_code(name)? {
            0 => Ok(format!(
                "{name:<12} {} stopped in {took:?}, exit 0",
                exe.display()
            )),
            code => Err(format!("exit code {code} after {took:?}")),
        }
    };
    // Three at a time: qemu start-up is CPU-bound and the machine has two cores.
    let results: Vec<(usize, Result<String, String>)> = (0..rows.len())
        .collect::<Vec<_>>()
        .chunks(3)
        .flat_map(|chunk| {
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|&i| (i, scope.spawn(move || run(i))))
                    .collect();
                handles
                    .into_iter()
                    .map(|(i, h)| (i, h.join().unwrap_or_else(|_| Err("panicked".into()))))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // Containers first: the binfmt entries must outlive every emulated process.
    for platform in &rows {
        let _ = engine.output(&["rm", "--force", &platform.name]);
    }
    drop(binfmt);
    let mut failures = Vec::new();
    for (i, result) in results {
        match result {
            Ok(line) => eprintln!("{}: {line}", engine.describe()),
            Err(e) => failures.push(format!("{}: {e}", rows[i].name)),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
/// podman's own pods with sleeper as the infra container. podman 4.3.1 runs the infra
/// container as uid 0 whatever the image's `User` says (it sets no user for infra), so a
/// pod's sleeper is root; `podman run --network=container:` holders keep 65534.
#[test]
fn a_podman_pod_with_sleeper_as_infra_shares_its_network_and_stops_at_once() {
    let podman = Podman::new();
    let rt = Runtime::new(&podman);
    rt.engine
        .run(&[
            "pod",
            "create",
            "--name",
            "pod",
            "--network",
            "none",
            "--infra-image",
            &rt.sleeper,
        ])
        .unwrap();
    rt.engine
        .run(&[
            "run",
            "--detach",
            "--pod",
            "pod",
            "--name",
            "member",
            &rt.member,
            "sh",
            "-c",
            "trap 'exit 0' TERM; sleep 600 & wait",
        ])
        .unwrap();
    let infra = rt
        .engine
        .run(&["pod", "inspect", "--format", "{{.InfraContainerID}}", "pod"])
        .unwrap();
    let infra_pid = inspected_pid(rt.engine, &infra).unwrap();
    let member_pid = inspected_pid(rt.engine, "member").unwrap();
    poll(START_TIMEOUT, || {
        asleep_in_sigtimedwait(infra_pid).then_some(())
    })
    .unwrap_or_else(|| panic!("infra not waiting (wchan {:?})", wchan(infra_pid)));
    assert_eq!(netns(member_pid).unwrap(), netns(infra_pid).unwrap());
    let infra_uids = uids(infra_pid).unwrap();
    assert_eq!(
        infra_uids, [0; 4],
        "podman 4.3.1 ran infra as uid 0; if this changed, update the comment above"
    );

    let started = Instant::now();
    rt.engine.run(&["pod", "stop", "pod"]).unwrap();
    let took = started.elapsed();
    assert_eq!(
        inspected_exit_code(rt.engine, &infra).unwrap(),
        0,
        "infra exit code"
    );
    assert_eq!(
        inspected_exit_code(rt.engine, "member").unwrap(),
        0,
        "member exit code"
    );
    assert!(
        took < Duration::from_secs(2),
        "podman pod stop took {took:?}"
    );
    eprintln!("pod: infra uids {infra_uids:?}, member in its netns, pod stop {took:?}, exit 0");
}

/// Debian's docker-registry on 127.0.0.1, its storage in a scratch directory; stopped and
/// removed on drop.
struct Registry {
    server: std::process::Child,
    dir: common::TempDir,
    address: String,
}

impl Registry {
    fn start() -> Self {
        let binary = Path::new("/usr/bin/docker-registry");
        assert!(
            binary.exists(),
            "{} is missing: run scripts/setup-docker (run by scripts/setup-debian)",
            binary.display()
        );
        let dir = common::TempDir::new("registry");
        // A free port: the kernel's choice, released just before the registry binds it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let address = format!("127.0.0.1:{port}");
        let config = dir.0.join("config.yml");
        let storage = dir.0.join("storage");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: {address}}}\n",
                storage.display()
            ),
        )
        .expect("config.yml");
        let log = std::fs::File::create(dir.0.join("log")).expect("log");
        let server = Command::new(binary)
            .args(["serve"])
            .arg(&config)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("docker-registry");
        let registry = Registry {
            server,
            dir,
            address,
        };
        poll(Duration::from_secs(10), || {
            std::net::TcpStream::connect(&registry.address).ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "docker-registry is not listening on {}: {}",
                registry.address,
                std::fs::read_to_string(registry.dir.0.join("log")).unwrap_or_default()
            )
        });
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// `docker pull --platform` picks each row (arm v5, v6, v7 included) from the multi-arch
/// index in a registry, as shipped in `dist/oci` and pushed with `skopeo copy --all`: its
/// `/pause` is the row's own binary. The control: a platform the index lacks is refused.
fn pull_picks_each_platforms_own_image_from_a_registry(engine: &dyn Cli) {
    let images = images();
    let registry = Registry::start();
    let tag = &images.declaration.tag;
    let reference = format!("{}/sleeper:{tag}", registry.address);
    let status = Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--quiet",
            "--insecure-policy",
            "--dest-tls-verify=false",
        ])
        .arg(format!("oci:{}:{tag}", images.layout.display()))
        .arg(format!("docker://{reference}"))
        .status()
        .unwrap_or_else(|e| panic!("skopeo: {e} (run scripts/setup-docker)"));
    assert!(status.success(), "skopeo copy: {status}");
    let mut failures = Vec::new();
    for (platform, binary) in built() {
        let spec = platform.docker.spec();
        let check = || -> Result<String, String> {
            engine.run(&["pull", "--quiet", "--platform", &spec, &reference])?;
            let said = engine.run(&[
                "image",
                "inspect",
                "--format",
                "{{.Os}}/{{.Architecture}}/{{.Variant}}",
                &reference,
            ])?;
            let container = engine.run(&["create", "--platform", &spec, &reference])?;
            let copy = engine.dir().join(&platform.name);
            let from = format!("{container}:{}", images.declaration.binary_path);
            engine.run(&["cp", &from, &copy.to_string_lossy()])?;
            engine.run(&["rm", &container])?;
            if std::fs::read(&copy).map_err(|e| e.to_string())?
                != std::fs::read(binary).map_err(|e| e.to_string())?
            {
                return Err(format!("its {from} is not {}", binary.display()));
            }
            Ok(said.trim_end_matches('/').to_string())
        };
        match check() {
            Ok(said) => eprintln!("{}: --platform {spec:<16} -> {said}", engine.describe()),
            Err(e) => failures.push(format!("{}: {e}", platform.name)),
        }
    }
    let absent = engine
        .output(&["pull", "--quiet", "--platform", "linux/sparc64", &reference])
        .unwrap();
    assert!(!absent.status.success(), "linux/sparc64 was pulled");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Where a docker daemon keeps things unless told otherwise.
const DOCKER_HOST_PATHS: [&str; 7] = [
    "/run/docker",
    "/opt/containerd",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/run/containerd",
    "/etc/docker/key.json",
    "/root/.docker",
];

/// Each test's dockerd leaves the host as it found it: none of the paths above made, no cgroup
/// directory, mount, process or scratch file left. The control, while it runs: the check does
/// see `/run/docker` and its overlay mounts from inside the daemon's own mount namespace, its
/// cgroup directories and its processes.
#[test]
fn docker_daemons_leave_nothing_on_the_host() {
    let before: Vec<bool> = DOCKER_HOST_PATHS
        .iter()
        .map(|p| Path::new(p).exists())
        .collect();
    let host_mounts = || std::fs::read_to_string("/proc/self/mounts").unwrap();
    for release in [Release::Bookworm, Release::Sid] {
        let docker = Docker::new(release);
        let engine = docker.describe();
        let image = docker.load(&images().archives[host_row()]).unwrap();
        let holder = docker.start("holder", &image).unwrap();
        let daemon = docker.daemon_pid();
        let dir = docker.dir().to_path_buf();
        let inside = |path: &str| Path::new(&format!("/proc/{daemon}/root{path}")).exists();
        assert!(
            inside("/run/docker/plugins"),
            "{engine}: no /run/docker inside"
        );
        let daemon_mounts = std::fs::read_to_string(format!("/proc/{daemon}/mounts")).unwrap();
        let dir_text = dir.to_string_lossy().into_owned();
        assert!(
            daemon_mounts.contains(&dir_text),
            "{engine}: no mount inside"
        );
        assert!(
            !host_mounts().contains(&dir_text),
            "{engine}: a mount reached the host"
        );
        let cgroups = docker.cgroup_dirs();
        assert!(!cgroups.is_empty(), "{engine}: no cgroup parent");
        drop(docker);

        let gone = |pid: i32| !Path::new(&format!("/proc/{pid}")).exists();
        assert!(gone(daemon) && gone(holder), "{engine}: processes left");
        assert!(
            cgroups.iter().all(|c| !c.exists()),
            "{engine}: {cgroups:?} left"
        );
        assert!(!dir.exists(), "{engine}: {} left", dir.display());
        assert!(!host_mounts().contains(&dir_text), "{engine}: mounts left");
        for (path, existed) in DOCKER_HOST_PATHS.iter().zip(&before) {
            assert_eq!(Path::new(path).exists(), *existed, "{engine}: {path}");
        }
        eprintln!(
            "{engine}: /run/docker and the overlay mounts only inside; {} cgroup directories, \
             the daemon and the holder gone after it; nothing of {DOCKER_HOST_PATHS:?} made",
            cgroups.len()
        );
    }
}
