//! sleeper's images (`dist/images/`) in a real container runtime: podman 4.3 with runc, in
//! throwaway stores (`common::podman`). Each behaviour is shown next to a control that fails
//! the same check: a classic `pause()` loop (bench/alternatives/pause-loop.c) as the holder, or
//! an ordinary process.
//!
//! Members need a userland: their image holds only Debian's static busybox. Holders get
//! `--network none`: a namespace with just loopback, so nothing depends on podman's bridge.
//!
//! Docker is not covered: its daemon needs a cgroup layout (the hugetlb controller) that this
//! machine would have to be changed for.

mod common;

use common::binfmt::Binfmt;
use common::podman::{Podman, netns, uids};
use common::{asleep_in_sigtimedwait, built, children_of, images, poll, voluntary_sleeps, wchan};
use serde_json::json;
use sleeper_tests::{image, repo_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Generous for qemu's start-up and a loaded machine; a native start takes milliseconds.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The row of the machine the tests run on.
fn host_row() -> usize {
    built()
        .iter()
        .position(|(p, _)| p.name == std::env::consts::ARCH)
        .unwrap_or_else(|| panic!("no row of platforms.toml is {}", std::env::consts::ARCH))
}

/// A docker-archive of one static host binary as `path`, made by the script that makes
/// sleeper's images (`target/test-images/<name>.tar.gz`, built once per test binary).
fn test_archive(name: &str, binary: &Path, path: &str) -> Result<PathBuf, String> {
    let dir = repo_root().join("target/test-images");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let declaration = json!({
        "name": format!("sleeper-test-{name}"),
        "tag": "test",
        "created": "1970-01-01T00:00:01Z",
        "binaryPath": path,
        "config": { "Entrypoint": [path] },
    });
    let json = dir.join(format!("{name}.json"));
    std::fs::write(&json, declaration.to_string()).map_err(|e| e.to_string())?;
    let out = dir.join(format!("{name}.tar.gz"));
    let host = &built()[host_row()].0;
    image::archive(binary, &host.docker.architecture, &json, &out)?;
    Ok(out)
}

/// The members' image: busybox, whose shell runs its applets without links.
fn member_archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "/bin/busybox is missing: apt-get install busybox-static"
        );
        test_archive("member", busybox, "/bin/busybox").unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The control holder: `for (;;) pause();`, static, as people build it.
fn pause_loop_archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let binary = repo_root().join("target/test-images/pause-loop");
        std::fs::create_dir_all(binary.parent().expect("has a parent")).expect("mkdir");
        let status = Command::new("musl-gcc")
            .args(["-Os", "-static", "-s", "-o"])
            .arg(&binary)
            .arg(repo_root().join("bench/alternatives/pause-loop.c"))
            .status()
            .unwrap_or_else(|e| panic!("musl-gcc: {e} (apt-get install musl-tools)"));
        assert!(status.success(), "musl-gcc: {status}");
        test_archive("pause-loop", &binary, "/pause-loop").unwrap_or_else(|e| panic!("{e}"))
    })
}

/// A store with the host's sleeper image, the member image and the control holder loaded.
struct Runtime {
    podman: Podman,
    sleeper: String,
    member: String,
    pause_loop: String,
}

impl Runtime {
    fn new() -> Self {
        let podman = Podman::new();
        let load = |archive: &Path| podman.load(archive).unwrap_or_else(|e| panic!("{e}"));
        let sleeper = load(&images().archives[host_row()]);
        let member = load(member_archive());
        let pause_loop = load(pause_loop_archive());
        Runtime {
            podman,
            sleeper,
            member,
            pause_loop,
        }
    }

    /// Starts `image` as the holder `name` and returns its host PID once it waits.
    fn holder(&self, name: &str, image: &str) -> Result<i32, String> {
        let pid = self.podman.run_holder(name, image)?;
        let waits = |pid| {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let sleeping = common::stat_fields(&state).first() == Some(&"S");
            // sleeper is ready once in rt_sigtimedwait; the control once it sleeps at all.
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
        self.podman.run(&args)?;
        self.podman.pid(name)
    }
}

#[test]
fn members_share_the_holders_network_and_talk_over_its_loopback() {
    let rt = Runtime::new();
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
    rt.podman
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
    let outsider = rt.podman.pid("outsider").unwrap();

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
        rt.podman.output(&[
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
    eprintln!("holder, server and client in {holder_net}; client fetched {token:?}");
}

/// Runs a member in `holder`'s PID namespace that leaves two orphans (re-parented to the
/// holder, PID 1 there), and returns what is left under the holder once they have exited.
fn left_under(rt: &Runtime, holder: &str, image: &str) -> Vec<(i32, char, String)> {
    let pid = rt.holder(holder, image).unwrap();
    let pid_ns = format!("container:{holder}");
    let orphaner = format!("{holder}-member");
    rt.podman
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

#[test]
fn the_holder_reaps_orphans_of_members_and_the_pause_loop_does_not() {
    let rt = Runtime::new();
    let left = left_under(&rt, "holder", &rt.sleeper);
    assert!(left.is_empty(), "left under sleeper: {left:?}");
    let left = left_under(&rt, "control", &rt.pause_loop);
    assert!(
        left.iter().filter(|(_, state, _)| *state == 'Z').count() == 2,
        "expected two zombies under the pause loop, found {left:?}"
    );
    eprintln!("sleeper: nothing left; pause loop: {left:?}");
}

/// `podman stop NAME [extra]`: the time it took and the container's exit code.
fn timed_stop(podman: &Podman, name: &str, extra: &[&str]) -> (Duration, i32) {
    let started = Instant::now();
    let mut args = vec!["stop"];
    args.extend(extra);
    args.push(name);
    podman.run(&args).unwrap();
    (started.elapsed(), podman.exit_code(name).unwrap())
}

#[test]
fn podman_stop_ends_it_at_once_with_status_0_and_waits_out_a_pause_loop() {
    let rt = Runtime::new();
    rt.holder("holder", &rt.sleeper).unwrap();
    let (took, code) = timed_stop(&rt.podman, "holder", &[]);
    eprintln!("sleeper: `podman stop` took {took:?}, exit code {code}");
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(1), "podman stop took {took:?}");

    rt.holder("control", &rt.pause_loop).unwrap();
    let (took, code) = timed_stop(&rt.podman, "control", &["--time", "2"]);
    eprintln!("pause loop: `podman stop --time 2` took {took:?}, exit code {code}");
    assert_eq!(code, 137, "the pause loop should die of SIGKILL");
    assert!(took >= Duration::from_secs(2), "podman stop took {took:?}");
}

#[test]
fn stray_signals_from_podman_kill_leave_it_running() {
    let rt = Runtime::new();
    let pid = rt.holder("holder", &rt.sleeper).unwrap();
    let strays = [
        "HUP", "QUIT", "USR1", "USR2", "PIPE", "ALRM", "WINCH", "CHLD", "RTMIN+1",
    ];
    for signal in strays {
        let before = voluntary_sleeps(pid).unwrap();
        rt.podman
            .run(&["kill", "--signal", signal, "holder"])
            .unwrap();
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
        assert!(rt.podman.running("holder").unwrap(), "SIG{signal} ended it");
    }
    // The control: the same check sees an ordinary process (not PID 1) die of SIGHUP.
    rt.podman
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
    rt.podman
        .run(&["kill", "--signal", "HUP", "victim"])
        .unwrap();
    let died = poll(Duration::from_secs(5), || {
        (!rt.podman.running("victim").ok()?).then_some(())
    });
    assert!(died.is_some(), "the control survived SIGHUP");

    let (took, code) = timed_stop(&rt.podman, "holder", &[]);
    assert_eq!(code, 0, "exit code after the stray signals");
    eprintln!("survived {strays:?}; then stopped in {took:?} with exit code 0");
}

#[test]
fn it_runs_as_uid_65534() {
    let rt = Runtime::new();
    let holder = rt.holder("holder", &rt.sleeper).unwrap();
    assert_eq!(
        uids(holder).unwrap(),
        [65534; 4],
        "real, effective, saved, fs"
    );
    // The control: a member from an image without a User runs as root.
    let member = rt.member("member", "holder", &["sleep", "600"]).unwrap();
    assert_eq!(uids(member).unwrap(), [0; 4]);
}

/// podman's own pods with sleeper as the infra container. podman 4.3.1 runs the infra
/// container as uid 0 whatever the image's `User` says (it sets no user for infra), so a
/// pod's sleeper is root; `podman run --network=container:` holders keep 65534.
#[test]
fn a_podman_pod_with_sleeper_as_infra_shares_its_network_and_stops_at_once() {
    let rt = Runtime::new();
    rt.podman
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
    rt.podman
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
        .podman
        .run(&["pod", "inspect", "--format", "{{.InfraContainerID}}", "pod"])
        .unwrap();
    let infra_pid = rt.podman.pid(&infra).unwrap();
    let member_pid = rt.podman.pid("member").unwrap();
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
    rt.podman.run(&["pod", "stop", "pod"]).unwrap();
    let took = started.elapsed();
    assert_eq!(rt.podman.exit_code(&infra).unwrap(), 0, "infra exit code");
    assert_eq!(
        rt.podman.exit_code("member").unwrap(),
        0,
        "member exit code"
    );
    assert!(
        took < Duration::from_secs(2),
        "podman pod stop took {took:?}"
    );
    eprintln!("pod: infra uids {infra_uids:?}, member in its netns, pod stop {took:?}, exit 0");
}

#[test]
fn every_platforms_image_runs_under_binfmt_and_stops_with_status_0() {
    let rows: Vec<_> = built().iter().map(|(p, _)| p).collect();
    let binfmt = Binfmt::for_platforms(&rows).unwrap_or_else(|e| panic!("binfmt: {e}"));
    let podman = Podman::new();
    let ids: Vec<String> = images()
        .archives
        .iter()
        .map(|archive| podman.load(archive).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let run = |index: usize| -> Result<String, String> {
        let platform = rows[index];
        let name = &platform.name;
        let pid = podman.run_holder(name, &ids[index])?;
        poll(START_TIMEOUT, || asleep_in_sigtimedwait(pid).then_some(()))
            .ok_or_else(|| format!("not waiting (wchan {:?})", wchan(pid)))?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map_err(|e| e.to_string())?;
        let emulated = exe.to_string_lossy().contains(&platform.qemu);
        if emulated == platform.runs_natively() {
            return Err(format!("runs as {}", exe.display()));
        }
        let started = Instant::now();
        podman.run(&["stop", name])?;
        let took = started.elapsed();
        match podman.exit_code(name)? {
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
    drop(podman);
    drop(binfmt);
    let mut failures = Vec::new();
    for (i, result) in results {
        match result {
            Ok(line) => eprintln!("{line}"),
            Err(e) => failures.push(format!("{}: {e}", rows[i].name)),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
