//! SIGTERM and SIGINT end the holder with exit status 0 within 50 ms, as a child and as PID 1
//! of a PID namespace signalled from outside it (what `docker stop` does).
//!
//! The latency is wall-clock time from `kill` until the test sees the exit, so this file runs
//! one holder at a time: cargo runs test binaries one after another, and here the platforms
//! are measured in turn rather than in parallel, so no other test loads the two cores.

mod common;

use common::{Holder, MODES};
use rustix::process::Signal;
use std::time::Duration;

/// The contract's bound.
const EXIT_WITHIN: Duration = Duration::from_millis(50);

fn exits_0_within_bound(signal: Signal) {
    let mut failures = Vec::new();
    for (platform, bin) in common::built() {
        for mode in MODES {
            let measured = (|| {
                let mut holder = Holder::start(platform, bin, mode)?;
                holder.wait_asleep(Duration::from_secs(10))?;
                let latency = holder.stop_with(signal)?;
                if latency > EXIT_WITHIN {
                    return Err(format!(
                        "exited {latency:?} after {signal:?}, over {EXIT_WITHIN:?}"
                    ));
                }
                Ok(latency)
            })();
            match measured {
                Ok(latency) => {
                    eprintln!(
                        "{:<12} {mode:?}: {signal:?} -> exit 0 in {latency:?}",
                        platform.name
                    )
                }
                Err(e) => failures.push(format!("{} {mode:?}: {e}", platform.name)),
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// One test, so the harness cannot run the two signals' measurements side by side.
#[test]
fn sigterm_and_sigint_exit_0_within_50_ms() {
    exits_0_within_bound(Signal::TERM);
    exits_0_within_bound(Signal::INT);
}
