//! Argument parsing and printing only; the work happens in the library.

mod bench;
mod bench_conv2d;
mod bench_text;
mod common;
mod compare;
mod data;
mod eval;
mod explain;
mod export;
mod export_model;
mod finetune;
mod predict;
mod progress;
mod quantize;
mod serve;
mod train;
mod vectors;

use clap::{Parser, Subcommand};

/// Train, evaluate and apply convolutional text classifiers (Kim 2014).
#[derive(Parser, Debug)]
#[command(name = "textcnn", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Train(Box<train::TrainArgs>),
    Eval(eval::EvalArgs),
    Predict(predict::PredictArgs),
    Data(data::DataArgs),
    Bench(bench::BenchArgs),
    Serve(serve::ServeArgs),
    Finetune(Box<finetune::FinetuneArgs>),
    ExportVectors(export::ExportArgs),
    Export(export_model::ExportModelArgs),
    Compare(compare::CompareArgs),
    Explain(Box<explain::ExplainArgs>),
    Vectors(Box<vectors::VectorsArgs>),
    Quantize(quantize::QuantizeArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Data(args) => data::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Finetune(args) => finetune::run(*args),
        Command::ExportVectors(args) => export::run(args),
        Command::Export(args) => export_model::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Explain(args) => explain::run(*args),
        Command::Vectors(args) => vectors::run(*args),
        Command::Quantize(args) => quantize::run(args),
    }
}
