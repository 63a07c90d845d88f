//! The shape of every shipped binary, read with the `object` crate: what the kernel's ELF
//! loader needs on each architecture (see shared platform facts, section 6), and the size.

mod common;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectKind};
use sleeper_tests::platforms::Platform;

/// The hard ceiling from the mission; each row's budget is tighter.
const HARD_CEILING: u64 = 512;
/// The load address is a multiple of the largest kernel page size we target.
const MAX_PAGE: u64 = 0x10000;

#[test]
fn every_binary_has_the_loader_shape_its_platform_needs() {
    common::for_each_platform(|platform, bin| {
        let data = std::fs::read(bin).map_err(|e| e.to_string())?;
        let file = object::File::parse(&*data).map_err(|e| e.to_string())?;
        let machine = format!("{:?}", file.architecture());
        if machine != platform.elf_machine {
            return Err(format!(
                "machine {machine}, the table says {}",
                platform.elf_machine
            ));
        }
        let bits = file.architecture().address_size().map(|a| a.bytes() * 8);
        let class = if file.is_64() { 64 } else { 32 };
        if bits != Some(class) {
            return Err(format!("ELF{class} for a {bits:?}-bit architecture"));
        }
        if file.kind() != ObjectKind::Executable {
            return Err(format!("kind {:?}, not a static executable", file.kind()));
        }
        if file.is_64() {
            check_headers::<elf::FileHeader64<Endianness>>(platform, &data)
        } else {
            check_headers::<elf::FileHeader32<Endianness>>(platform, &data)
        }
    });
}

fn check_headers<H: FileHeader<Endian = Endianness>>(
    platform: &Platform,
    data: &[u8],
) -> Result<(), String> {
    let header = H::parse(data).map_err(|e| e.to_string())?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let ident = header.e_ident();
    if ident.version != elf::EV_CURRENT || ident.padding.iter().any(|&b| b != 0) {
        return Err("e_ident version/padding would not match binfmt_misc masks".into());
    }
    if header.e_type(endian) != elf::ET_EXEC {
        return Err("not ET_EXEC".into());
    }
    let flags = header.e_flags(endian);
    match platform.elf_machine.as_str() {
        // arm64 kernels refuse 32-bit ARM binaries without an EABI version (compat mode).
        "Arm" if flags & elf::EF_ARM_EABIMASK != elf::EF_ARM_EABI_VER5 => {
            return Err(format!("e_flags {flags:#x}: not EABI5"));
        }
        // Without ELFv2 the kernel reads e_entry as a function descriptor.
        "PowerPc64" if flags & 3 != 2 => return Err(format!("e_flags {flags:#x}: not ELFv2")),
        _ => {}
    }

    let segments = header
        .program_headers(endian, data)
        .map_err(|e| e.to_string())?;
    let mut loads = Vec::new();
    let mut stack = None;
    for segment in segments {
        let (kind, seg_flags) = (segment.p_type(endian), segment.p_flags(endian));
        if seg_flags & elf::PF_W != 0 && seg_flags & elf::PF_X != 0 {
            return Err(format!("segment type {kind:#x} is writable and executable"));
        }
        match kind {
            elf::PT_LOAD => loads.push(segment),
            elf::PT_GNU_STACK => stack = Some(seg_flags),
            elf::PT_INTERP | elf::PT_DYNAMIC => {
                return Err(format!("segment type {kind:#x}: not a static executable"));
            }
            _ => {}
        }
    }
    match stack {
        Some(f) if f & elf::PF_X == 0 && f & elf::PF_W != 0 => {}
        Some(f) => return Err(format!("PT_GNU_STACK flags {f:#x}: not RW")),
        None => return Err("no PT_GNU_STACK: the stack may be executable".into()),
    }
    let [load] = loads[..] else {
        return Err(format!("{} PT_LOADs, not one", loads.len()));
    };
    let (offset, vaddr) = (load.p_offset(endian).into(), load.p_vaddr(endian).into());
    let (filesz, memsz) = (load.p_filesz(endian).into(), load.p_memsz(endian).into());
    if load.p_flags(endian) != elf::PF_R | elf::PF_X {
        return Err(format!(
            "PT_LOAD flags {:#x}, not R+X",
            load.p_flags(endian)
        ));
    }
    if vaddr < MAX_PAGE || offset % MAX_PAGE != vaddr % MAX_PAGE {
        return Err(format!("PT_LOAD at {vaddr:#x} from offset {offset:#x}"));
    }
    if filesz != memsz {
        return Err("PT_LOAD has bss on a read-only segment".into());
    }
    let entry: u64 = header.e_entry(endian).into();
    if !(vaddr..vaddr + filesz).contains(&entry) {
        return Err(format!("entry {entry:#x} is outside the PT_LOAD"));
    }
    if offset + filesz != data.len() as u64 {
        return Err(format!(
            "{} bytes after the PT_LOAD: section headers not stripped",
            data.len() as u64 - offset - filesz
        ));
    }
    Ok(())
}

#[test]
fn every_binary_fits_its_budget_and_the_budget_is_tight() {
    common::for_each_platform(|platform, bin| {
        let size = std::fs::metadata(bin).map_err(|e| e.to_string())?.len();
        let budget = platform.size_budget;
        if size > budget || size > HARD_CEILING {
            return Err(format!(
                "{size} bytes, over its budget {budget} (ceiling {HARD_CEILING})"
            ));
        }
        // The ratchet: budgets are the size rounded up to 16, so a shrink is locked in too.
        if budget != size.next_multiple_of(16) {
            return Err(format!(
                "{size} bytes: set size-budget to {} in platforms.toml",
                size.next_multiple_of(16)
            ));
        }
        Ok(())
    });
}
