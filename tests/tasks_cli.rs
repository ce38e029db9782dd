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

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verdicts(lines: &[(Value, String)]) -> Vec<Value> {
    let input: String = lines
        .iter()
        .map(|(t, c)| format!("{}\n", serde_json::json!({ "task": t, "completion": c })))
        .collect();
    let out = run_with_stdin(&["tasks", "verify"], &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&String::from_utf8(out.stdout).unwrap())
}

#[test]
fn program_tasks_sample_and_verify_from_their_lines() {
    let out = run_ok(&[
        "tasks",
        "sample",
        "--program",
        "sort(digits(add(a,b))); a:int[3]; b:int[3]",
        "-n",
        "3",
    ]);
    let tasks = json_lines(&out);
    assert_eq!(tasks.len(), 3);
    let t = &tasks[0];
    let (a, b) = (
        t["inputs"]["a"].as_i64().unwrap(),
        t["inputs"]["b"].as_i64().unwrap(),
    );
    assert_eq!(t["prompt"], format!("sort(digits(add(a,b))) a={a} b={b} ="));
    assert_eq!(t["program"], "sort(digits(add(a, b))); a:int[3]; b:int[3]");
    assert_eq!(t["mode"], "output");
    let mut digits: Vec<i64> = (a + b)
        .to_string()
        .bytes()
        .map(|d| (d - b'0') as i64)
        .collect();
    digits.sort();
    assert_eq!(t["value"], serde_json::json!(digits));
    // Input mode: any a below 1000 with a mod 7 = y is right.
    let out = run_ok(&[
        "tasks",
        "sample",
        "--program",
        "mod(a, 7); a:int[3]",
        "--mode",
        "input",
        "-n",
        "2",
        "--style",
        "tagged",
    ]);
    let inv = json_lines(&out);
    let y = inv[0]["value"].as_i64().unwrap();
    assert_eq!(inv[0]["solve"], "a");
    let v = verdicts(&[
        (t.clone(), t["answer"].as_str().unwrap().to_string()),
        (t.clone(), "[1,2,3]".into()),
        (
            inv[0].clone(),
            inv[0]["answer"].as_str().unwrap().to_string(),
        ),
        (inv[0].clone(), format!("<answer>{}</answer>", y + 14)),
        (inv[0].clone(), format!("<answer>{}</answer>", y + 1)),
        (inv[0].clone(), format!("<answer>{}</answer>", 1001 + y)),
    ]);
    let correct: Vec<bool> = v.iter().map(|v| v["correct"].as_bool().unwrap()).collect();
    assert_eq!(
        correct,
        [true, digits == [1, 2, 3], true, true, false, false]
    );
    // Errors name what is wrong.
    let out = crate::util::rlvr()
        .args(["tasks", "sample", "--program", "add(a, ; a:int[2]"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("at byte 7"), "{err}");
}

#[test]
fn tasks_check_prints_fingerprints_and_fails_on_a_rejected_program() {
    for file in ["digits", "lists", "arithmetic"] {
        let out = run_ok(&["tasks", "check", &format!("tasks/programs/{file}.toml")]);
        for line in json_lines(&out) {
            assert_eq!(line["ok"], true, "{line}");
            assert_eq!(line["fingerprint"].as_str().unwrap().len(), 16, "{line}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.txt");
    std::fs::write(
        &path,
        "# one program per line\nsum(digits(a)); a:int[3]\ndiv(a, b); a:int[2]; b:int[2]\n\nsum(digits(a));a:int[3]\n",
    )
    .unwrap();
    let out = crate::util::rlvr()
        .args(["tasks", "check", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(lines.len(), 3);
    assert_eq!(
        (lines[0]["ok"].as_bool(), lines[1]["ok"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("division by zero"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2]["same_family_as"], "line2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 3 programs rejected"));
}

#[test]
fn program_files_list_sample_and_export_by_name() {
    let out = run_ok(&[
        "tasks",
        "list",
        "--json",
        "--programs",
        "tasks/programs/lists.toml",
    ]);
    let names: Vec<String> = json_lines(&out)
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "sum_of_last_two",
            "sorted_list",
            "running_total",
            "sorted_evens",
            "count_of_largest",
            "unsort"
        ]
    );
    let out = run_ok(&[
        "tasks",
        "sample",
        "unsort",
        "--programs",
        "tasks/programs/lists.toml",
        "--level",
        "2",
        "--format",
        "fixed_width_lsb_first",
        "-n",
        "1",
    ]);
    let t = &json_lines(&out)[0];
    assert_eq!(
        (t["family"].as_str(), t["level"].as_u64()),
        (Some("unsort"), Some(2))
    );
    assert_eq!(t["program"], "sort(l); l:list[3,1]");
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(&[
        "tasks",
        "export",
        "--programs",
        "tasks/programs/lists.toml",
        "--family",
        "sorted_list",
        "--others",
        "10",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.lines().count(), 5, "{out}");
    let first = crate::util::read_jsonl(&dir.path().join("sorted_list-bare-natural-L1.jsonl"));
    assert_eq!(first.len(), 10);
    assert_eq!(first[0]["program"], "sort(l); l:list[3,1]");
}
