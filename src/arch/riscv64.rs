use core::arch::asm;

/// `ecall`: number in a7, arguments in a0-a3, result in a0.
/// The kernel does not preserve vector registers, but this program uses none.
#[inline(always)]
pub unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    unsafe {
        asm!("ecall", in("a7") nr, inlateout("a0") a0 as isize => ret, in("a1") a1, in("a2") a2,
             in("a3") a3, options(nostack, preserves_flags));
    }
    ret
}

#[inline(always)]
pub unsafe fn exit(nr: u32, code: usize) -> ! {
    unsafe { asm!("ecall", in("a7") nr, in("a0") code, options(noreturn, nostack)) }
}
