//! `rlvr`: the command-line front end. It parses, wires library objects together and prints;
//! the work happens in the `tasks`, `policy`, `trainer` and `bench` crates.

mod cli;
mod cmd;
mod config;

use std::process::ExitCode;

use clap::Parser;

// candle allocates a fresh buffer for every op; mimalloc makes that cheap (-33 % on a step).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its `mi_option_e` value in v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // candle frees and reallocates multi-MB tensors at every op; by default mimalloc returns
    // freed pages to the OS after 10 ms and the next op faults them back in zeroed (16 % of a
    // tiny-model GRPO step under `perf`). Keep them: a run's footprint is its peak anyway.
    // MIMALLOC_PURGE_DELAY in the environment still wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a process-wide allocator option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr (stdout is for command output such as JSONL); `RUST_LOG` overrides `-v`.
/// Under an MPI launcher the ranks other than 0 log warnings and errors only (rank 0 speaks for
/// the run).
fn init_logging(verbose: u8) {
    let default = match verbose {
        _ if trainer::collective::launcher().is_some_and(|l| l.rank > 0) => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // The trainer's phase spans (step, sample, update, eval, checkpoint; debug level) print
        // their busy and idle time when they close.
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
