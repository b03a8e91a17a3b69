//! `trace-console`: see the library ([`trace_console`]) for what it does.

use std::process::ExitCode;

use clap::Parser as _;
use trace_console::cli::{self, Cli};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    cli::run(Cli::parse()).await
}
