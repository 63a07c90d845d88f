//! The behaviour contract, asserted on every platform's real binary: natively on x86_64 and
//! i686, under qemu-user elsewhere; as an ordinary child and as PID 1 of a PID namespace.
//!
//! What qemu-user cannot show: under emulation the kernel sees qemu, not the guest program.
//! Signals, the mask, SIGCHLD=SIG_IGN and the sleep in rt_sigtimedwait all pass through qemu
//! to the host kernel (qemu 7.2 forwards them one to one), so the assertions below still hold
//! the real kernel to account; but CPU ticks include qemu's own helper thread, and the ELF
//! loader is qemu's, not the kernel's. `tests/elf.rs` checks the loader rules statically for
//! every platform, and x86_64/i686 run on the real kernel loader here.

mod common;

use common::{Holder, MODES, Mode, for_each_platform, poll};
use rustix::process::Signal;
use sleeper_tests::platforms::Platform;
use sleeper_tests::procfs::{children_of, stat_fields};
use std::process::Command;
use std::time::{Duration, Instant};

/// Generous for qemu's start-up; a native start takes well under a millisecond.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Every catchable signal but the two that end the holder (SIGKILL and SIGSTOP cannot be
/// caught; SIGSTOP/SIGCONT have their own test), realtime signals included. Under qemu-user,
/// two groups can only be proven natively (x86_64 and i686, where all 60 are sent):
/// - realtime signals: qemu maps guest realtime signals onto other host numbers (it keeps some
///   for itself), so a host `kill(pid, 32..64)` is not guest signal 32..64;
/// - SIGILL, SIGTRAP, SIGFPE, SIGSEGV: qemu 7.2 takes these as faults of the guest when one
///   arrives while the guest runs rather than sleeps, and kills itself with the signal even
///   though the guest blocks it (a burst of `kill -HUP; kill -SEGV` at a qemu-run holder does
///   it). The real kernel never forces a signal sent by kill(2), as the native runs show.
fn stray_signals(platform: &Platform) -> Vec<Signal> {
    let native = platform.runs_natively();
    let qemu_takes_as_fault = [Signal::ILL, Signal::TRAP, Signal::FPE, Signal::SEGV];
    let never_stray = [Signal::KILL, Signal::STOP, Signal::INT, Signal::TERM];
    (1..=if native { 64 } else { 31 })
        .filter(|&n| !never_stray.iter().any(|s| s.as_raw() == n))
        .filter(|&n| native || !qemu_takes_as_fault.iter().any(|s| s.as_raw() == n))
        // SAFETY: `from_raw_unchecked` is unsafe only because libc reserves some realtime
        // signals for itself in this process; here they are sent to another process.
        .map(|n| unsafe { Signal::from_raw_unchecked(n) })
        .collect()
}

#[test]
fn waits_idle_and_survives_stray_signals() {
    for_each_platform(|platform, bin| {
        for mode in MODES {
            let context = |e: String| format!("{mode:?}: {e}");
            let started = Instant::now();
            let mut holder = Holder::start(platform, bin, mode).map_err(context)?;
            let ready = holder.wait_asleep(START_TIMEOUT).map_err(context)?;

            std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
            if let Some(status) = holder.exited().map_err(context)? {
                return Err(context(format!("exited within 1 s: {status}")));
            }

            let before = holder.cpu_ticks().map_err(context)?;
            std::thread::sleep(Duration::from_secs(2));
            let used = holder.cpu_ticks().map_err(context)? - before;
            if used != 0 {
                return Err(context(format!("used {used} CPU ticks in 2 s idle")));
            }

            let strays = stray_signals(platform);
            for &signal in &strays {
                holder.signal_and_wait_asleep(signal).map_err(context)?;
                if let Some(status) = holder.exited().map_err(context)? {
                    return Err(context(format!("{signal:?} ended it: {status}")));
                }
            }

            holder.signal(Signal::STOP).map_err(context)?;
            let stopped = poll(Duration::from_secs(2), || {
                std::fs::read_to_string(format!("/proc/{}/stat", holder.pid))
                    .ok()
                    .filter(|s| stat_fields(s).first() == Some(&"T"))
            });
            stopped.ok_or_else(|| context("SIGSTOP did not stop it".into()))?;
            holder.signal(Signal::CONT).map_err(context)?;
            holder
                .wait_asleep(Duration::from_secs(2))
                .map_err(|e| context(format!("after SIGCONT: {e}")))?;

            // The exit itself, and its latency, are tests/exit.rs's: measured there one
            // holder at a time, on a quiet machine.
            holder
                .stop_with(Signal::TERM)
                .map_err(|e| context(format!("after the stray signals: {e}")))?;
            eprintln!(
                "{:<12} {mode:?}: asleep {ready:?} after start, 0 ticks idle, survived {} stray \
                 signals and SIGSTOP/SIGCONT",
                platform.name,
                strays.len()
            );
        }
        Ok(())
    });
}

/// Starts `sleep 1` in the holder's PID namespace from a shell that exits at once, so the
/// sleep is orphaned and re-parented to PID 1. Returns the orphan's host PID.
fn orphan_into(holder: &Holder) -> Result<i32, String> {
    let status = Command::new("nsenter")
        .args(["--target", &holder.pid.to_string(), "--pid", "--"])
        .args(["sh", "-c", "sleep 1 & exit 0"])
        .status()
        .map_err(|e| format!("nsenter: {e}"))?;
    if !status.success() {
        return Err(format!("nsenter: {status}"));
    }
    poll(Duration::from_secs(2), || {
        children_of(holder.pid)
            .into_iter()
            .find(|(_, _, name)| name == "sleep")
            .map(|(pid, _, _)| pid)
    })
    .ok_or_else(|| "the orphan was not re-parented to PID 1".into())
}

#[test]
fn as_pid_1_reaps_reparented_orphans() {
    for_each_platform(|platform, bin| {
        let holder = Holder::start(platform, bin, Mode::Pid1)?;
        holder.wait_asleep(START_TIMEOUT)?;
        let orphans: Vec<i32> = (0..3)
            .map(|_| orphan_into(&holder))
            .collect::<Result<_, _>>()?;
        // Each orphan exits after 1 s; give the kernel a moment past that.
        std::thread::sleep(Duration::from_millis(1500));
        let left = children_of(holder.pid);
        if !left.is_empty() {
            return Err(format!(
                "children left after orphans {orphans:?} exited: {left:?}"
            ));
        }
        holder.wait_asleep(Duration::from_secs(1))?;
        Ok(())
    });
}

/// The reaping test above can fail: with a PID 1 that does not reap, it sees the zombie.
#[test]
fn zombie_check_sees_a_pid_1_that_does_not_reap() {
    let mut spawned = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "--", "sleep", "30"])
        .spawn()
        .expect("unshare");
    let unshare = spawned.id() as i32;
    let pid1 = poll(Duration::from_secs(5), || {
        children_of(unshare).first().map(|(pid, _, _)| *pid)
    })
    .expect("unshare started no child");
    let holder_like = Command::new("nsenter")
        .args(["--target", &pid1.to_string(), "--pid", "--", "sh", "-c"])
        .arg("sleep 0.2 & exit 0")
        .status()
        .expect("nsenter");
    assert!(holder_like.success());
    std::thread::sleep(Duration::from_millis(700));
    let left = children_of(pid1);
    spawned.kill().ok();
    spawned.wait().ok();
    assert!(
        left.iter().any(|(_, state, _)| *state == 'Z'),
        "expected a zombie under `sleep` as PID 1, found {left:?}"
    );
}

#[test]
fn runs_with_fds_0_to_2_closed_and_ignores_argv_and_environment() {
    for_each_platform(|platform, bin| {
        let inner = common::command(platform, bin);
        let mut spawned = Command::new("sh")
            .args(["-c", "exec \"$@\" <&- >&- 2>&-", "sh"])
            .arg(inner.get_program())
            .args(inner.get_args())
            .args(["--help", "-v", "an argument"])
            .env("SLEEPER_SHOULD_IGNORE", "this")
            .spawn()
            .map_err(|e| e.to_string())?;
        let pid = spawned.id() as i32;
        let result = (|| {
            poll(START_TIMEOUT, || {
                common::asleep_in_sigtimedwait(pid).then_some(())
            })
            .ok_or("not asleep with fds 0-2 closed")?;
            for fd in 0..3 {
                if std::fs::symlink_metadata(format!("/proc/{pid}/fd/{fd}")).is_ok() {
                    return Err(format!("fd {fd} is open; the test meant it closed"));
                }
            }
            rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).ok_or("pid")?,
                Signal::TERM,
            )
            .map_err(|e| e.to_string())?;
            let status = spawned.wait().map_err(|e| e.to_string())?;
            if status.code() == Some(0) {
                Ok(())
            } else {
                Err(format!("TERM gave {status}"))
            }
        })();
        spawned.kill().ok();
        spawned.wait().ok();
        result
    });
}

/// tests/smoke.sh is the behaviour check `nix flake check` runs in the build sandbox; run the
/// same script here on every platform, so the flake's check is exercised where Nix cannot build.
#[test]
fn the_flakes_smoke_script_passes_on_every_platform() {
    let script = sleeper_tests::repo_root().join("tests/smoke.sh");
    for_each_platform(|platform, bin| {
        let mut command = Command::new("bash");
        command.arg(&script).arg(bin);
        if !platform.runs_natively() {
            command.arg(platform.qemu_static());
        }
        let output = command.output().map_err(|e| format!("bash: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "smoke.sh failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
}

/// All stray signals at once, without waiting in between: on the real kernel they queue while
/// blocked and are consumed one by one. Native platforms only; under qemu-user such a burst
/// hits the emulator's fault handling described at `stray_signals`.
#[test]
fn survives_a_burst_of_stray_signals_on_the_real_kernel() {
    for_each_platform(|platform, bin| {
        if !platform.runs_natively() {
            eprintln!(
                "{:<12} burst: not run under qemu-user (see stray_signals)",
                platform.name
            );
            return Ok(());
        }
        for mode in MODES {
            let context = |e: String| format!("{mode:?}: {e}");
            let mut holder = Holder::start(platform, bin, mode).map_err(context)?;
            holder.wait_asleep(START_TIMEOUT).map_err(context)?;
            let strays = stray_signals(platform);
            for &signal in &strays {
                holder.signal(signal).map_err(context)?;
            }
            poll(Duration::from_secs(2), || {
                let status =
                    std::fs::read_to_string(format!("/proc/{}/status", holder.pid)).ok()?;
                let pending = |key: &str| {
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .is_some_and(|v| v.trim().chars().all(|c| c == '0'))
                };
                (pending("SigPnd:") && pending("ShdPnd:")).then_some(())
            })
            .ok_or_else(|| context("stray signals still pending after 2 s".into()))?;
            holder
                .wait_asleep(Duration::from_secs(2))
                .map_err(context)?;
            if let Some(status) = holder.exited().map_err(context)? {
                return Err(context(format!(
                    "a burst of {} signals ended it: {status}",
                    strays.len()
                )));
            }
            holder
                .stop_with(Signal::TERM)
                .map_err(|e| context(format!("after the burst: {e}")))?;
        }
        Ok(())
    });
}
