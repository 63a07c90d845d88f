use core::arch::asm;

/// `svc 0`: number in x8, arguments in x0-x3, result in x0.
#[inline(always)]
pub unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a0 as isize => ret, in("x1") a1, in("x2") a2,
             in("x3") a3, options(nostack, preserves_flags));
    }
    ret
}

#[inline(always)]
pub unsafe fn exit(nr: u32, code: usize) -> ! {
    unsafe { asm!("svc 0", in("x8") nr, in("x0") code, options(noreturn, nostack)) }
}
