//! sleeper: hold a namespace open, asleep, until SIGTERM or SIGINT.
//!
//! The whole program is three system calls and a loop:
//! 1. block every signal, so none can kill or interrupt us (SIGKILL/SIGSTOP aside);
//! 2. set SIGCHLD to SIG_IGN, so the kernel reaps children and orphans by itself;
//! 3. sleep in `rt_sigtimedwait` on every signal; exit 0 on TERM or INT, else wait again.
//!
//! Blocking comes first, so a SIGTERM that arrives before the wait is queued, not fatal.
//! A blocked signal is never "ignored" by the kernel, so this holds as PID 1 as well.
#![no_std]
#![no_main]
#![cfg_attr(target_arch = "mips64", feature(asm_experimental_arch))]

mod arch;
mod signal;

use linux_raw_sys::general::{
    __NR_exit_group, __NR_rt_sigaction, __NR_rt_sigprocmask, __NR_rt_sigtimedwait, SIG_BLOCK,
    SIGCHLD, SIGINT, SIGTERM,
};
use signal::{IGNORE_BLOCKING_ALL, SIGSET_SIZE};

/// The ELF entry point; the linker script names it. It never returns, so it needs no caller.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let all = IGNORE_BLOCKING_ALL.mask_ptr();
    // SAFETY: each call passes pointers to a static that lives for the whole program, or null.
    unsafe {
        arch::syscall4(__NR_rt_sigprocmask, SIG_BLOCK as usize, all, 0, SIGSET_SIZE);
        arch::syscall4(
            __NR_rt_sigaction,
            SIGCHLD as usize,
            IGNORE_BLOCKING_ALL.as_ptr(),
            0,
            SIGSET_SIZE,
        );
        loop {
            let signal = arch::syscall4(__NR_rt_sigtimedwait, all, 0, 0, SIGSET_SIZE);
            // Anything else (a stray signal, -EINTR after SIGSTOP/SIGCONT) means wait again.
            if signal == SIGTERM as isize || signal == SIGINT as isize {
                arch::exit(__NR_exit_group, 0);
            }
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Nothing above can panic; this only satisfies `no_std`.
    loop {}
}
