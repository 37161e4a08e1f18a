//! The `ie-bench` binary: a thin shell over `ie_bench::cli`.

fn main() -> std::process::ExitCode {
    ie_bench::cli::main()
}
