//! The `riskmesh` command: parses arguments and calls the node and
//! simulation libraries. Every clap type, the HTTP client for the node's
//! local API, log setup and `anyhow` live here, at the binary edge.

mod analyst;
mod client;
mod console_cmd;
mod node_cmd;
mod offline_demo;
mod setup;
mod sim;

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
    // in `setup`; a doc comment here would replace it.
    Init(setup::InitArgs),
    Roster(setup::RosterArgs),
    Node(node_cmd::NodeArgs),
    // publish, correct, retract, ack, list, show, status, peers, verify, export,
    // and the hazardous tier's request, approve, deny, audit.
    #[command(flatten)]
    Analyst(Box<analyst::AnalystCommand>),
    // `console` takes its help text from `console_cmd::ConsoleArgs`.
    Console(console_cmd::ConsoleArgs),
    // `sim` takes its help text from `sim::SimArgs`.
    Sim(sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => offline_demo::run(),
        Command::Init(args) => setup::run_init(&args).map_err(anyhow::Error::from),
        Command::Roster(args) => setup::run_roster(&args).map_err(anyhow::Error::from),
        Command::Node(args) => node_cmd::run(&args),
        Command::Analyst(command) => analyst::run(&command).map_err(anyhow::Error::from),
        Command::Console(args) => console_cmd::run(&args),
        Command::Sim(args) => sim::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
