//! Argument parsing and printing only; the work happens in the library.

use clap::{Parser, Subcommand};

mod data;

/// Train, evaluate, explain and serve convolutional text classifiers.
#[derive(Parser, Debug)]
#[command(name = "textcnn", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Inspect datasets: statistics, reader benchmark.
    Data(data::DataArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Data(args) => data::run(args),
    }
}
