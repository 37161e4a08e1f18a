//! The `ie-bench` program: its command line, handed to one of the two front ends. The
//! workbench (`tui`) and the commands (`cli`) both stand on `service` and never import each
//! other; only this module knows them both.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ie-bench",
    version,
    about = "A workbench for instruction-tuned information extraction (InstructUIE)"
)]
struct Program {
    /// The database of runs (default: $IE_BENCH_DB, else $XDG_DATA_HOME/ie-bench/db).
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    tui: crate::tui::TuiArgs,
}

// Parsed once per process: a boxed variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// The terminal workbench (also what `ie-bench` with no command opens).
    Tui(crate::tui::TuiArgs),
    #[command(flatten)]
    Cli(crate::cli::Command),
}

pub fn main() -> ExitCode {
    let program = Program::parse();
    let db = program
        .db
        .clone()
        .unwrap_or_else(crate::store::default_path);
    let result = match program.command.unwrap_or(Command::Tui(program.tui)) {
        Command::Tui(a) => crate::tui::run(&db, a),
        Command::Cli(c) => crate::cli::run(&db, c),
    };
    result.unwrap_or_else(|e| {
        crate::cli::report_failure(&e, &db);
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Program::command().debug_assert();
    }
}
