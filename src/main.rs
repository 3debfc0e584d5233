//! The `pvc` binary: a thin layer that parses the command line and calls the library.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cli::exec(args) {
        eprintln!("error: {}", pvc::onnx::escape(&format!("{e:#}")));
        std::process::exit(2);
    }
}
