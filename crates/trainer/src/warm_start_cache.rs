//! The warm-start cache: a run whose warm start another run has already computed takes its
//! weights from the cache instead of training them again (`rlvr train --warm-start-cache DIR`).
//!
//! Runs that differ only after the warm start (a curriculum against another, as in
//! `configs/curriculum-vs-uniform.toml` against `configs/quickstart.toml`) compute the same
//! weights, bit for bit. An entry is keyed by everything those weights depend on, so a hit is
//! exact and anything that changes them misses:
//! - this program (a hash of its executable file: a rebuild may change the numerics);
//! - the config sections the warm start reads (`[model]`, `[lora]`, `[warm_start]`, `seed`,
//!   `threads`, `dtype`, `device`, `train.shards`), the number of ranks, `CANDLE_NUM_THREADS`, and
//!   the files of `model.path` and `model.tokenizer`;
//! - every token it trains on, step by step (so the families, their knobs and formats, the prompt
//!   style, the eval sets it keeps out, and the tokenizer are in the key as what they produce).
//!
//! An entry (`DIR/<key>/`) holds the weights as a checkpoint does (`model/`, and `adapter/` for a
//! LoRA run), the warm start's `warm_start.jsonl`, and its training seconds, which the run counts
//! as if it had spent them: a time budget (`train.max_seconds`) gives the same RL steps either
//! way.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::{Error, Result};

/// The file of an entry that says it is whole (written last).
const ENTRY: &str = "entry.json";
/// The warm start's log, as a run writes it.
const LOG: &str = "warm_start.jsonl";

/// What an entry records beside the weights.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    /// The warm start's training seconds.
    seconds: f64,
}

/// The cache directory `dir`, for one run.
#[derive(Debug, Clone)]
pub struct WarmStartCache {
    dir: PathBuf,
}

/// A warm start found in the cache.
#[derive(Debug)]
pub struct Hit {
    /// The entry's directory.
    pub dir: PathBuf,
    /// Its training seconds.
    pub seconds: f64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |error| Error::Io {
        path: path.to_path_buf(),
        error,
    }
}

impl WarmStartCache {
    /// The cache in `dir` (created when an entry is first stored).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The key of `cfg`'s warm start on `policy` (freshly made, before any training), with
    /// `registry`'s families, keeping out `exclude`, on `ranks` ranks: 64 hex digits.
    pub fn key(
        policy: &policy::Policy,
        registry: &tasks::Registry,
        cfg: &RunConfig,
        exclude: &HashSet<String>,
        ranks: usize,
    ) -> Result<String> {
        let mut h = blake3::Hasher::new();
        h.update(b"rlvr warm-start cache 1\0");
        h.update(executable_hash()?.as_bytes());
        let section = |what: &'static str, text: std::result::Result<String, toml::ser::Error>| {
            text.map_err(|e| Error::Serialise {
                what,
                message: e.to_string(),
            })
        };
        let sections = [
            section("[model]", toml::to_string(&cfg.model))?,
            section("[warm_start]", toml::to_string(&cfg.warm_start))?,
            match &cfg.lora {
                Some(lora) => section("[lora]", toml::to_string(lora))?,
                None => String::new(),
            },
            format!(
                "seed={} threads={} dtype={:?} device={:?} shards={} ranks={ranks} candle_threads={:?}",
                cfg.seed,
                cfg.threads,
                cfg.dtype,
                cfg.device,
                cfg.train.shards,
                std::env::var("CANDLE_NUM_THREADS").ok(),
            ),
        ];
        for text in &sections {
            h.update(&(text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        for path in cfg.model.path.iter().chain(&cfg.model.tokenizer) {
            hash_files(&mut h, path)?;
        }
        crate::warm_start::hash_data(policy, registry, cfg, exclude, &mut h)?;
        Ok(h.finalize().to_hex().to_string())
    }

    /// The entry stored under `key`, if there is a whole one.
    pub fn find(&self, key: &str) -> Result<Option<Hit>> {
        let dir = self.dir.join(key);
        let path = dir.join(ENTRY);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read(&path).map_err(io(&path))?;
        let entry: Entry = serde_json::from_slice(&text).map_err(|e| Error::Checkpoint {
            path: path.clone(),
            message: format!("a warm-start cache entry: {e}"),
        })?;
        Ok(Some(Hit {
            dir,
            seconds: entry.seconds,
        }))
    }

    /// Stores a warm start under `key`: `write_weights` fills a directory with the weights, `log`
    /// is the run's `warm_start.jsonl`. Written aside and renamed into place, so a reader sees a
    /// whole entry or none; an entry another run stored first is kept.
    pub fn store(
        &self,
        key: &str,
        seconds: f64,
        log: &Path,
        write_weights: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let dest = self.dir.join(key);
        if dest.join(ENTRY).exists() {
            return Ok(());
        }
        let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        write_weights(&tmp)?;
        let copy = tmp.join(LOG);
        std::fs::copy(log, &copy).map_err(io(log))?;
        let json = serde_json::to_vec(&Entry { seconds }).map_err(|e| Error::Serialise {
            what: "a warm-start cache entry",
            message: e.to_string(),
        })?;
        let entry = tmp.join(ENTRY);
        std::fs::write(&entry, json).map_err(io(&entry))?;
        if dest.exists() && !dest.join(ENTRY).exists() {
            // An entry cut short before its entry.json: replace it.
            std::fs::remove_dir_all(&dest).map_err(io(&dest))?;
        }
        if let Err(e) = std::fs::rename(&tmp, &dest) {
            // Another run stored the same entry meanwhile: theirs is as good.
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
            if !dest.join(ENTRY).exists() {
                return Err(Error::Io {
                    path: dest,
                    error: e,
                });
            }
        }
        Ok(())
    }

    /// Copies a hit's `warm_start.jsonl` to `to`.
    pub fn copy_log(hit: &Hit, to: &Path) -> Result<()> {
        let from = hit.dir.join(LOG);
        std::fs::copy(&from, to).map_err(io(&from))?;
        Ok(())
    }
}

/// A hash of this process's executable file, computed once.
fn executable_hash() -> Result<blake3::Hash> {
    static HASH: OnceLock<std::result::Result<blake3::Hash, String>> = OnceLock::new();
    HASH.get_or_init(|| {
        let exe = std::env::current_exe().map_err(|e| format!("the executable's path: {e}"))?;
        let mut h = blake3::Hasher::new();
        std::fs::File::open(&exe)
            .and_then(|mut f| std::io::copy(&mut f, &mut h))
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        Ok(h.finalize())
    })
    .clone()
    .map_err(|message| Error::Serialise {
        what: "the warm-start cache key",
        message,
    })
}

/// Feeds the file `path`, or every file under the directory `path` (by sorted relative name),
/// into `h`.
fn hash_files(h: &mut blake3::Hasher, path: &Path) -> Result<()> {
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).map_err(io(&p))? {
                stack.push(e.map_err(io(&p))?.path());
            }
        } else {
            files.push(p);
        }
    }
    files.sort();
    for f in files {
        let name = f.strip_prefix(path).unwrap_or(&f).to_string_lossy();
        h.update(name.as_bytes());
        h.update(b"\0");
        let bytes = std::fs::read(&f).map_err(io(&f))?;
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(cache: &WarmStartCache, key: &str, seconds: f64, log: &Path, weights: &str) {
        cache
            .store(key, seconds, log, |dir| {
                std::fs::write(dir.join("weights"), weights).unwrap();
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn an_entry_is_found_whole_and_the_first_one_stored_stays() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("warm_start.jsonl");
        std::fs::write(&log, "{\"step\":1}\n").unwrap();
        let cache = WarmStartCache::new(dir.path().join("cache"));
        assert!(cache.find("k").unwrap().is_none());
        store(&cache, "k", 1.5, &log, "first");
        store(&cache, "k", 9.0, &log, "second");
        let hit = cache.find("k").unwrap().unwrap();
        assert_eq!(hit.seconds, 1.5);
        assert_eq!(
            std::fs::read_to_string(hit.dir.join("weights")).unwrap(),
            "first"
        );
        let copy = dir.path().join("copy.jsonl");
        WarmStartCache::copy_log(&hit, &copy).unwrap();
        assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&log).unwrap());
        // Nothing is left beside the entries.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["k"]);
    }

    #[test]
    fn an_entry_cut_short_is_not_found_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("warm_start.jsonl");
        std::fs::write(&log, "").unwrap();
        let cache = WarmStartCache::new(dir.path().join("cache"));
        std::fs::create_dir_all(dir.path().join("cache/k")).unwrap();
        std::fs::write(dir.path().join("cache/k/weights"), "partial").unwrap();
        assert!(cache.find("k").unwrap().is_none());
        store(&cache, "k", 2.0, &log, "whole");
        let hit = cache.find("k").unwrap().unwrap();
        assert_eq!(
            std::fs::read_to_string(hit.dir.join("weights")).unwrap(),
            "whole"
        );
    }
}
