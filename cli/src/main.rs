//! The `riskmesh` command: a thin wrapper that parses arguments and calls the
//! node and simulation libraries.

mod offline_demo;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// riskmesh: signed, tiered AI-risk bulletins shared peer to peer.
#[derive(Debug, Parser)]
#[command(name = "riskmesh", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Walk through the protocol on this machine: a seven-member consortium
    /// with two observers publishes entries of every tier and kind, a fresh
    /// receiver validates them, and forgeries, equivocation and roster changes
    /// meet their rules. Exits non-zero if any check fails.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => offline_demo::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
