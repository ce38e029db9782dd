//! Import of external tasks: JSONL lines `{"question", "answer"}` as reasoning-gym writes them
//! (an optional `metadata` object is read for countdown's `numbers` and `target`), checked by a
//! named verifier. Imported tasks are tagged style: the prompt is the question plus an instruction
//! to answer inside `<answer></answer>`.
//!
//! Verifiers: `exact_string` (the answer text, trimmed, must equal the reference exactly);
//! `exact_number` (integers, decimals `-12.50` and fractions `p/q` compared as exact rationals:
//! `2.5` = `5/2`; no floats, no tolerance); `countdown` (the countdown family's checker; every
//! given number must be used exactly once, as reasoning-gym's countdown requires).

use std::io::BufRead;
use std::path::Path;

use num_bigint::BigInt;
use num_rational::BigRational;
use serde::{Deserialize, Serialize};

use crate::answer;
use crate::error::{Result, TasksError};
use crate::expr::parse_rational;
use crate::families::countdown_puzzle;
use crate::knobs::Knobs;
use crate::task::{NumberFormat, PromptStyle, Reason, Task, Verdict};

/// The verifier named for imported tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalVerifier {
    /// Exact text equality after trimming.
    ExactString,
    /// Exact numeric equality (integers, decimals, fractions).
    ExactNumber,
    /// Countdown expression check, all numbers used once.
    Countdown,
}

impl ExternalVerifier {
    /// Reads `exact_string`, `exact_number` or `countdown`.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "exact_string" => Ok(Self::ExactString),
            "exact_number" => Ok(Self::ExactNumber),
            "countdown" => Ok(Self::Countdown),
            _ => Err(TasksError::UnknownVerifier {
                name: name.to_string(),
            }),
        }
    }

    /// The family name its tasks carry.
    pub fn family(self) -> &'static str {
        match self {
            Self::ExactString => "exact_string",
            Self::ExactNumber => "exact_number",
            Self::Countdown => "countdown",
        }
    }
}

#[derive(Deserialize)]
struct External {
    question: String,
    answer: serde_json::Value,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    numbers: Option<Vec<i64>>,
    #[serde(default)]
    target: Option<i64>,
}

const INSTRUCTION: &str = "\nPut your final answer inside <answer></answer>.";

/// Reads external JSONL at `path` into tasks checked by `verifier`; errors name file and line.
pub fn import_jsonl(path: &Path, verifier: ExternalVerifier) -> Result<Vec<Task>> {
    let file = std::fs::File::open(path).map_err(|source| TasksError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| TasksError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let err = |detail: String| TasksError::Jsonl {
            path: path.to_path_buf(),
            line: i + 1,
            detail,
        };
        let ext: External = serde_json::from_str(&line).map_err(|e| err(e.to_string()))?;
        let gold = match &ext.answer {
            serde_json::Value::String(s) => s.trim().to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(err(format!(
                    "answer must be a string or number, not {other}"
                )))
            }
        };
        let data = match verifier {
            ExternalVerifier::ExactString => String::new(),
            ExternalVerifier::ExactNumber => {
                if parse_number(&gold).is_none() {
                    return Err(err(format!("answer {gold:?} is not a number")));
                }
                String::new()
            }
            ExternalVerifier::Countdown => {
                let meta = ext.metadata.as_ref();
                let (numbers, target) = match (
                    meta.and_then(|m| m.numbers.clone()),
                    meta.and_then(|m| m.target),
                ) {
                    (Some(n), Some(t)) => (n, t),
                    _ => parse_countdown_question(&ext.question)
                        .ok_or_else(|| err("no numbers/target in metadata or question".into()))?,
                };
                countdown_puzzle(numbers, target, true)
            }
        };
        let prompt = format!("{}{INSTRUCTION}", ext.question);
        let task = Task::new(
            verifier.family(),
            &Knobs::new(),
            (i + 1) as u64,
            PromptStyle::Tagged,
            NumberFormat::Natural,
            prompt,
            answer::wrap(PromptStyle::Tagged, &gold),
            data,
        );
        out.push(task);
    }
    Ok(out)
}

/// The numbers and target of a countdown question in reasoning-gym's wordings: "Using all the
/// numbers 74, 48, 56, 66, create an expression that equals 132." (integers before "equals" are
/// the numbers, the first after it the target) or "Calculate 309 using all of these numbers: 6,
/// 61, 94, 4." (the first integer is the target, the integers on the rest of that line the numbers).
fn parse_countdown_question(q: &str) -> Option<(Vec<i64>, i64)> {
    let ints = |s: &str| -> Vec<i64> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|t| !t.is_empty() && t.len() < 12)
            .filter_map(|t| t.parse().ok())
            .collect()
    };
    let first_line = q.lines().next().unwrap_or("");
    let (numbers, target) = if let Some((before, after)) = first_line.split_once("equals") {
        (ints(before), *ints(after).first()?)
    } else {
        let all = ints(first_line);
        let (target, numbers) = all.split_first()?;
        (numbers.to_vec(), *target)
    };
    (!numbers.is_empty()).then_some((numbers, target))
}

/// An integer, a decimal (`-12.50`) or a fraction `p/q`, as an exact rational.
fn parse_number(s: &str) -> Option<BigRational> {
    if let Some(v) = parse_rational(s) {
        return Some(v);
    }
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = body.split_once('.')?;
    if int.is_empty() || frac.is_empty() || int.len() + frac.len() > 60 {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (int.len() > 1 && int.starts_with('0'))
    {
        return None;
    }
    let n = BigInt::parse_bytes(format!("{int}{frac}").as_bytes(), 10)?;
    let d = BigInt::from(10).pow(frac.len() as u32);
    let v = BigRational::new(n, d);
    Some(if neg { -v } else { v })
}

/// The verdict for tasks of the import-only families (`None` for any other family).
pub(crate) fn verify_external(task: &Task, completion: &str) -> Option<Verdict> {
    let gold = answer::gold(task.style, &task.answer);
    let v = match task.family.as_str() {
        "exact_string" => answer::verify_exact(task.style, completion, gold),
        "exact_number" => {
            let Some(want) = parse_number(gold) else {
                return Some(Verdict::invalid_task("reference answer is not a number"));
            };
            match answer::extract(task.style, completion, gold.len()) {
                Err(v) => v,
                Ok(got) => match parse_number(got) {
                    Some(x) if x == want => Verdict::correct(got),
                    Some(_) => Verdict::wrong(got, ""),
                    None => {
                        Verdict::fail(Some(got.to_string()), Reason::Unparseable, "not a number")
                    }
                },
            }
        }
        _ => return None,
    };
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(task: &Task, completion: &str) -> Verdict {
        crate::Registry::builtin().verify(task, completion)
    }

    fn import(lines: &str, v: ExternalVerifier) -> Vec<Task> {
        let path =
            std::env::temp_dir().join(format!("tasks-import-{}-{:?}.jsonl", std::process::id(), v));
        std::fs::write(&path, lines).unwrap();
        let out = import_jsonl(&path, v).unwrap();
        let _ = std::fs::remove_file(&path);
        out
    }

    #[test]
    fn reasoning_gym_countdown_line() {
        let line = r#"{"question": "Using all the numbers 74, 48, 56, 66, create an expression that equals 132.\nYou can only use each number once.", "answer": "66 - 56 + 74 + 48", "metadata": {"numbers": [74, 48, 56, 66], "target": 132}}"#;
        let t = &import(line, ExternalVerifier::Countdown)[0];
        assert_eq!(t.family, "countdown");
        assert!(verify(t, &t.answer).correct);
        assert!(verify(t, "<answer>74+48+66-56</answer>").correct);
        assert!(!verify(t, "<answer>74+48+10</answer>").correct);
        assert!(
            !verify(t, "<answer>66+66</answer>").correct,
            "must use all numbers once"
        );
        // Without metadata the numbers come from the question.
        let bare = r#"{"question": "Using all the numbers 74, 48, 56, 66, create an expression that equals 132.", "answer": "66 - 56 + 74 + 48"}"#;
        assert_eq!(import(bare, ExternalVerifier::Countdown)[0].data, t.data);
        let newer = r#"{"question": "Calculate 309 using all of these numbers: 6, 61, 94, 4.\nEach number may be used at most once.", "answer": "94*4 - 61 - 6"}"#;
        let t = &import(newer, ExternalVerifier::Countdown)[0];
        assert_eq!(t.data, "6 61 94 4;309;all");
        assert!(verify(t, &t.answer).correct);
    }

    #[test]
    fn exact_number_is_exact() {
        let tasks = import("{\"question\": \"Calculate 1.25 + 1.25.\", \"answer\": \"2.5\"}\n{\"question\": \"q\", \"answer\": 42}\n", ExternalVerifier::ExactNumber);
        let t = &tasks[0];
        for ok in ["2.5", "2.50", "5/2", "+2.5"] {
            assert!(verify(t, &format!("<answer>{ok}</answer>")).correct, "{ok}");
        }
        for bad in ["2.49", "2.5 or 3", "2,5", "25", "2.5e0", "02.5"] {
            assert!(
                !verify(t, &format!("<answer>{bad}</answer>")).correct,
                "{bad}"
            );
        }
        assert!(verify(&tasks[1], "<answer>42</answer>").correct);
        assert!(!verify(&tasks[1], "<answer>420</answer>").correct);
    }

    #[test]
    fn exact_string_and_bad_lines() {
        let t = &import(
            r#"{"question": "Capital of France?", "answer": "Paris"}"#,
            ExternalVerifier::ExactString,
        )[0];
        assert!(t.prompt.ends_with(INSTRUCTION));
        assert!(verify(t, "so <answer> Paris </answer>").correct);
        assert!(!verify(t, "<answer>paris</answer>").correct);
        let path =
            std::env::temp_dir().join(format!("tasks-import-bad-{}.jsonl", std::process::id()));
        std::fs::write(
            &path,
            "{\"question\": \"q\", \"answer\": \"1\"}\nnot json\n",
        )
        .unwrap();
        let e = import_jsonl(&path, ExternalVerifier::ExactNumber)
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:"), "{e}");
        assert!(ExternalVerifier::from_name("regex").is_err());
        let _ = std::fs::remove_file(&path);
    }
}
