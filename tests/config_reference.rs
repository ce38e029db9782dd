//! `docs/config.md` against the code's own defaults: every key the default config has is
//! documented, every documented key exists, and every documented scalar default is the code's.

use std::collections::BTreeMap;
use std::path::Path;

/// The default config's keys, dotted, with their values (tables included, as `None`).
fn default_keys() -> BTreeMap<String, Option<toml::Value>> {
    let value = toml::Value::try_from(trainer::RunConfig::default()).unwrap();
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out);
    out
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, Option<toml::Value>>) {
    match v {
        toml::Value::Table(t) => {
            if !prefix.is_empty() {
                out.insert(prefix.to_string(), None);
            }
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), Some(other.clone()));
        }
    }
}

/// Splits on `, ` outside brackets and braces.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth -= 1,
            ',' if depth == 0 && chars.peek() == Some(&' ') => {
                chars.next();
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

/// The rows of the reference table: `(dotted keys, documented defaults, one per key if given)`.
fn documented() -> Vec<(Vec<String>, Vec<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/config.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut rows = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split(" | ").collect();
        if !line.starts_with("| `") || cells.len() < 3 {
            continue;
        }
        let names = split_top(cells[0].trim_start_matches("| "));
        let first = names[0].trim_matches('`').to_string();
        let prefix = first.rsplit_once('.').map_or("", |(p, _)| p).to_string();
        let keys = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let n = n.trim_matches('`');
                if i == 0 || prefix.is_empty() {
                    n.to_string()
                } else {
                    format!("{prefix}.{n}")
                }
            })
            .collect();
        rows.push((keys, split_top(cells[1])));
    }
    rows
}

/// Whether the documented default `doc` states `value` (`none` for an absent key).
fn states(doc: &str, value: Option<&toml::Value>) -> bool {
    let doc = doc.trim_matches('`');
    match value {
        None => doc == "none",
        Some(toml::Value::String(s)) => doc.trim_matches('"') == s,
        Some(toml::Value::Boolean(b)) => doc == b.to_string(),
        Some(toml::Value::Integer(i)) => doc.parse::<f64>().is_ok_and(|d| d == *i as f64),
        Some(toml::Value::Float(f)) => doc
            .parse::<f64>()
            .is_ok_and(|d| (d - f).abs() <= 1e-12 * f.abs().max(1.0)),
        // A list of tables (the families in play): its row describes it in words.
        Some(toml::Value::Array(a)) if a.iter().any(toml::Value::is_table) => true,
        Some(v @ toml::Value::Array(_)) => {
            toml::from_str::<toml::Table>(&format!("x = {doc}")).is_ok_and(|t| t["x"] == *v)
        }
        Some(_) => true,
    }
}

#[test]
fn every_default_key_is_documented_with_the_codes_default() {
    let defaults = default_keys();
    let rows = documented();
    assert!(
        rows.len() > 20,
        "{} rows read from docs/config.md",
        rows.len()
    );
    let documented: Vec<&String> = rows.iter().flat_map(|(k, _)| k).collect();
    // Each value of the default config, or a table above it, has a row.
    for key in defaults.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k) {
        let mut covered = false;
        let mut k = key.as_str();
        loop {
            if documented.iter().any(|d| d.as_str() == k) {
                covered = true;
                break;
            }
            match k.rsplit_once('.') {
                Some((parent, _)) => k = parent,
                None => break,
            }
        }
        assert!(covered, "config key `{key}` is missing from docs/config.md");
    }
    // Each row names real keys with the code's defaults.
    for (keys, docs) in &rows {
        for (i, key) in keys.iter().enumerate() {
            let value = defaults.get(key);
            let whole = docs.join(", ");
            let doc = if keys.len() == 1 {
                Some(whole.as_str())
            } else if docs.len() == keys.len() {
                Some(docs[i].as_str())
            } else {
                None
            };
            match (value, doc) {
                (None, Some("none")) => {}
                (None, _) => panic!("docs/config.md documents `{key}`, which the config lacks"),
                // A table: its row describes it in words.
                (Some(None), _) => {}
                (Some(Some(v)), Some(doc)) => assert!(
                    states(doc, Some(v)),
                    "docs/config.md gives `{key}` the default {doc}; the code's is {v}"
                ),
                (Some(Some(v)), None) => panic!(
                    "docs/config.md: the row of `{key}` gives {} defaults for {} keys (the code's is {v})",
                    docs.len(),
                    keys.len()
                ),
            }
        }
    }
}
