//! The `dupsift` binary: parse flags, run the subcommand, map the outcome to an exit code.

mod cli;

fn main() -> std::process::ExitCode {
    ignore_file_size_signal();
    cli::main()
}

/// Past a file-size limit (`ulimit -f`, some quota setups) the kernel sends SIGXFSZ, whose
/// default action kills the process with no message, leaving the user guessing which file was
/// too big. Ignored, the write fails with EFBIG instead and takes the ordinary error path: a
/// message naming the output, exit status 2, the temporary file removed (Rust already ignores
/// SIGPIPE for the same reason).
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN before any thread starts has no
    // preconditions; no handler code runs.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
