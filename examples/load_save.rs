//! Loads an ONNX model and saves it elsewhere, timing both: the I/O that `pvc rewrite` does around
//! a rewrite. External weights are not read; with `--copy` they are copied next to the output,
//! otherwise hard-linked (`DataPolicy::Link`; no data moves when the output sits next to the input).
//!
//! Usage: `cargo run --release --example load_save -- MODEL OUTPUT [--copy]`
//! Prints `load_ms`, `save_ms` and `load_save_ms` (milliseconds; process start-up excluded).

use pvc::ir::Model;
use pvc::onnx::{DataPolicy, SaveOptions};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(model), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: load_save MODEL OUTPUT [--copy]");
        std::process::exit(2);
    };
    let data = if args.iter().any(|a| a == "--copy") { DataPolicy::Copy } else { DataPolicy::Link };
    let fail = |e: pvc::onnx::OnnxError| -> ! {
        eprintln!("error: {e}");
        std::process::exit(2)
    };
    let start = std::time::Instant::now();
    let m = Model::load(&PathBuf::from(model)).unwrap_or_else(|e| fail(e));
    let loaded = start.elapsed();
    m.save(&PathBuf::from(out), &SaveOptions { data, ..Default::default() }).unwrap_or_else(|e| fail(e));
    let elapsed = start.elapsed();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!("load_ms {:.3}", ms(loaded));
    println!("save_ms {:.3}", ms(elapsed - loaded));
    println!("load_save_ms {:.3}", ms(elapsed));
}
