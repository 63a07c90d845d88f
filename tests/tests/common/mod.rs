//! Running real sleeper binaries: natively or under qemu-user, as a child or as PID 1 of a
//! new PID namespace, and reading what the kernel says about them in /proc.
#![allow(dead_code)] // each test binary uses a different part

pub mod binfmt;
pub mod cri;
pub mod docker;
pub mod engine;
pub mod podman;
pub mod test_images;

use rustix::process::{Pid, Signal, kill_process};
use sleeper_tests::build;
use sleeper_tests::image::{self, Images};
use sleeper_tests::platforms::{self, Platform};
use sleeper_tests::procfs::stat_fields;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Every platform with its freshly built binary, built once per test binary.
pub fn built() -> &'static [(Platform, PathBuf)] {
    static BUILT: OnceLock<Vec<(Platform, PathBuf)>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let platforms = platforms::load();
        let paths = build::dist(&platforms).unwrap_or_else(|e| panic!("build failed: {e}"));
        platforms.into_iter().zip(paths).collect()
    })
}

/// Every platform's image (`dist/images/`) and the multi-arch layout (`dist/oci/`), written
/// once per test binary from `built()`.
pub fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| image::dist_images(built()).unwrap_or_else(|e| panic!("images: {e}")))
}

/// A directory under the system's temporary directory, removed with its contents on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        TempDir(scratch_dir(label))
    }
}

/// A new, empty directory `sleeper-<label>-<pid>-<n>` under the system's temporary directory.
pub fn scratch_dir(label: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sleeper-{label}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `check` for every platform on its own thread and fails with every platform's
/// error at once, so one broken architecture does not hide another.
pub fn for_each_platform(check: impl Fn(&Platform, &PathBuf) -> Result<(), String> + Sync) {
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = built()
            .iter()
            .map(|(p, bin)| (p, scope.spawn(|| check(p, bin))))
            .collect();
        handles
            .into_iter()
            .filter_map(|(p, h)| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("{}: {e}", p.name)),
                Err(_) => Some(format!("{}: check panicked", p.name)),
            })
            .collect()
    });
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// An ordinary child of the test.
    Child,
    /// PID 1 of a new PID namespace (`unshare --pid --fork`), signalled from outside it,
    /// as `docker stop` does.
    Pid1,
}

pub const MODES: [Mode; 2] = [Mode::Child, Mode::Pid1];

/// The command that runs `bin` for `platform`: directly, or under its qemu-user.
pub fn command(platform: &Platform, bin: &PathBuf) -> Command {
    if platform.runs_natively() {
        Command::new(bin)
    } else {
        let mut command = Command::new(platform.qemu_static());
        command.arg(bin);
        command
    }
}

/// A running holder. Dropping it kills it.
pub struct Holder {
    /// The process the test spawned: the holder itself, or `unshare`.
    spawned: Child,
    /// The host PID of the process that runs the sleeper code (qemu's, under emulation).
    pub pid: i32,
    pub mode: Mode,
}

impl Holder {
    pub fn start(platform: &Platform, bin: &PathBuf, mode: Mode) -> Result<Self, String> {
        let mut command = match mode {
            Mode::Child => command(platform, bin),
            Mode::Pid1 => {
                let inner = command(platform, bin);
                let mut unshare = Command::new("unshare");
                // --kill-child: if the test dies, the namespace dies with it.
                unshare.args(["--pid", "--fork", "--kill-child", "--"]);
                unshare.arg(inner.get_program()).args(inner.get_args());
                unshare
            }
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let spawned = command
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let spawned_pid = spawned.id() as i32;
        let mut holder = Holder {
            spawned,
            pid: spawned_pid,
            mode,
        };
        if mode == Mode::Pid1 {
            holder.pid = poll(Duration::from_secs(5), || only_child(spawned_pid))
                .ok_or("unshare started no child within 5 s")?;
        }
        Ok(holder)
    }

    /// Waits until the kernel shows the holder asleep in `rt_sigtimedwait`: the signal mask
    /// and SIGCHLD disposition are in place by then.
    pub fn wait_asleep(&self, timeout: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        poll(timeout, || asleep_in_sigtimedwait(self.pid).then_some(()))
            .map(|_| start.elapsed())
            .ok_or_else(|| {
                format!(
                    "not asleep in rt_sigtimedwait after {timeout:?} (wchan {:?})",
                    wchan(self.pid)
                )
            })
    }

    /// How often the holder's main thread has gone to sleep; it grows by at least one each
    /// time the holder wakes for a signal and sleeps again.
    pub fn sleeps(&self) -> Result<u64, String> {
        voluntary_sleeps(self.pid)
    }

    /// Sends `signal` and waits until the holder has woken for it and is asleep in
    /// `rt_sigtimedwait` again: the signal was consumed, not left in flight.
    pub fn signal_and_wait_asleep(&self, signal: Signal) -> Result<(), String> {
        let before = self.sleeps()?;
        self.signal(signal)?;
        poll(Duration::from_secs(2), || {
            let again = self.sleeps().ok()? > before;
            (again && asleep_in_sigtimedwait(self.pid)).then_some(())
        })
        .ok_or_else(|| {
            format!(
                "not asleep again 2 s after {signal:?} (wchan {:?})",
                wchan(self.pid)
            )
        })
    }

    pub fn signal(&self, signal: Signal) -> Result<(), String> {
        let pid = Pid::from_raw(self.pid).ok_or("bad pid")?;
        kill_process(pid, signal).map_err(|e| format!("kill({}, {signal:?}): {e}", self.pid))
    }

    /// The exit status, if the holder has exited.
    pub fn exited(&mut self) -> Result<Option<ExitStatus>, String> {
        self.spawned.try_wait().map_err(|e| e.to_string())
    }

    /// Waits up to `timeout` for the holder to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!("still running {timeout:?} later"));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Sends `signal` and requires exit status 0 within 2 s; returns the time from the
    /// signal to the exit.
    pub fn stop_with(&mut self, signal: Signal) -> Result<Duration, String> {
        let sent = Instant::now();
        self.signal(signal)?;
        let status = self.wait_exit(Duration::from_secs(2))?;
        let latency = sent.elapsed();
        if status.code() != Some(0) {
            return Err(format!("{signal:?} gave {status}, not exit status 0"));
        }
        Ok(latency)
    }

    /// User plus system CPU time in clock ticks, over all of the process's threads.
    pub fn cpu_ticks(&self) -> Result<u64, String> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .map_err(|e| format!("/proc/{}/stat: {e}", self.pid))?;
        let fields = stat_fields(&stat);
        // utime and stime are fields 14 and 15 of proc(5); fields() starts at field 3.
        let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        Ok(tick(11).ok_or("no utime")? + tick(12).ok_or("no stime")?)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.spawned.kill();
        let _ = self.spawned.wait();
    }
}

/// Polls `probe` every millisecond until it gives a value or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How often the main thread of `pid` has gone to sleep of its own accord.
pub fn voluntary_sleeps(pid: i32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/task/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("{path}: no voluntary_ctxt_switches"))
}

/// Whether the kernel shows `pid` asleep in `rt_sigtimedwait`.
pub fn asleep_in_sigtimedwait(pid: i32) -> bool {
    wchan(pid).is_some_and(|w| w.starts_with("do_sigtimedwait"))
}

pub fn wchan(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).ok()
}

fn only_child(pid: i32) -> Option<i32> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}
