//! Trains on the `reverse` family for a few steps: `cargo run -p custom-family -- [OUT_DIR]`.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("runs/custom-family"));
    let summary = custom_family::train(&out, custom_family::config()?.train.max_steps, false)?;
    println!(
        "{} steps, {} updates, {:.1} s of training: {}",
        summary.steps,
        summary.updates,
        summary.train_seconds,
        summary.run_dir.display()
    );
    Ok(())
}
