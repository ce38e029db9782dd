//! Run configs: a TOML file of overrides, then `--set key=value` overrides, then serde defaults
//! for everything else. Errors name the file, the key path and the offending value.

use std::path::Path;

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;

/// Reads a TOML config file, applies `--set` overrides and deserialises it into `T`.
pub fn load<T: DeserializeOwned>(path: &Path, sets: &[String]) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
    for set in sets {
        apply_set(&mut table, set)?;
    }
    from_table(table).with_context(|| format!("in config {}", path.display()))
}

/// Deserialises a table into `T`, reporting the key path of any error (`train.lr: ...`).
pub fn from_table<T: DeserializeOwned>(table: toml::Table) -> anyhow::Result<T> {
    let value = toml::Value::Table(table);
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        anyhow::anyhow!("key `{path}`: {}", err.into_inner())
    })
}

/// Applies one `a.b.c=value` override; the value is read as TOML (`3`, `1e-4`, `true`,
/// `"text"`, `[1, 2]`) and taken as a plain string when it is not valid TOML.
pub fn apply_set(table: &mut toml::Table, set: &str) -> anyhow::Result<()> {
    let Some((key, raw)) = set.split_once('=') else {
        bail!("--set {set:?}: expected KEY=VALUE, e.g. --set train.lr=1e-4");
    };
    let key = key.trim();
    let value = parse_value(raw.trim());
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("--set {set:?}: empty component in key {key:?}");
    }
    let (last, parents) = parts.split_last().context("empty key")?;
    let mut node = table;
    for (i, part) in parents.iter().enumerate() {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = match entry {
            toml::Value::Table(t) => t,
            other => bail!(
                "--set {set:?}: `{}` is a {}, not a table",
                parts[..=i].join("."),
                other.type_str()
            ),
        };
    }
    node.insert(last.to_string(), value);
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Inner {
        lr: f64,
        name: String,
    }
    impl Default for Inner {
        fn default() -> Self {
            Self {
                lr: 1.0,
                name: "x".into(),
            }
        }
    }
    #[derive(Debug, serde::Deserialize, PartialEq, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Outer {
        train: Inner,
        seed: u64,
    }

    #[test]
    fn set_overrides_typed_values() {
        let mut t = toml::Table::new();
        apply_set(&mut t, "train.lr=1e-4").unwrap();
        apply_set(&mut t, "train.name=hello").unwrap();
        apply_set(&mut t, "seed=7").unwrap();
        let o: Outer = from_table(t).unwrap();
        assert_eq!(
            o,
            Outer {
                train: Inner {
                    lr: 1e-4,
                    name: "hello".into()
                },
                seed: 7
            }
        );
    }

    /// Every shipped config reads and validates as it is (issue 21: they must run as shipped;
    /// `tests/configs.rs` runs them in release builds).
    #[test]
    fn every_shipped_config_reads_and_validates() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let mut cfg: trainer::RunConfig =
                    load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                // Program entries become families first, as `rlvr train` does.
                let mut registry = tasks::Registry::builtin();
                cfg.tasks = registry
                    .register_programs(&cfg.tasks)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                cfg.validate_with(&registry)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                count += 1;
            }
        }
        assert!(count >= 6, "{count} configs");
    }

    /// Issue 21: the message names the full key path, `train.lrr`, and the known keys.
    #[test]
    fn unknown_key_is_named_with_its_path() {
        let mut t = toml::Table::new();
        apply_set(&mut t, "train.lrr=1").unwrap();
        let err = from_table::<Outer>(t).unwrap_err().to_string();
        assert!(
            err.starts_with("key `train.lrr`: unknown field `lrr`, expected `lr` or `name`"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_key_and_value() {
        let mut t = toml::Table::new();
        apply_set(&mut t, "train.lr=fast").unwrap();
        let err = from_table::<Outer>(t).unwrap_err().to_string();
        assert!(
            err.starts_with("key `train.lr`: invalid type: string \"fast\", expected f64"),
            "{err}"
        );
    }

    #[test]
    fn set_errors_name_the_key() {
        let mut t = toml::Table::new();
        let err = |t: &mut toml::Table, set: &str| apply_set(t, set).unwrap_err().to_string();
        assert_eq!(
            err(&mut t, "train.lr"),
            "--set \"train.lr\": expected KEY=VALUE, e.g. --set train.lr=1e-4"
        );
        assert_eq!(
            err(&mut t, "train..lr=1"),
            "--set \"train..lr=1\": empty component in key \"train..lr\""
        );
        apply_set(&mut t, "train.lr=1e-4").unwrap();
        assert_eq!(
            err(&mut t, "train.lr.warmup=3"),
            "--set \"train.lr.warmup=3\": `train.lr` is a float, not a table"
        );
    }
}
