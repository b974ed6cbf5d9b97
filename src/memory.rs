//! The programs' allocator: the system's (glibc's malloc), with every block of 2 MiB or more
//! advised to the kernel as transparent huge pages (`MADV_HUGEPAGE`) — what glibc itself does
//! under `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, done by the program so that nobody has to set it.
//!
//! Why: a year of minutes is ~110 MB of columns, decoded or computed into fresh memory by every
//! step. Fresh memory comes from the kernel a 4 KiB page at a time, one fault and one zeroing
//! each (~27,000 faults a step); on a virtual machine a fault is dear. Where the kernel's THP
//! mode is `madvise` (a common default, and this machine's) the advice lets one fault map 2 MiB.
//! The advice never changes what a program computes, only how the kernel backs the memory; with
//! THP off it is a no-op, and a kernel that refuses it leaves the block as it was; on other
//! systems (a laptop's macOS) nothing is advised.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks this large or larger are advised (a smaller one cannot hold a whole huge page).
const LARGE: usize = 2 << 20;

/// The system allocator, advising large blocks as huge pages.
pub struct HugePages;

// SAFETY: every block comes from and goes back to `System`; the advice only sets a flag on the
// pages around a block the caller owns, never their contents.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        advise(unsafe { System.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        advise(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        advise(unsafe { System.realloc(block, layout, new_size) }, new_size)
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        unsafe { System.dealloc(block, layout) }
    }
}

/// Advises the pages that hold `block` as huge when it is large; returns `block`.
fn advise(block: *mut u8, size: usize) -> *mut u8 {
    if size >= LARGE && !block.is_null() {
        advise_pages(block);
    }
    block
}

/// Advises the whole pages that hold the live block `block` — its usable size, so that a block
/// malloc mapped on its own is advised whole and its mapping is not split.
#[cfg(target_os = "linux")]
fn advise_pages(block: *mut u8) {
    // SAFETY: sysconf has no preconditions (and glibc answers the page size from memory).
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        size if size > 0 => size as usize,
        _ => return,
    };
    // SAFETY: `block` is a live block of malloc's.
    let usable = unsafe { libc::malloc_usable_size(block.cast()) };
    let start = block as usize & !(page - 1);
    let end = (block as usize + usable).next_multiple_of(page);
    // SAFETY: the range is whole pages of this process's mapped memory around the block;
    // MADV_HUGEPAGE changes how they are backed, not what they hold. A refusal (THP off, an old
    // kernel) leaves them as they were: the result is not needed.
    unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
}

/// Transparent huge pages are Linux's: elsewhere the blocks are left as they are.
#[cfg(not(target_os = "linux"))]
fn advise_pages(_block: *mut u8) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The flags of the mapping that holds `address`, from /proc/self/smaps: each mapping's
    /// lines begin with its `start-end` range and end with its `VmFlags`.
    fn flags_of_mapping_at(address: usize) -> String {
        let range = |line: &str| -> Option<std::ops::Range<usize>> {
            let (start, end) = line.split_once(' ')?.0.split_once('-')?;
            Some(usize::from_str_radix(start, 16).ok()?..usize::from_str_radix(end, 16).ok()?)
        };
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            match (range(line), line.strip_prefix("VmFlags:")) {
                (Some(range), _) => inside = range.contains(&address),
                (None, Some(flags)) if inside => return flags.trim().to_string(),
                _ => {}
            }
        }
        panic!("no mapping holds {address:#x}")
    }

    /// A large block (here a 4 MiB vector, through the crate's global allocator) lies in pages
    /// advised as huge ("hg" in the mapping's flags); one grown past 2 MiB by reallocation too,
    /// its contents kept.
    #[test]
    fn large_blocks_are_advised_as_huge_pages_and_keep_their_contents() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            eprintln!("SKIPPED: this kernel has no transparent huge pages to advise");
            return;
        }
        let block = vec![7u8; 4 << 20];
        let flags = flags_of_mapping_at(block.as_ptr() as usize + (2 << 20));
        assert!(flags.split(' ').any(|f| f == "hg"), "flags: {flags}");
        let mut grown: Vec<u64> = (0..1000).collect();
        grown.extend(1000..1_000_000u64);
        assert!(grown.iter().enumerate().all(|(i, &v)| v == i as u64));
        let flags = flags_of_mapping_at(grown.as_ptr() as usize + (4 << 20));
        assert!(flags.split(' ').any(|f| f == "hg"), "flags: {flags}");
    }
}
