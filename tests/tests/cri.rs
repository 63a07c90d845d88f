//! sleeper as the pod sandbox ("pause") image of containerd's CRI, for each containerd release
//! this machine has (Debian 12's 1.6; 1.7 and 2.x from `scripts/setup-containerd`), driven as
//! kubelet drives it: RunPodSandbox, CreateContainer, StopPodSandbox, RemovePodSandbox, over the
//! CRI gRPC API (`sleeper_tests::cri`). Every check runs for sleeper and, in the same run, for a
//! control sandbox image (the `pause()` loop, without a `User`) that fails it.

mod common;

use common::cri::Cri;
use common::engine::Engine;
use common::podman::{netns, uids};
use common::test_images::{host_row, member_archive, pause_loop_archive, pause_loop_binary};
use common::{TempDir, built, images, poll, scratch_dir};
use sleeper_tests::cri::{
    self, ConfigForm, Containerd, PINNED_LABEL, Release, docs_block, docs_sandbox_image,
    image_reference,
};
use sleeper_tests::procfs::children_of;
use std::path::Path;
use std::time::Duration;

/// What one sandbox image did under one containerd.
#[derive(Debug)]
struct Observed {
    run: Duration,
    /// The sandbox process runs the bytes of sleeper's binary for this row.
    exe_is_sleeper: bool,
    uids: Vec<u32>,
    app_shares_netns: bool,
    netns_is_the_hosts: bool,
    /// ImageStatus of the sandbox image, and of the app's image (labelled pinned only in
    /// sleeper's run, as the docs say, so the control run shows an unlabelled one).
    sandbox_image_pinned: bool,
    app_image_pinned: bool,
    /// What is left under the sandbox once an app's two orphans have exited.
    zombies: usize,
    stop: Duration,
    exit: i32,
    remove: Duration,
    gone: bool,
}

/// Runs a pod that shares its PID namespace, with `archive` as containerd's sandbox image
/// (imported as docs/kubernetes.md says, with the pinned label when `label`, and so is the app's
/// image), and observes it.
fn observe(
    release: &Release,
    archive: &Path,
    binary: &Path,
    label: bool,
) -> Result<Observed, String> {
    let sandbox_image = image_reference(archive)?;
    let dir = scratch_dir(&format!("cri-{}", release.name));
    let containerd = Containerd::start(release, dir, &sandbox_image)?;
    containerd.import(archive, label)?;
    let member = containerd.import(member_archive(), label)?;
    let sandbox_image_pinned = containerd.pinned(&sandbox_image)?;
    let app_image_pinned = containerd.pinned(&member)?;
    let cri = Cri::new(containerd, true);

    let (pod, run) = cri.run_pod("pod")?;
    let pid = cri.pid("pod")?;
    // RunPodSandbox returns before runc has exec'd the entrypoint: until then the process's
    // exe is runc. Wait for the image's binary.
    let expected = std::fs::read(binary).map_err(|e| e.to_string())?;
    let exe = format!("/proc/{pid}/exe");
    let same_size = |len: u64| std::fs::metadata(&exe).is_ok_and(|m| m.len() == len);
    poll(Duration::from_secs(5), || {
        (same_size(expected.len() as u64) && std::fs::read(&exe).ok()? == expected).then_some(())
    })
    .ok_or_else(|| format!("{exe} is not {} after 5 s", binary.display()))?;
    let sleeper = std::fs::read(&built()[host_row()].1).map_err(|e| e.to_string())?;
    let exe_is_sleeper = std::fs::read(&exe).map_err(|e| e.to_string())? == sleeper;
    let uids = uids(pid)?;

    let app = cri
        .containerd
        .run_container(&pod, "app", &member, &["sleep", "600"])?;
    let app_pid = cri.containerd.container_pid(&app)?;
    let sandbox_netns = netns(pid)?;
    let app_shares_netns = netns(app_pid)? == sandbox_netns;
    let netns_is_the_hosts = netns(std::process::id() as i32)? == sandbox_netns;

    // The pod shares one PID namespace, whose PID 1 is the sandbox: the orphans of this
    // container's shell are re-parented to it.
    cri.containerd.run_container(
        &pod,
        "orphaner",
        &member,
        &["sh", "-c", "sleep 0.2 & sleep 0.2 & exit 0"],
    )?;
    std::thread::sleep(Duration::from_millis(1000));
    let zombies = children_of(pid)
        .iter()
        .filter(|(_, state, _)| *state == 'Z')
        .count();

    let (stop, _) = cri.stop_pod("pod")?;
    let exit = cri.exit_code("pod")?;
    let gone = poll(Duration::from_secs(2), || {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    })
    .is_some();
    let remove = cri.containerd.remove_pod(&pod.id)?;
    let Cri { mut containerd, .. } = cri;
    let cgroups = containerd.cgroup_dirs();
    containerd.shut_down()?;
    let left: Vec<_> = cgroups.iter().filter(|d| d.exists()).collect();
    if !left.is_empty() {
        return Err(format!("cgroup directories left: {left:?}"));
    }
    Ok(Observed {
        run,
        exe_is_sleeper,
        uids,
        app_shares_netns,
        netns_is_the_hosts,
        sandbox_image_pinned,
        app_image_pinned,
        zombies,
        stop,
        exit,
        remove,
        gone,
    })
}

fn summary(what: &str, o: &Observed) -> String {
    format!(
        "{what:<10} RunPodSandbox {:.3} s; exe is sleeper: {}; uids {:?}; app in its netns: {} \
         (host's: {}); pinned: sandbox image {}, app image {}; zombies left: {}; StopPodSandbox {:.3} s, exit status {}, \
         process gone: {}; RemovePodSandbox {:.3} s",
        o.run.as_secs_f64(),
        o.exe_is_sleeper,
        o.uids,
        o.app_shares_netns,
        o.netns_is_the_hosts,
        o.sandbox_image_pinned,
        o.app_image_pinned,
        o.zombies,
        o.stop.as_secs_f64(),
        o.exit,
        o.gone,
        o.remove.as_secs_f64(),
    )
}

/// The whole check for one containerd release.
fn sandbox_under(release_name: &str) {
    let release = Release::named(release_name).unwrap();
    let version = release
        .version()
        .unwrap_or_else(|e| panic!("containerd {release_name}: {e}"));
    let row = host_row();
    let sleeper_archive = &images().archives[row];
    assert_eq!(
        docs_sandbox_image(release.form).unwrap(),
        image_reference(sleeper_archive).unwrap(),
        "{}: the sandbox image users configure is not what importing the image gives",
        cri::DOCS
    );
    let sleeper = observe(&release, sleeper_archive, &built()[row].1, true)
        .unwrap_or_else(|e| panic!("containerd {version}, sleeper: {e}"));
    let control = observe(&release, pause_loop_archive(), pause_loop_binary(), false)
        .unwrap_or_else(|e| panic!("containerd {version}, control: {e}"));
    eprintln!(
        "containerd {version} ({release_name}):\n  {}\n  {}",
        summary("sleeper", &sleeper),
        summary("control", &control)
    );

    assert!(sleeper.exe_is_sleeper, "the sandbox is not sleeper");
    assert!(
        !control.exe_is_sleeper,
        "the check sees sleeper in the control"
    );
    assert_eq!(
        sleeper.uids, [65534; 4],
        "sleeper's real, effective, saved, fs uid"
    );
    assert_eq!(control.uids, [0; 4], "the control (no User) runs as root");
    for (what, o) in [("sleeper", &sleeper), ("control", &control)] {
        assert!(
            o.app_shares_netns,
            "{what}: the app is not in the sandbox's netns"
        );
        assert!(
            !o.netns_is_the_hosts,
            "{what}: the sandbox is in the host's netns"
        );
        // containerd kills the sandbox with SIGKILL whatever the image (never SIGTERM).
        assert_eq!(o.exit, 137, "{what}: exit status after StopPodSandbox");
        assert!(
            o.gone,
            "{what}: the sandbox process outlived StopPodSandbox"
        );
        assert!(
            o.run < Duration::from_secs(20),
            "{what}: RunPodSandbox took {:?}",
            o.run
        );
    }
    if release.pins_images {
        // The configured sandbox image is pinned, labelled or not; any other image only when
        // labelled.
        assert!(
            sleeper.sandbox_image_pinned,
            "sleeper's image is not pinned"
        );
        assert!(
            control.sandbox_image_pinned,
            "the configured control is not pinned"
        );
        assert!(
            sleeper.app_image_pinned,
            "the labelled app image is not pinned"
        );
        assert!(
            !control.app_image_pinned,
            "the unlabelled app image is pinned"
        );
    } else {
        let pinned = [sleeper.sandbox_image_pinned, sleeper.app_image_pinned];
        let control_pinned = [control.sandbox_image_pinned, control.app_image_pinned];
        assert_eq!(
            pinned, [false; 2],
            "containerd 1.6 pinned: update docs and Release"
        );
        assert_eq!(
            control_pinned, [false; 2],
            "containerd 1.6 pinned: update docs"
        );
    }
    assert_eq!(sleeper.zombies, 0, "sleeper left zombies");
    assert_eq!(
        control.zombies, 2,
        "the pause() loop should leave both orphans as zombies"
    );
}

#[test]
fn containerd_1_6_runs_sleeper_as_the_pod_sandbox() {
    sandbox_under("1.6");
}

#[test]
fn containerd_1_7_runs_sleeper_as_the_pod_sandbox() {
    sandbox_under("1.7");
}

#[test]
fn containerd_2_runs_sleeper_as_the_pod_sandbox() {
    sandbox_under("2.x");
}

/// The commands docs/kubernetes.md gives for importing and pinning are the ones `observe` runs
/// (through `Containerd::import`), and each containerd release parses its config block.
#[test]
fn the_docs_import_commands_and_config_blocks_are_the_tests() {
    let import = docs_block("cri-import").unwrap();
    let reference = docs_sandbox_image(ConfigForm::V2).unwrap();
    assert_eq!(reference, docs_sandbox_image(ConfigForm::V3).unwrap());
    for command in [
        "ctr -n k8s.io images import sleeper.tar".to_string(),
        format!("ctr -n k8s.io images label {reference} {PINNED_LABEL}"),
    ] {
        assert!(
            import.contains(&command),
            "{}: the import block lacks `{command}`",
            cri::DOCS
        );
    }
    let scratch = TempDir::new("cri-config");
    for release in Release::all() {
        let text = cri::config(release.form, &scratch.0, &reference).unwrap();
        let path = scratch.0.join(format!("{}.toml", release.name));
        std::fs::write(&path, &text).unwrap();
        let output = std::process::Command::new(release.bin.join("containerd"))
            .arg("--config")
            .arg(&path)
            .args(["config", "dump"])
            .output()
            .unwrap_or_else(|e| panic!("containerd {}: {e}: run {}", release.name, cri::SETUP));
        let dump = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && dump.contains(&reference),
            "containerd {} does not take the docs' config: {}",
            release.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
