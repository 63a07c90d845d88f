//! The kernel's `struct sigaction`, which `linux-raw-sys` gets wrong for MIPS
//! (it declares `{handler, flags, mask}`; the kernel uses the IRIX order `{flags, handler, mask}`).

use linux_raw_sys::general::_NSIG;

/// `SIG_IGN`. linux-raw-sys has it only as a function pointer, which a static may not hold.
const SIG_IGN: usize = 1;

/// The kernel's sigset: `_NSIG` bits (64, or 128 on MIPS) in native words.
const SIGSET_WORDS: usize = _NSIG as usize / usize::BITS as usize;
/// The `sigsetsize` argument of every `rt_sig*` call.
pub const SIGSET_SIZE: usize = SIGSET_WORDS * size_of::<usize>();

/// `struct sigaction` as `rt_sigaction` copies it in (`linux: include/linux/signal_types.h`).
/// Packed: the kernel copies it byte by byte, so alignment padding before it would be wasted.
#[repr(C, packed)]
pub struct KernelSigaction {
    #[cfg(target_arch = "mips64")]
    flags: u32,
    // The kernel's struct is naturally aligned, so its handler starts at offset 8.
    #[cfg(target_arch = "mips64")]
    flags_padding: u32,
    handler: usize,
    #[cfg(not(target_arch = "mips64"))]
    flags: usize,
    // Only arches that define SA_RESTORER carry the field.
    #[cfg(not(any(
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "mips64"
    )))]
    restorer: usize,
    mask: [usize; SIGSET_WORDS],
}

/// SIG_IGN with every signal in `sa_mask`. The mask is never used as a handler mask
/// (there is no handler); it doubles as the "all signals" set, which saves a second constant.
pub static IGNORE_BLOCKING_ALL: KernelSigaction = KernelSigaction {
    flags: 0,
    #[cfg(target_arch = "mips64")]
    flags_padding: 0,
    handler: SIG_IGN,
    #[cfg(not(any(
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "mips64"
    )))]
    restorer: 0,
    mask: [usize::MAX; SIGSET_WORDS],
};

impl KernelSigaction {
    pub fn as_ptr(&'static self) -> usize {
        self as *const Self as usize
    }

    pub fn mask_ptr(&'static self) -> usize {
        (&raw const self.mask) as usize
    }
}

// Packing must not move a field: the offsets are the naturally aligned kernel struct's.
const _: () = {
    use core::mem::offset_of;
    let word = size_of::<usize>();
    if cfg!(target_arch = "mips64") {
        assert!(offset_of!(KernelSigaction, handler) == 8);
        assert!(offset_of!(KernelSigaction, mask) == 16);
    } else if cfg!(any(target_arch = "riscv64", target_arch = "loongarch64")) {
        assert!(offset_of!(KernelSigaction, mask) == 2 * word);
    } else {
        assert!(offset_of!(KernelSigaction, mask) == 3 * word);
    }
};
