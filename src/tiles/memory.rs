//! What the tile engine asks of the allocator (mimalloc, `src/main.rs`): that memory a
//! build or a read of an index frees goes back to the system, so that a server's resident
//! size is what its indexes hold.

use std::sync::Mutex;

/// mimalloc's `mi_option_purge_delay` (its v2 header, `mimalloc.h`; the crate's bindings
/// name no constant for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Layers from this many features purge at once while their index is built: below, what
/// a build frees is small, and purging at once would only slow the renders meanwhile.
pub const PURGE_FROM_FEATURES: i64 = 100_000;

/// Builds in progress, and the purge delay they replaced.
static BUILDING: Mutex<(usize, std::os::raw::c_long)> = Mutex::new((0, 0));

/// Held while an index is built: mimalloc then hands freed pages back at once rather than
/// after its purge delay. A build frees about as much as it keeps (the rows as read, its
/// first unsorted copy), and with the delay those pages stayed resident — threads that
/// went idle never purged them: +58 MB per million buildings after a build, measured
/// (bench/scale.sh). Only while building a big layer: purging at once always costs tile
/// rendering 7–38 % of its throughput (bench/tiles.sh), and a stream of small uploads
/// would keep it on (bench/load.sh).
pub struct PurgeAtOnce(());

impl PurgeAtOnce {
    pub fn start() -> PurgeAtOnce {
        let mut b = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        if b.0 == 0 {
            // SAFETY: reads and sets an allocator option; no pointer involved.
            unsafe {
                b.1 = libmimalloc_sys::mi_option_get(PURGE_DELAY);
                libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
            }
        }
        b.0 += 1;
        PurgeAtOnce(())
    }
}

impl Drop for PurgeAtOnce {
    fn drop(&mut self) {
        give_back();
        // The delay comes back a moment later: the rows' buffers are freed on the threads
        // that read them when those next run (the catch-up and first tile that follow a
        // build), and those threads may then idle for long.
        std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_secs(2));
            let mut b = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
            b.0 -= 1;
            if b.0 == 0 {
                // SAFETY: as above.
                unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, b.1) };
            }
        });
    }
}

/// Hands back to the system the memory a build or a read freed (its first, unsorted copy
/// of the features; SQLite's and GDAL's buffers, from the C allocator): both allocators
/// would keep those pages a while.
pub fn give_back() {
    // SAFETY: neither call takes a pointer; each only returns what its allocator holds
    // unused (mi_collect is a no-op where mimalloc is not the allocator).
    unsafe {
        libmimalloc_sys::mi_collect(true);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        libc::malloc_trim(0);
    }
}
