//! Entry point: parse the command line, set up logging, run, map the error to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    fraud::memory::tune_allocator();
    let cli = fraud::cli::Cli::parse();
    fraud::telemetry::init_logging(&cli.logging());
    match fraud::run::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(fraud::run::exit_code(&err))
        }
    }
}
