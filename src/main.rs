//! The `ie-bench` binary: a thin shell over `ie_bench::program`.

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    fix_thread_count();
    ie_bench::program::main()
}

/// candle 0.11 asks for its thread count at every matrix product and many other ops, and
/// unless `RAYON_NUM_THREADS` is set, each ask opens and parses /proc/cpuinfo
/// (`num_cpus::get_physical`). A greedy decode of 32 tokens asked 10,431 times. Settling the
/// variable once, to the count candle would have found, keeps its choice and drops the cost.
fn fix_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        // SAFETY: called at the start of main, before any other thread exists.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
}

/// candle allocates a fresh buffer for nearly every tensor op, many of them megabytes. With
/// glibc's defaults those go to mmap and back at each free, and every new buffer page-faults
/// in again. Serving them from the heap and not trimming it makes a t5-small training step
/// 7-20% faster (`ie-bench bench`, 2 cores); the cost is a resident size at its peak.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; it is called before any thread starts.
    unsafe {
        const GIB: libc::c_int = 1 << 30;
        if libc::mallopt(libc::M_MMAP_THRESHOLD, GIB) == 0 {
            // Older glibc caps the threshold at half its heap size (32 MiB on 64-bit).
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        }
        libc::mallopt(libc::M_TRIM_THRESHOLD, GIB);
    }
}
