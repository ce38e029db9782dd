//! Helpers for driving the `rlvr` binary.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A command running the built `rlvr` binary from the repository root.
pub fn rlvr() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rlvr"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// Runs `rlvr ARGS` with `stdin` and returns its output.
pub fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = rlvr()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rlvr");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait rlvr")
}

/// Runs `rlvr ARGS`, asserting success, and returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = rlvr().args(args).output().expect("spawn rlvr");
    assert!(
        out.status.success(),
        "rlvr {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Reads a JSONL file into values.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}
