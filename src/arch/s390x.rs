use core::arch::asm;

/// `svc 0`: number in r1, arguments in r2-r5, result in r2.
#[inline(always)]
pub unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    unsafe {
        asm!("svc 0", in("r1") nr as usize, inlateout("r2") a0 as isize => ret, in("r3") a1,
             in("r4") a2, in("r5") a3, options(nostack, preserves_flags));
    }
    ret
}

#[inline(always)]
pub unsafe fn exit(nr: u32, code: usize) -> ! {
    unsafe { asm!("svc 0", in("r1") nr as usize, in("r2") code, options(noreturn, nostack)) }
}
