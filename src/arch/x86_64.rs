use core::arch::asm;

/// `syscall`: number in rax, arguments in rdi, rsi, rdx, r10; the CPU clobbers rcx and r11.
#[inline(always)]
pub unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a0, in("rsi") a1,
             in("rdx") a2, in("r10") a3, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    ret
}

#[inline(always)]
pub unsafe fn exit(nr: u32, code: usize) -> ! {
    unsafe { asm!("syscall", in("rax") nr, in("rdi") code, options(noreturn, nostack)) }
}
