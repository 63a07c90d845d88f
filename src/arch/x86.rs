use core::arch::asm;

/// `int 0x80`: number in eax, arguments in ebx, ecx, edx, esi. LLVM reserves esi,
/// so the fourth argument is swapped in and out around the trap (as rustix does).
#[inline(always)]
pub unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    unsafe {
        asm!("xchg esi, {a3}", "int 0x80", "xchg esi, {a3}", a3 = in(reg) a3,
             inlateout("eax") nr as isize => ret, in("ebx") a0, in("ecx") a1, in("edx") a2,
             options(nostack, preserves_flags));
    }
    ret
}

#[inline(always)]
pub unsafe fn exit(nr: u32, code: usize) -> ! {
    unsafe { asm!("int 0x80", in("eax") nr, in("ebx") code, options(noreturn, nostack)) }
}
