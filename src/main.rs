//! The `dupsift` binary: parse flags, run the subcommand, map the outcome to an exit code.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
