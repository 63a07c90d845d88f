use core::arch::asm;

/// `syscall 0`: number in a7, arguments in a0-a3, result in a0; the kernel clobbers t0-t8.
#[inline(always)]
pub unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    unsafe {
        asm!("syscall 0", in("$a7") nr, inlateout("$a0") a0 as isize => ret, in("$a1") a1,
             in("$a2") a2, in("$a3") a3, lateout("$t0") _, lateout("$t1") _, lateout("$t2") _,
             lateout("$t3") _, lateout("$t4") _, lateout("$t5") _, lateout("$t6") _,
             lateout("$t7") _, lateout("$t8") _, options(nostack, preserves_flags));
    }
    ret
}

#[inline(always)]
pub unsafe fn exit(nr: u32, code: usize) -> ! {
    unsafe { asm!("syscall 0", in("$a7") nr, in("$a0") code, options(noreturn, nostack)) }
}
