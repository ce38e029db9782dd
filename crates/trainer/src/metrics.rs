//! JSON-lines writers for a run directory (`metrics.jsonl`, `eval.jsonl`, `samples.jsonl`, ...).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// Appends one JSON object per line to a file, flushing each line so a crash loses nothing.
#[derive(Debug)]
pub struct JsonlWriter {
    path: PathBuf,
    file: File,
}

impl JsonlWriter {
    /// Opens `path` for appending, creating it if needed.
    pub fn append(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Io { path: path.to_path_buf(), error: source })?;
        Ok(Self { path: path.to_path_buf(), file })
    }

    /// Writes one record as a line.
    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<()> {
        let mut line = serde_json::to_string(record)
            .map_err(|e| Error::Invalid(format!("serialising a record: {e}")))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|source| Error::Io { path: self.path.clone(), error: source })
    }
}

/// Drops every line whose `"step"` is greater than `max_step` (used on resume, so that steps run
/// after the last checkpoint are not counted twice). A missing file is left missing.
pub fn truncate_after_step(path: &Path, max_step: u64) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let io = |source| Error::Io { path: path.to_path_buf(), error: source };
    let reader = BufReader::new(File::open(path).map_err(io)?);
    let mut kept = String::new();
    for line in reader.lines() {
        let line = line.map_err(io)?;
        let step = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("step").and_then(|s| s.as_u64()));
        if step.is_none_or(|s| s <= max_step) {
            kept.push_str(&line);
            kept.push('\n');
        }
    }
    std::fs::write(path, kept).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_steps_up_to_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        let mut w = JsonlWriter::append(&path).unwrap();
        for step in 1..=5u64 {
            w.write(&serde_json::json!({ "step": step })).unwrap();
        }
        truncate_after_step(&path, 3).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.lines().last().unwrap().contains("\"step\":3"));
    }
}
