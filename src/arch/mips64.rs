use core::arch::asm;

/// n64 `syscall`: number in $2, arguments in $4-$7, result in $2. On error the kernel
/// sets $7 and returns +errno, which is negated here to the usual -errno.
/// Clobbers follow musl's `syscall_arch.h`, including $3 (v1), which rustix omits.
#[inline(always)]
pub unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
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

#[inline(always)]
pub unsafe fn exit(nr: u32, code: usize) -> ! {
    unsafe { asm!("syscall", in("$2") nr as usize, in("$4") code, options(noreturn, nostack)) }
}
