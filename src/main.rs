//! `textcnn` command-line program: a thin layer over the library.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    if !matches!(args.command, cli::Command::Serve(_)) {
        restore_default_sigpipe();
    }
    // The command shows what it downloads (the library alone prints nothing).
    textcnn::data::show_download_progress(true);
    if let Err(err) = cli::run(args) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

/// A command whose output is cut short (`textcnn eval ... | head`) ends quietly, as Unix tools
/// do, instead of panicking in `println!`: Rust ignores SIGPIPE by default, so restore the default
/// action. Not for `serve`, whose closed client sockets must not stop the server.
#[cfg(unix)]
fn restore_default_sigpipe() {
    // SAFETY: called once at start-up before any thread is spawned; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_default_sigpipe() {}
