//! `rlvr tasks` end to end: list, sample, and verify reading what sample printed.

use serde_json::Value;

use crate::util::{run_ok, run_with_stdin};

#[test]
fn list_json_names_every_family_with_knobs_and_levels() {
    let out = run_ok(&["tasks", "list", "--json"]);
    let families: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(families.len() >= 7, "{out}");
    for f in &families {
        assert!(
            f["name"].is_string() && f["knobs"].is_array() && f["levels"].is_array(),
            "{f}"
        );
    }
}

#[test]
fn sampled_answers_verify_and_a_bad_line_does_not_stop_the_rest() {
    let out = run_ok(&[
        "tasks",
        "sample",
        "countdown",
        "--level",
        "2",
        "-n",
        "3",
        "--seed",
        "5",
    ]);
    let tasks: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tasks.len(), 3);
    let mut input = String::new();
    for t in &tasks {
        let good = serde_json::json!({ "task": t, "completion": t["answer"] });
        input.push_str(&format!("{good}\n"));
        input.push_str("{not json\n");
        let bad = serde_json::json!({ "task": t, "completion": "1+1" });
        input.push_str(&format!("{bad}\n"));
    }
    let out = run_with_stdin(&["tasks", "verify"], &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), 9, "one verdict per input line");
    for (i, v) in verdicts.iter().enumerate() {
        let expect = i % 3 == 0;
        assert_eq!(v["correct"], expect, "line {}: {v}", i + 1);
        assert!(v["score"].is_number() && v["reason"].is_string(), "{v}");
    }
    // Input line 2 is the first malformed one: its verdict names it by number.
    assert_eq!(verdicts[1]["reason"], "invalid_input", "{}", verdicts[1]);
    assert!(
        verdicts[1]["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("line 2: ")),
        "the malformed line is named: {}",
        verdicts[1]
    );
}

#[test]
fn evolve_is_byte_identical_for_a_seed_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let mut summaries = Vec::new();
    for (out, threads) in [(&one, "1"), (&two, "2")] {
        let line = run_ok(&[
            "tasks",
            "evolve",
            "--proposals",
            "3000",
            "--seed",
            "1",
            "--threads",
            threads,
            "--out",
            out.to_str().unwrap(),
        ]);
        let s: Value = serde_json::from_str(line.trim()).unwrap();
        summaries.push(s);
    }
    let a = std::fs::read(one.join("archive.jsonl")).unwrap();
    let b = std::fs::read(two.join("archive.jsonl")).unwrap();
    assert_eq!(a, b);
    let s = &summaries[0];
    assert_eq!(s["proposals"], 3000);
    let lines: Vec<Value> = String::from_utf8(a)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(s["distinct"].as_u64(), Some(lines.len() as u64));
    assert!(s["valid"].as_u64() >= s["distinct"].as_u64());
    assert!(s["cells_filled"].as_u64() <= s["cells_total"].as_u64());
    for key in ["valid", "seconds", "cells_total"] {
        assert!(s.get(key).is_some(), "{key} missing: {s}");
    }
    for l in &lines {
        // Every archived program is the canonical text `--program` takes: it parses back to itself.
        let text = l["program"].as_str().unwrap();
        let p = tasks::program::Program::parse(text).unwrap();
        assert_eq!(p.to_string(), text);
        assert_eq!(l["fingerprint"].as_str().unwrap().len(), 16);
        assert!(l["cell"]["output"].is_string() && l["lineage"]["edit"].is_string());
    }
    assert!(one.join("distinct.png").metadata().unwrap().len() > 1000);
}
