use core::arch::asm;

/// `sc`: number in r0, arguments in r3-r6, result in r3. On error the kernel sets
/// cr0.SO and returns +errno, which is negated here to the usual -errno.
/// The kernel clobbers r0 and r4-r12, ctr, xer and cr0 (`Documentation/powerpc/syscall64-abi.rst`).
#[inline(always)]
pub unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    unsafe {
        asm!("sc", "bns 0f", "neg 3, 3", "0:",
             inlateout("r0") nr as usize => _, inlateout("r3") a0 as isize => ret,
             inlateout("r4") a1 => _, inlateout("r5") a2 => _, inlateout("r6") a3 => _,
             lateout("r7") _, lateout("r8") _, lateout("r9") _, lateout("r10") _,
             lateout("r11") _, lateout("r12") _, lateout("ctr") _, lateout("xer") _,
             lateout("cr0") _, options(nostack));
    }
    ret
}

#[inline(always)]
pub unsafe fn exit(nr: u32, code: usize) -> ! {
    unsafe { asm!("sc", in("r0") nr as usize, in("r3") code, options(noreturn, nostack)) }
}
