//! The process allocator of every kms-audit binary (the CLI and the Lambdas): mimalloc, declared
//! here once. A binary links it with [`init`], first thing in `main`.
//!
//! Why mimalloc: the ingest allocates many small Arrow buffers from both cores, where glibc
//! malloc spent ~40% of the time (`bench/ingest.sh`, perf). How it is tuned:
//! - no transparent huge pages (the `no_thp` feature in the root `Cargo.toml`): a huge page is
//!   faulted in and zeroed whole for its first byte;
//! - freed memory goes back to the OS after [`PURGE_DELAY_MS`] instead of mimalloc v3's default
//!   of one second: the ingest frees a flush's buffers and allocates the next one's within that
//!   second, so both were resident at once. Measured on `bench/ingest.sh`: the streamed 335 MB log
//!   file peaked at 100 MiB with the default, 69 MiB with 10 ms, in the same time; the 100-file
//!   trail 145 → 131 MiB.

use std::os::raw::c_long;

/// mimalloc for every allocation of the process.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Milliseconds before mimalloc returns freed memory to the OS (its v2 default; v3's is 1,000).
pub const PURGE_DELAY_MS: c_long = 10;

/// `mi_option_purge_delay` in `mimalloc.h` (v2 and v3), which `libmimalloc-sys` does not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Applies the tuning above; call once at the start of `main`, before the work allocates.
pub fn init() {
    // SAFETY: `mi_option_set` only stores an integer in mimalloc's option table (atomically); the
    // option id is a valid `mi_option_e` value, checked against the header by the test below.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
    }
}

/// The purge delay mimalloc is using.
pub fn purge_delay_ms() -> c_long {
    // SAFETY: reads an option of mimalloc's table; the id is valid (see `init`).
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option id names the purge delay: the header's own default for it (v3: 1,000 ms) is
    /// what mimalloc reports before `init`, unless the environment sets it.
    #[test]
    fn init_sets_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay_ms(), 1000, "option {MI_OPTION_PURGE_DELAY} is not mimalloc's purge delay");
        }
        init();
        assert_eq!(purge_delay_ms(), PURGE_DELAY_MS);
    }
}
