//! containerd's CRI, as Kubernetes drives it: a containerd of one release (Debian's 1.6, or 1.7
//! and 2.x unpacked by `scripts/setup-containerd`) with a private root, state, socket, mount
//! namespace and cgroup parent, configured from `docs/kubernetes.md`, and a CRI client generated
//! from the CRI `api.proto` (the `k8s-cri` crate) over its unix socket. Used by
//! `tests/tests/cri.rs` and by the bench's CRI rows (`src/bin/cri-bench.rs`).

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{self as cri, NamespaceMode};
use rustix::process::{Pid, Signal, WaitOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

/// Where `scripts/setup-containerd` unpacks the releases Debian 12 does not have.
pub const CACHE: &str = "/var/cache/sleeper/containerd";
pub const SETUP: &str = "scripts/setup-containerd (run by scripts/setup-debian)";
pub const DOCS: &str = "docs/kubernetes.md";
/// The label that pins an image against kubelet's garbage collection.
pub const PINNED_LABEL: &str = "io.cri-containerd.pinned=pinned";

/// The two forms of containerd's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigForm {
    /// containerd 1.x: `version = 2`, the CRI plugin is `io.containerd.grpc.v1.cri`.
    V2,
    /// containerd 2.x: `version = 3`, the CRI is split into `io.containerd.cri.v1.*`.
    V3,
}

/// A containerd release the tests run.
#[derive(Clone, Debug)]
pub struct Release {
    /// "1.6", "1.7", "2.x".
    pub name: &'static str,
    /// The directory with `containerd`, `ctr` and `containerd-shim-runc-v2`.
    pub bin: PathBuf,
    pub form: ConfigForm,
    /// Whether ImageStatus can report an image pinned: containerd 1.7 added the
    /// `io.cri-containerd.pinned` label; 1.6 reports every image unpinned.
    pub pins_images: bool,
}

impl Release {
    pub fn all() -> Vec<Release> {
        vec![
            Release {
                name: "1.6",
                bin: "/usr/bin".into(),
                form: ConfigForm::V2,
                pins_images: false,
            },
            Release {
                name: "1.7",
                bin: Path::new(CACHE).join("trixie/usr/bin"),
                form: ConfigForm::V2,
                pins_images: true,
            },
            Release {
                name: "2.x",
                bin: Path::new(CACHE).join("sid/usr/bin"),
                form: ConfigForm::V3,
                pins_images: true,
            },
        ]
    }

    pub fn named(name: &str) -> Result<Release, String> {
        Release::all()
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| format!("no containerd release {name:?} (1.6, 1.7 or 2.x)"))
    }

    /// `containerd --version`, or an error naming the setup command when it is missing.
    pub fn version(&self) -> Result<String, String> {
        let containerd = self.bin.join("containerd");
        let output = Command::new(&containerd)
            .arg("--version")
            .output()
            .map_err(|e| format!("{}: {e}: run {SETUP}", containerd.display()))?;
        let text = String::from_utf8_lossy(&output.stdout);
        // "containerd github.com/containerd/containerd/v2 2.1.9+unknown ..."
        text.split_whitespace()
            .nth(2)
            .map(str::to_string)
            .ok_or_else(|| format!("{}: no version in {text:?}", containerd.display()))
    }
}

/// The TOML block of `docs/kubernetes.md` between `<!-- containerd-config:<form>:begin` and
/// its end marker: the configuration users are told to write.
pub fn docs_config(form: ConfigForm) -> Result<String, String> {
    let tag = match form {
        ConfigForm::V2 => "1.x",
        ConfigForm::V3 => "2.x",
    };
    docs_block(&format!("containerd-config:{tag}"))
}

/// The fenced block between `<!-- NAME:begin ... -->` and `<!-- NAME:end -->` of the docs page.
pub fn docs_block(name: &str) -> Result<String, String> {
    let path = crate::repo_root().join(DOCS);
    let page = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let begin = format!("<!-- {name}:begin");
    let end = format!("<!-- {name}:end -->");
    let after = page
        .split_once(&begin)
        .ok_or_else(|| format!("{DOCS}: no {begin}"))?
        .1;
    let inside = after
        .split_once(&end)
        .ok_or_else(|| format!("{DOCS}: no {end}"))?
        .0;
    let fenced = inside.split_once("```").ok_or("no code block")?.1;
    let code = fenced.split_once('\n').ok_or("no code block")?.1;
    Ok(code
        .rsplit_once("```")
        .ok_or("unterminated code block")?
        .0
        .to_string())
}

/// The table of the sandbox image setting, and its key, in each form.
fn sandbox_image_key(form: ConfigForm) -> (&'static [&'static str], &'static str) {
    match form {
        ConfigForm::V2 => (&["plugins", "io.containerd.grpc.v1.cri"], "sandbox_image"),
        ConfigForm::V3 => (
            &["plugins", "io.containerd.cri.v1.images", "pinned_images"],
            "sandbox",
        ),
    }
}

/// The sandbox image the docs configure.
pub fn docs_sandbox_image(form: ConfigForm) -> Result<String, String> {
    let config: toml::Table =
        toml::from_str(&docs_config(form)?).map_err(|e| format!("{DOCS}: {e}"))?;
    let (path, key) = sandbox_image_key(form);
    let mut table = &config;
    for name in path {
        table = table
            .get(*name)
            .and_then(toml::Value::as_table)
            .ok_or_else(|| format!("{DOCS}: no [{}]", path.join(".")))?;
    }
    table
        .get(key)
        .and_then(toml::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("{DOCS}: no {key}"))
}

/// Merges `extra` into `base`, table by table.
fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (key, value) in extra {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(into)), toml::Value::Table(from)) => merge(into, from),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The docs' configuration with `sandbox_image` as the sandbox image, plus what this machine
/// and a private instance need: its own root, state, socket, CNI directories and `/opt`;
/// `restrict_oom_score_adj` (no CAP_SYS_RESOURCE here); NRI off (it opens a socket under /var/run).
pub fn config(form: ConfigForm, dir: &Path, sandbox_image: &str) -> Result<String, String> {
    let mut config: toml::Table =
        toml::from_str(&docs_config(form)?).map_err(|e| format!("{DOCS}: {e}"))?;
    let d = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let private = match form {
        ConfigForm::V2 => format!(
            r#"
root = {root:?}
state = {state:?}
[grpc]
address = {socket:?}
[plugins."io.containerd.internal.v1.opt"]
path = {opt:?}
[plugins."io.containerd.grpc.v1.cri"]
restrict_oom_score_adj = true
netns_mounts_under_state_dir = true
[plugins."io.containerd.grpc.v1.cri".cni]
bin_dir = {cni_bin:?}
conf_dir = {cni_conf:?}
"#,
            root = d("root"),
            state = d("state"),
            socket = d("containerd.sock"),
            opt = d("opt"),
            cni_bin = d("cni/bin"),
            cni_conf = d("cni/conf"),
        ),
        ConfigForm::V3 => format!(
            r#"
root = {root:?}
state = {state:?}
[grpc]
address = {socket:?}
[plugins."io.containerd.internal.v1.opt"]
path = {opt:?}
[plugins."io.containerd.nri.v1.nri"]
disable = true
[plugins."io.containerd.cri.v1.runtime"]
restrict_oom_score_adj = true
netns_mounts_under_state_dir = true
[plugins."io.containerd.cri.v1.runtime".cni]
bin_dirs = [{cni_bin:?}]
conf_dir = {cni_conf:?}
"#,
            root = d("root"),
            state = d("state"),
            socket = d("containerd.sock"),
            opt = d("opt"),
            cni_bin = d("cni/bin"),
            cni_conf = d("cni/conf"),
        ),
    };
    merge(
        &mut config,
        toml::from_str(&private).map_err(|e| format!("private settings: {e}"))?,
    );
    let (path, key) = sandbox_image_key(form);
    let mut table = &mut config;
    for name in path {
        table = table
            .get_mut(*name)
            .and_then(toml::Value::as_table_mut)
            .ok_or("no sandbox image table")?;
    }
    table.insert(key.into(), sandbox_image.into());
    toml::to_string(&config).map_err(|e| e.to_string())
}

/// The CNI network of a private instance: the test plugin for `eth0`, `loopback` for `lo`.
fn write_cni(dir: &Path) -> Result<(), String> {
    let bin = dir.join("cni/bin");
    let conf = dir.join("cni/conf");
    for d in [&bin, &conf] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let loopback = Path::new("/usr/lib/cni/loopback");
    if !loopback.exists() {
        return Err(format!(
            "{} is missing: apt-get install containernetworking-plugins",
            loopback.display()
        ));
    }
    let plugin = crate::repo_root().join("tests/cni/veth-in-netns");
    for (target, name) in [(loopback, "loopback"), (plugin.as_path(), "veth-in-netns")] {
        std::os::unix::fs::symlink(target, bin.join(name)).map_err(|e| e.to_string())?;
    }
    let network =
        r#"{"cniVersion":"0.4.0","name":"sleeper-test","plugins":[{"type":"veth-in-netns"}]}"#;
    std::fs::write(conf.join("10-sleeper-test.conflist"), network).map_err(|e| e.to_string())
}

/// The reference `ctr images import` gives a docker-archive's first tag: Docker's defaults
/// (`docker.io/library/`) for a bare name.
pub fn image_reference(archive: &Path) -> Result<String, String> {
    let docker_archive = crate::image::DockerArchive::read(archive)?;
    let tag = docker_archive
        .manifest
        .repo_tags
        .first()
        .ok_or_else(|| format!("{}: no tag", archive.display()))?;
    Ok(if tag.contains('/') {
        tag.clone()
    } else {
        format!("docker.io/library/{tag}")
    })
}

/// One CRI pod sandbox.
#[derive(Clone, Debug)]
pub struct Pod {
    pub id: String,
    pub config: cri::PodSandboxConfig,
}

/// A running containerd with a private everything, and a CRI client to it. Dropping it removes
/// every pod, stops containerd by its PID, reaps its shims and removes its cgroup directories
/// and its directory.
pub struct Containerd {
    pub release: Release,
    pub version: String,
    pub sandbox_image: String,
    pub dir: PathBuf,
    cgroup_parent: String,
    daemon: Option<Child>,
    tokio: tokio::runtime::Runtime,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

fn status_error(call: &str) -> impl Fn(tonic::Status) -> String + '_ {
    move |status| format!("{call}: {}", status.message())
}

impl Containerd {
    /// Starts `release` in `dir` (which it then owns) with `sandbox_image` as its sandbox image,
    /// in a mount namespace of its own, so its mounts (rootfs, shm, netns) never reach the host.
    /// Its PID is containerd's (`sh` execs it).
    pub fn start(release: &Release, dir: PathBuf, sandbox_image: &str) -> Result<Self, String> {
        let version = release.version()?;
        for tool in ["ctr", "containerd-shim-runc-v2"] {
            if !release.bin.join(tool).exists() {
                return Err(format!(
                    "{}/{tool} is missing: run {SETUP}",
                    release.bin.display()
                ));
            }
        }
        // The shims daemonise and would be re-parented to init: make this process their
        // reaper, so that Drop can reap them.
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
        write_cni(&dir)?;
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config(release.form, &dir, sandbox_image)?)
            .map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("containerd.log")).map_err(|e| e.to_string())?;
        let path = format!(
            "{}:{}",
            release.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // A tmpfs on /run in that namespace too: the shims put their sockets in
        // /run/containerd/s and runc its state in /run/containerd/runc, whatever the config.
        let daemon = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg("mount -t tmpfs -o mode=0755 containerd-run /run && exec \"$0\" \"$@\"")
            .arg(release.bin.join("containerd"))
            .arg("--config")
            .arg(&config_path)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("unshare containerd: {e}"))?;
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let cgroup_parent = format!(
            "/{}",
            dir.file_name().expect("a named dir").to_string_lossy()
        );
        let socket = dir.join("containerd.sock");
        let started = Instant::now();
        let channel = loop {
            if socket.exists() {
                let socket = socket.clone();
                let connected = tokio.block_on(
                    Endpoint::try_from("http://[::]:50051")
                        .expect("a valid URI")
                        .connect_with_connector(tower::service_fn(move |_: Uri| {
                            let socket = socket.clone();
                            async move {
                                Ok::<_, std::io::Error>(TokioIo::new(
                                    tokio::net::UnixStream::connect(socket).await?,
                                ))
                            }
                        })),
                );
                if let Ok(channel) = connected {
                    break channel;
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                let log = std::fs::read_to_string(dir.join("containerd.log")).unwrap_or_default();
                return Err(format!(
                    "containerd {version}: no socket after 30 s:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let containerd = Containerd {
            release: release.clone(),
            version,
            sandbox_image: sandbox_image.into(),
            dir,
            cgroup_parent,
            daemon: Some(daemon),
            tokio,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        };
        // The CRI plugin answers once it has loaded; its network once CNI is set up.
        let ready = Instant::now();
        loop {
            let status = containerd
                .call(|mut c| async move { c.status(cri::StatusRequest { verbose: false }).await });
            let network_ready = status.as_ref().is_ok_and(|s| {
                s.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .all(|c| c.status || c.r#type != "NetworkReady")
                })
            });
            if network_ready {
                break;
            }
            if ready.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "containerd {}: CRI not ready after 30 s: {status:?}\n{}",
                    containerd.version,
                    containerd.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(containerd)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// The host PID of containerd.
    pub fn daemon_pid(&self) -> Option<i32> {
        self.daemon.as_ref().map(|d| d.id() as i32)
    }

    fn call<T, F>(&self, f: impl FnOnce(RuntimeServiceClient<Channel>) -> F) -> Result<T, String>
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.tokio
            .block_on(f(self.runtime.clone()))
            .map(tonic::Response::into_inner)
            .map_err(|s| s.message().to_string())
    }

    /// `ctr -n k8s.io ARGS` against this instance.
    pub fn ctr(&self, args: &[&str]) -> Result<String, String> {
        crate::build::run(
            Command::new(self.release.bin.join("ctr"))
                .arg("--address")
                .arg(self.socket())
                .args(["-n", "k8s.io"])
                .args(args),
        )
    }

    /// Imports a docker-archive (gzip'd or not) as `docs/kubernetes.md` tells users to:
    /// uncompressed, into the `k8s.io` namespace, labelled pinned when `pin`. Returns the image
    /// reference containerd gives it.
    pub fn import(&self, archive: &Path, pin: bool) -> Result<String, String> {
        let docker_archive = crate::image::DockerArchive::read(archive)?;
        let reference = image_reference(archive)?;
        let tar = self.dir.join(format!("{}.tar", docker_archive.image_id()));
        std::fs::write(&tar, crate::image::decompressed(archive)?).map_err(|e| e.to_string())?;
        self.ctr(&["images", "import", &tar.to_string_lossy()])?;
        std::fs::remove_file(&tar).map_err(|e| e.to_string())?;
        if pin {
            self.ctr(&["images", "label", &reference, PINNED_LABEL])?;
        }
        Ok(reference)
    }

    /// ImageStatus: whether the CRI reports `image` as pinned.
    pub fn pinned(&self, image: &str) -> Result<bool, String> {
        let request = cri::ImageStatusRequest {
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            verbose: false,
        };
        let response = self
            .tokio
            .block_on(self.images.clone().image_status(request))
            .map_err(status_error("ImageStatus"))?
            .into_inner();
        let image = response.image.ok_or_else(|| format!("no image {image}"))?;
        Ok(image.pinned)
    }

    /// RunPodSandbox for a pod `name` that shares its PID namespace among its containers when
    /// `share_pid`; returns the pod and the time the call took.
    pub fn run_pod(&self, name: &str, share_pid: bool) -> Result<(Pod, Duration), String> {
        let pid_mode = if share_pid {
            NamespaceMode::Pod
        } else {
            NamespaceMode::Container
        };
        let config = cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: name.into(),
                uid: format!("{name}-uid"),
                namespace: "sleeper-test".into(),
                attempt: 0,
            }),
            hostname: name.into(),
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent.clone(),
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        network: NamespaceMode::Pod as i32,
                        pid: pid_mode as i32,
                        ipc: NamespaceMode::Pod as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let request = cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        };
        let started = Instant::now();
        let response = self
            .call(|mut c| async move { c.run_pod_sandbox(request).await })
            .map_err(|e| format!("RunPodSandbox: {e}\n{}", self.log()))?;
        let took = started.elapsed();
        Ok((
            Pod {
                id: response.pod_sandbox_id,
                config,
            },
            took,
        ))
    }

    /// The host PID of the pod's sandbox process (PodSandboxStatus, verbose).
    pub fn sandbox_pid(&self, pod: &str) -> Result<i32, String> {
        let request = cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod.into(),
            verbose: true,
        };
        let response = self
            .call(|mut c| async move { c.pod_sandbox_status(request).await })
            .map_err(|e| format!("PodSandboxStatus: {e}"))?;
        info_pid(&response.info)
    }

    /// Creates and starts a container of `image` in `pod`, with `args` after the image's
    /// entrypoint (the CRI's `args`, Docker's CMD); returns its ID.
    pub fn run_container(
        &self,
        pod: &Pod,
        name: &str,
        image: &str,
        args: &[&str],
    ) -> Result<String, String> {
        let namespaces = pod
            .config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.clone());
        let request = cri::CreateContainerRequest {
            pod_sandbox_id: pod.id.clone(),
            config: Some(cri::ContainerConfig {
                metadata: Some(cri::ContainerMetadata {
                    name: name.into(),
                    attempt: 0,
                }),
                image: Some(cri::ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                args: args.iter().map(|s| s.to_string()).collect(),
                linux: Some(cri::LinuxContainerConfig {
                    security_context: Some(cri::LinuxContainerSecurityContext {
                        namespace_options: namespaces,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            sandbox_config: Some(pod.config.clone()),
        };
        let id = self
            .call(|mut c| async move { c.create_container(request).await })
            .map_err(|e| format!("CreateContainer: {e}"))?
            .container_id;
        let start = cri::StartContainerRequest {
            container_id: id.clone(),
        };
        self.call(|mut c| async move { c.start_container(start).await })
            .map_err(|e| format!("StartContainer: {e}"))?;
        Ok(id)
    }

    /// The host PID of a running container (ContainerStatus, verbose).
    pub fn container_pid(&self, container: &str) -> Result<i32, String> {
        let request = cri::ContainerStatusRequest {
            container_id: container.into(),
            verbose: true,
        };
        let response = self
            .call(|mut c| async move { c.container_status(request).await })
            .map_err(|e| format!("ContainerStatus: {e}"))?;
        info_pid(&response.info)
    }

    /// StopPodSandbox, timed, with the exit status containerd reports for the sandbox's task
    /// (its `/tasks/exit` event; protobuf's JSON leaves out a status of 0).
    pub fn stop_pod(&self, pod: &str) -> Result<(Duration, i32), String> {
        let mut events = Command::new(self.release.bin.join("ctr"))
            .arg("--address")
            .arg(self.socket())
            .args(["events"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("ctr events: {e}"))?;
        let (send, exits) = mpsc::channel();
        let stdout = events.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("/tasks/exit") && send.send(line).is_err() {
                    break;
                }
            }
        });
        // `ctr events` has subscribed once it has connected; give it a moment to.
        std::thread::sleep(Duration::from_millis(200));
        let request = cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.into(),
        };
        let started = Instant::now();
        let stopped = self
            .call(|mut c| async move { c.stop_pod_sandbox(request).await })
            .map_err(|e| format!("StopPodSandbox: {e}"));
        let took = started.elapsed();
        let needle = format!("\"container_id\":\"{pod}\"");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut exit = None;
        while exit.is_none() && stopped.is_ok() {
            let left = deadline.saturating_duration_since(Instant::now());
            match exits.recv_timeout(left) {
                Ok(line) if line.contains(&needle) => exit = Some(exit_status(&line)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = events.kill();
        let _ = events.wait();
        let _ = reader.join();
        stopped?;
        let status = exit.ok_or_else(|| format!("no /tasks/exit event for {pod} within 5 s"))??;
        Ok((took, status))
    }

    /// RemovePodSandbox, timed.
    pub fn remove_pod(&self, pod: &str) -> Result<Duration, String> {
        let request = cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.into(),
        };
        let started = Instant::now();
        self.call(|mut c| async move { c.remove_pod_sandbox(request).await })
            .map_err(|e| format!("RemovePodSandbox: {e}"))?;
        Ok(started.elapsed())
    }

    fn remove_all_pods(&self) -> Result<(), String> {
        let list = self.call(|mut c| async move {
            c.list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
                .await
        })?;
        for pod in list.items {
            let stop = cri::StopPodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            };
            self.call(|mut c| async move { c.stop_pod_sandbox(stop).await })?;
            self.remove_pod(&pod.id)?;
        }
        Ok(())
    }

    /// Stops containerd by its PID (TERM, then KILL after 10 s) and reaps it.
    fn stop_daemon(&mut self) -> Result<(), String> {
        let Some(mut daemon) = self.daemon.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(daemon.id() as i32).expect("a live child has a PID");
        let _ = rustix::process::kill_process(pid, Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = daemon.try_wait() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = daemon.kill();
                let _ = daemon.wait();
                return Err("containerd ignored SIGTERM for 10 s; killed".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The shims of this instance: this process's children started from this release.
    fn shims(&self) -> Vec<i32> {
        let shim = self.release.bin.join("containerd-shim-runc-v2");
        let me = std::process::id() as i32;
        crate::procfs::children_of(me)
            .into_iter()
            .filter(|(pid, _, _)| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                cmdline.starts_with(shim.to_string_lossy().as_bytes())
                    && cmdline
                        .split(|b| *b == 0)
                        .any(|arg| arg == self.socket().to_string_lossy().as_bytes())
            })
            .map(|(pid, _, _)| pid)
            .collect()
    }

    /// Waits for this instance's shims to exit and reaps them.
    fn reap_shims(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let shims = self.shims();
            for &pid in &shims {
                let pid = Pid::from_raw(pid).expect("positive");
                let _ = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG);
            }
            let left = self.shims();
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "shims still running 10 s after containerd: {left:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The cgroup directories of this instance's pods, in every hierarchy.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = hierarchy
                .path()
                .join(self.cgroup_parent.trim_start_matches('/'));
            if dir.is_dir() {
                dirs.push(dir);
            }
        }
        let unified = Path::new("/sys/fs/cgroup").join(self.cgroup_parent.trim_start_matches('/'));
        if unified.is_dir() && !dirs.contains(&unified) {
            dirs.push(unified);
        }
        dirs
    }

    /// Stops everything and removes what it made; an error names what is left.
    pub fn shut_down(&mut self) -> Result<(), String> {
        let mut errors = Vec::new();
        if self.daemon.is_some()
            && let Err(e) = self.remove_all_pods()
        {
            errors.push(format!("removing pods: {e}"));
        }
        if let Err(e) = self.stop_daemon() {
            errors.push(e);
        }
        if let Err(e) = self.reap_shims() {
            errors.push(e);
        }
        for dir in self.cgroup_dirs() {
            if let Err(e) = remove_cgroup(&dir) {
                errors.push(format!("{}: {e}", dir.display()));
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            errors.push(format!("{}: {e}", self.dir.display()));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.daemon.is_some()
            && let Err(e) = self.shut_down()
        {
            eprintln!("containerd {}: {e}", self.version);
        }
    }
}

/// Removes an empty cgroup directory tree, deepest first.
fn remove_cgroup(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)?.flatten() {
        if entry.file_type()?.is_dir() {
            remove_cgroup(&entry.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// The `pid` of a CRI verbose `info` map (its "info" entry is JSON).
fn info_pid(info: &std::collections::HashMap<String, String>) -> Result<i32, String> {
    let json = info.get("info").ok_or("no verbose info")?;
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    value
        .get("pid")
        .and_then(serde_json::Value::as_i64)
        .map(|p| p as i32)
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("no pid in {json}"))
}

/// The exit status of a `ctr events` line: `... /tasks/exit {"container_id":...}`.
fn exit_status(line: &str) -> Result<i32, String> {
    let json = line
        .find('{')
        .map(|i| &line[i..])
        .ok_or_else(|| format!("no JSON in {line:?}"))?;
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("{line}: {e}"))?;
    Ok(value
        .get("exit_status")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0) as i32)
}
