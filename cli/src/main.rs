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
    // `init` and `roster` take their help text from their argument structs
    // in `riskmesh_node::cli_setup`; a doc comment here would replace it.
    Init(riskmesh_node::cli_setup::InitArgs),
    Roster(riskmesh_node::cli_setup::RosterArgs),
    Node(riskmesh_node::cli_node::NodeArgs),
    // publish, correct, retract, ack, list, show, status, peers, verify, export,
    // and the hazardous tier's request, approve, deny, audit.
    #[command(flatten)]
    Analyst(Box<riskmesh_node::cli_analyst::AnalystCommand>),
    // `sim` takes its help text from `riskmesh_sim::cli::SimArgs`.
    Sim(riskmesh_sim::cli::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => offline_demo::run(),
        Command::Init(args) => riskmesh_node::cli_setup::run_init(&args).map_err(anyhow::Error::from),
        Command::Roster(args) => riskmesh_node::cli_setup::run_roster(&args).map_err(anyhow::Error::from),
        Command::Node(args) => riskmesh_node::cli_node::run(&args),
        Command::Analyst(command) => riskmesh_node::cli_analyst::run(&command).map_err(anyhow::Error::from),
        Command::Sim(args) => riskmesh_sim::cli::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
