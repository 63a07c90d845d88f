//! Every platform's binary on a real kernel of its architecture: a Debian kernel booted by
//! qemu-system (full-system emulation, so the guest kernel, not qemu-user, loads the ELF and
//! delivers its signals), from an initramfs built here with the arch's busybox and the driver
//! `tests/kernel/init`. One boot per row checks sleeper as a child, as PID 1 of a nested PID
//! namespace and as the kernel's own PID 1, next to controls in the same boot that fail the
//! same checks: `busybox sleep` and a busy loop as children, `busybox sh` as PID 1.
//!
//! The kernels, busybox and firmware come from `scripts/setup-kernels` (run by
//! `scripts/setup-debian`) in `$SLEEPER_KERNEL_CACHE` (default /var/cache/sleeper/kernels).
//! `SLEEPER_KERNEL_ROWS=mips64el,x86_64` boots only those rows.

mod common;

use sleeper_tests::platforms::Platform;
use sleeper_tests::repo_root;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Boots at a time: full-system emulation keeps one host core busy per boot.
const PARALLEL_BOOTS: usize = 2;
/// A boot under TCG takes 30-180 s here (the longest on a machine loaded far beyond its cores);
/// this only stops a hung guest.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long qemu may go on after the kernel's panic line (for its last lines) before it is
/// stopped.
const AFTER_PANIC: Duration = Duration::from_secs(2);
const SETUP: &str = "scripts/setup-kernels (run by scripts/setup-debian)";
const PANIC: &str = "Attempted to kill init! exitcode=";
const TERM_MARK: &str = "sleeper-real-kernel: TERM to PID 1";

/// The checks each subject's line must report, and whether the holder passes them: sleeper
/// passes all; each control fails the ones listed for it.
const EXPECTED: &[(&str, &[&str], bool)] = &[
    (
        "sleeper-child",
        &[
            "asleep",
            "alive-after-1s",
            "idle-cpu",
            "child-reaped",
            "sigchld-ignored",
            "strays",
            "term",
            "int",
        ],
        true,
    ),
    ("sleeper-ns-pid1", &["asleep", "int"], true),
    (
        "sleeper-pid1",
        &[
            "asleep",
            "alive-after-1s",
            "idle-cpu",
            "child-and-orphan-reaped",
            "sigchld-ignored",
            "strays",
        ],
        true,
    ),
    (
        "sleep-child",
        &[
            "asleep",
            "child-reaped",
            "sigchld-ignored",
            "strays",
            "term",
        ],
        false,
    ),
    ("busy-child", &["asleep", "idle-cpu"], false),
    ("sh-pid1", &["term"], false),
];

fn cache() -> PathBuf {
    std::env::var_os("SLEEPER_KERNEL_CACHE").map_or_else(
        || PathBuf::from("/var/cache/sleeper/kernels"),
        PathBuf::from,
    )
}

/// What setup fetched for a row.
struct Inputs {
    kernel: PathBuf,
    busybox: PathBuf,
    dtb: Option<PathBuf>,
    firmware: Option<PathBuf>,
    /// "linux-image-... VERSION (suite, arch); busybox-static VERSION"
    package: String,
    qemu: PathBuf,
}

fn inputs(platform: &Platform) -> Result<Inputs, String> {
    let dir = cache().join("rows").join(&platform.name);
    let need = |name: &str| {
        let path = dir.join(name);
        path.exists()
            .then(|| path.clone())
            .ok_or_else(|| format!("{} is missing: run {SETUP}", path.display()))
    };
    let kernel = &platform.kernel;
    let package = std::fs::read_to_string(need("package")?).map_err(|e| e.to_string())?;
    let qemu = [cache().join("bin"), PathBuf::from("/usr/bin")]
        .iter()
        .map(|dir| dir.join(&kernel.qemu_system))
        .find(|path| path.exists())
        .ok_or_else(|| format!("{} is missing: run {SETUP}", kernel.qemu_system))?;
    Ok(Inputs {
        kernel: need("kernel")?,
        busybox: need("busybox")?,
        dtb: kernel.dtb.as_ref().map(|_| need("dtb")).transpose()?,
        firmware: kernel
            .firmware
            .as_ref()
            .map(|_| need("firmware"))
            .transpose()?,
        package: package.trim().to_string(),
        qemu,
    })
}

/// A newc ("070701") cpio archive, the format the kernel unpacks as its initramfs.
struct Cpio(Vec<u8>);

impl Cpio {
    const DIR: u32 = 0o040755;
    const EXEC: u32 = 0o100755;
    const CHAR_DEVICE: u32 = 0o020600;

    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        let ino = self.0.len() as u32 + 1;
        let fields = [
            ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.0.extend_from_slice(b"070701");
        for field in fields {
            self.0.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.0.extend_from_slice(name.as_bytes());
        self.0.push(0);
        self.pad();
        self.0.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        self.0
    }
}

fn initramfs(sleeper: &Path, busybox: &Path) -> Result<Vec<u8>, String> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    let mut cpio = Cpio(Vec::new());
    for dir in ["bin", "dev", "proc", "tmp"] {
        cpio.entry(dir, Cpio::DIR, &[], (0, 0));
    }
    // init's stdin, stdout and stderr, before devtmpfs is mounted.
    cpio.entry("dev/console", Cpio::CHAR_DEVICE, &[], (5, 1));
    let init = repo_root().join("tests/kernel/init");
    cpio.entry("init", Cpio::EXEC, &read(&init)?, (0, 0));
    cpio.entry("bin/busybox", Cpio::EXEC, &read(busybox)?, (0, 0));
    cpio.entry("sleeper", Cpio::EXEC, &read(sleeper)?, (0, 0));
    Ok(cpio.finish())
}

/// qemu, killed if the test ends before it does.
struct Guest(Child);

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Boot {
    console: Vec<String>,
    wall: Duration,
    /// No end within BOOT_TIMEOUT.
    hung: bool,
}

fn boot(platform: &Platform, sleeper: &Path, inputs: &Inputs) -> Result<Boot, String> {
    let scratch = common::TempDir::new(&format!("kernel-{}", platform.name));
    let initrd = scratch.0.join("initrd.cpio");
    std::fs::write(&initrd, initramfs(sleeper, &inputs.busybox)?).map_err(|e| e.to_string())?;
    let kernel = &platform.kernel;
    let append = format!(
        "console={} panic=-1 printk.time=1 quiet rdinit=/init {}",
        kernel.console,
        kernel.append.as_deref().unwrap_or("")
    );
    let mut command = Command::new(&inputs.qemu);
    command
        .args(&kernel.machine)
        .args([
            "-m",
            &kernel.memory_mib.unwrap_or(512).to_string(),
            "-smp",
            "1",
        ])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .args(["-nic", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(&inputs.kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", append.trim()]);
    if let Some(dtb) = &inputs.dtb {
        command.arg("-dtb").arg(dtb);
    }
    if let Some(firmware) = &inputs.firmware {
        command.arg("-bios").arg(firmware);
    }
    let start = Instant::now();
    let mut guest = Guest(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", inputs.qemu.display()))?,
    );
    let (lines, received) = mpsc::channel();
    for stream in [
        guest
            .0
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        guest
            .0
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line).trim_end().to_string();
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(lines);
    let mut console = Vec::new();
    let mut deadline = start + BOOT_TIMEOUT;
    let mut ended = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => {
                // The guest is over; qemu exits on the reboot that panic=-1 asks for, except
                // on raspi0, whose reboot needs the PM watchdog its command line blacklists.
                if line.contains(PANIC) && !ended {
                    ended = true;
                    deadline = Instant::now() + AFTER_PANIC;
                }
                console.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => break,
        }
    }
    let wall = start.elapsed();
    Ok(Boot {
        console,
        wall,
        hung: !ended && wall >= BOOT_TIMEOUT,
    })
}

/// One row's outcome, for the summary and the assertion.
struct Outcome {
    name: String,
    package: String,
    machine: String,
    kernel_release: String,
    checks: Vec<String>,
    term_to_exit: Option<f64>,
    wall: Duration,
    failures: Vec<String>,
}

/// The printk timestamp ("[   12.345678] ...") of the first console line containing `text`.
fn timestamp(console: &[String], text: &str) -> Option<f64> {
    let line = console.iter().find(|l| l.contains(text))?;
    let inside = line.split_once('[')?.1.split_once(']')?.0;
    inside.trim().parse().ok()
}

fn judge(platform: &Platform, inputs: &Inputs, boot: &Boot) -> Outcome {
    let console = &boot.console;
    let mut failures = Vec::new();
    let mut checks = Vec::new();
    let reported: Vec<Vec<&str>> = console
        .iter()
        .filter_map(|l| l.split_once("@@ check ").map(|(_, rest)| rest))
        .map(|rest| rest.splitn(4, ' ').collect())
        .collect();
    for (subject, names, holder) in EXPECTED {
        for name in *names {
            let line = reported
                .iter()
                .find(|r| r.first() == Some(subject) && r.get(1) == Some(name));
            let Some(line) = line else {
                failures.push(format!("{subject} {name}: not reported"));
                continue;
            };
            let passed = line.get(2) == Some(&"ok");
            let detail = line.get(3).unwrap_or(&"");
            let result = if passed { "ok" } else { "fail" };
            let expected = if passed == *holder {
                "as expected"
            } else {
                "UNEXPECTED"
            };
            checks.push(format!("{subject} {name} {result} ({expected}) {detail}"));
            if passed != *holder {
                let want = if *holder { "ok" } else { "fail (control)" };
                failures.push(format!(
                    "{subject} {name}: want {want}, got {line:?} {detail}"
                ));
            }
        }
    }
    if let Some(line) = reported
        .iter()
        .find(|r| r.first() == Some(&"sleeper-pid1") && r.get(1) == Some(&"term"))
    {
        failures.push(format!("sleeper-pid1 term: {line:?}"));
    }
    let exit = console
        .iter()
        .find_map(|l| l.split_once(PANIC).map(|(_, c)| c.trim()));
    match exit {
        Some(code) if code.starts_with("0x00000000") => {
            checks.push("sleeper-pid1 term ok (as expected) exitcode=0x00000000".into())
        }
        Some(code) => failures.push(format!(
            "sleeper-pid1 term: PID 1 ended with exitcode={code}"
        )),
        None => failures.push("sleeper-pid1 term: no \"Attempted to kill init!\" line".into()),
    }
    let term_to_exit = timestamp(console, TERM_MARK)
        .zip(timestamp(console, PANIC))
        .map(|(sent, ended)| (ended - sent) * 1000.0);
    if !failures.is_empty() {
        failures.push(format!("console:\n{}", console.join("\n")));
    }
    let kernel_release = console
        .iter()
        .find_map(|l| l.split_once("@@ kernel ").map(|(_, r)| r.to_string()))
        .unwrap_or_else(|| "?".into());
    Outcome {
        name: platform.name.clone(),
        package: inputs.package.clone(),
        machine: platform.kernel.machine.join(" "),
        kernel_release,
        checks,
        term_to_exit,
        wall: boot.wall,
        failures,
    }
}

fn run_row(platform: &Platform, sleeper: &Path) -> Outcome {
    let failed = |failure: String| Outcome {
        name: platform.name.clone(),
        package: String::new(),
        machine: platform.kernel.machine.join(" "),
        kernel_release: String::new(),
        checks: Vec::new(),
        term_to_exit: None,
        wall: Duration::ZERO,
        failures: vec![failure],
    };
    let inputs = match inputs(platform) {
        Ok(inputs) => inputs,
        Err(e) => return failed(e),
    };
    // A guest that stops making progress (seen once for x86 under TCG on a host loaded to
    // 9 runnable threads per core: silent mid-driver, no panic) is booted once more and says so;
    // anything it reported counts, so a hang never hides a failed check.
    let first = match boot(platform, sleeper, &inputs) {
        Ok(boot) if !boot.hung => return judge(platform, &inputs, &boot),
        Ok(boot) => judge(platform, &inputs, &boot),
        Err(e) => return failed(e),
    };
    eprintln!(
        "real kernel: {}: no end within {BOOT_TIMEOUT:?}, booting once more; console:\n{}",
        platform.name,
        first.failures.last().map_or("", String::as_str)
    );
    let mut outcome = match boot(platform, sleeper, &inputs) {
        Ok(boot) if boot.hung => {
            let mut outcome = judge(platform, &inputs, &boot);
            outcome
                .failures
                .push(format!("no end within {BOOT_TIMEOUT:?}, twice"));
            outcome
        }
        Ok(boot) => judge(platform, &inputs, &boot),
        Err(e) => failed(e),
    };
    // What the hung boot did report still counts.
    outcome
        .failures
        .extend(first.failures.into_iter().filter(|f| f.contains(": want ")));
    outcome
        .checks
        .push("(booted twice: the first boot hung)".into());
    outcome
}

#[test]
fn every_row_on_its_real_kernel_as_child_and_as_pid_1() {
    let only = std::env::var("SLEEPER_KERNEL_ROWS").ok();
    let rows: Vec<_> = common::built()
        .iter()
        .filter(|(p, _)| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| n == p.name))
        })
        .collect();
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_BOOTS {
            scope.spawn(|| {
                while let Some((platform, sleeper)) = rows.get(next.fetch_add(1, Ordering::SeqCst))
                {
                    let outcome = run_row(platform, sleeper);
                    eprintln!(
                        "real kernel: {} done in {:.0} s ({} failures)",
                        outcome.name,
                        outcome.wall.as_secs_f64(),
                        outcome.failures.len()
                    );
                    outcomes.lock().unwrap().push(outcome);
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|o| rows.iter().position(|(p, _)| p.name == o.name));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\n| row | kernel package | machine | checks | PID 1 TERM → exit | boot wall time |\n|---|---|---|---|---:|---:|"
    );
    for o in &outcomes {
        let passed = o
            .checks
            .iter()
            .filter(|c| c.contains("(as expected)"))
            .count();
        let _ = writeln!(
            out,
            "| {} | {} ({}) | `{}` | {passed}/{} as expected{} | {} | {:.0} s |",
            o.name,
            o.package,
            o.kernel_release,
            o.machine,
            o.checks.len(),
            if o.failures.is_empty() {
                ""
            } else {
                ", FAILED"
            },
            o.term_to_exit
                .map_or("?".into(), |ms| format!("{ms:.1} ms")),
            o.wall.as_secs_f64()
        );
    }
    let _ = writeln!(out, "all boots: {:.0} s", started.elapsed().as_secs_f64());
    for o in &outcomes {
        for c in &o.checks {
            let _ = writeln!(out, "{}: {c}", o.name);
        }
    }
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.failures.is_empty())
        .map(|o| format!("{}: {}", o.name, o.failures.join("\n")))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
