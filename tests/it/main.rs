//! Every integration test in one binary (ripgrep's `tests/tests.rs` layout): one link instead of
//! one per file. Shared helpers live in [`common`] (synthetic data, gradient checks, fixture
//! loading) and [`serve_util`] (a tiny served model).

mod cli_train_eval_predict;
mod common;
mod data_cli;
mod data_imdb;
mod data_readers;
mod explain;
mod export_onnx;
mod kill_anywhere;
mod multilabel_cli;
mod multilabel_data;
mod nn_conv2d_layers;
mod nn_conv2d_model;
mod nn_conv2d_reference;
mod nn_layers;
mod nn_model;
mod nn_multichannel;
mod nn_reference;
mod old_bundles;
mod predict_stream;
mod quantize;
mod reliability;
mod report_outputs;
mod serve_api;
mod serve_cli;
mod serve_faults;
mod serve_kserve;
mod serve_util;
mod text_pipeline;
mod train_conv2d;
mod train_loop;
mod transfer;
