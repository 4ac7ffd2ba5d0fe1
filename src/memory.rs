//! How the process asks glibc's allocator to behave. A consumer runs for months: its resident
//! memory should follow what it holds, not the high-water mark of its busiest second.
//!
//! librdkafka's broker threads allocate fetch buffers and messages that the scoring thread frees.
//! glibc gives the top of a heap back to the system only above a trim threshold, and raises that
//! threshold to the size of any large block freed (librdkafka's fetch buffers are large), so
//! every lag burst raised the floor. A fixed threshold of 64 KiB keeps the resident memory flat
//! over the soak test; two arenas alone did not (docs/design.md).

/// Sets the allocator up; call it first in `main`, before any thread starts. A user's own
/// `MALLOC_TRIM_THRESHOLD_` or `GLIBC_TUNABLES` wins: then nothing is changed.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_set = ["GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_"].iter().any(|k| std::env::var_os(k).is_some());
        if !user_set {
            // SAFETY: mallopt only sets an allocator parameter, and no other thread exists yet.
            unsafe {
                libc::mallopt(libc::M_TRIM_THRESHOLD, 64 * 1024);
            }
        }
    }
}
