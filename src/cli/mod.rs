//! Argument parsing and printing only; the work happens in the library.

mod bench;

use clap::{Parser, Subcommand};

/// Train, evaluate, explain and serve convolutional text classifiers.
#[derive(Parser, Debug)]
#[command(name = "textcnn", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Measure training and inference speed and peak memory on the Kim workload.
    Bench(bench::BenchArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Bench(args) => bench::run(args),
    }
}
