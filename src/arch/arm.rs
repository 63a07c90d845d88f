use core::arch::asm;

/// EABI `svc 0`: number in r7, arguments in r0-r3, result in r0.
/// The targets are ARM mode, where r7 is an ordinary register (in Thumb it is the frame pointer).
#[inline(always)]
pub unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    unsafe {
        asm!("svc 0", in("r7") nr, inlateout("r0") a0 as isize => ret, in("r1") a1, in("r2") a2,
             in("r3") a3, options(nostack, preserves_flags));
    }
    ret
}

#[inline(always)]
pub unsafe fn exit(nr: u32, code: usize) -> ! {
    unsafe { asm!("svc 0", in("r7") nr, in("r0") code, options(noreturn, nostack)) }
}
