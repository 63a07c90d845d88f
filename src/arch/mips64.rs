use core::arch::asm;

/// n64 `syscall`, made through a call: see `outline`.
#[inline(always)]
pub unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    unsafe { outline(a0, a1, a2, a3, nr as usize) }
}

/// Number in $2, arguments in $4-$7, result in $2. On error the kernel sets $7 and returns
/// +errno, which is negated here to the usual -errno. Clobbers follow musl's `syscall_arch.h`,
/// including $3 (v1), which rustix omits.
///
/// The kernel also clobbers $1 ($at): its syscall entry (`SAVE_SOME`/`RESTORE_SOME` in
/// `scall64-n64.S`) neither saves nor restores it, and musl lists "$1" among the clobbers. Rust
/// rejects `$1` as an asm operand ("reserved for assembler"), yet LLVM's MIPS backend allocates
/// it, and once kept the sigaction pointer there across the first `syscall`, so
/// `rt_sigaction` got EFAULT and SIGCHLD stayed SIG_DFL on a real kernel (qemu-user preserves
/// $1, which hid it). Behind a call that is not inlined, the C ABI makes $1 caller-saved: no
/// value of the caller lives in it across the `syscall`, and inside this function only the
/// return address ($31, which the kernel restores) is live across it. It costs no size: the
/// call replaces three inlined copies. (rustix's mips64 backend inlines the same asm without
/// $1, so it carries the same hazard.)
#[inline(never)]
unsafe extern "C" fn outline(a0: usize, a1: usize, a2: usize, a3: usize, nr: usize) -> isize {
    let ret: isize;
    let failed: usize;
    unsafe {
        asm!("syscall", inlateout("$2") nr as isize => ret, in("$4") a0, in("$5") a1,
             in("$6") a2, inlateout("$7") a3 => failed, lateout("$3") _, lateout("$8") _,
             lateout("$9") _, lateout("$10") _, lateout("$11") _, lateout("$12") _,
             lateout("$13") _, lateout("$14") _, lateout("$15") _, lateout("$24") _,
             lateout("$25") _, options(nostack, preserves_flags));
    }
    if failed != 0 { -ret } else { ret }
}

/// Never returns, so nothing of the caller can be lost in $1.
#[inline(always)]
pub unsafe fn exit(nr: u32, code: usize) -> ! {
    unsafe { asm!("syscall", in("$2") nr as usize, in("$4") code, options(noreturn, nostack)) }
}
