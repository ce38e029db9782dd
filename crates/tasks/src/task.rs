//! `Task` (one generated problem), `Verdict` (a verifier's decision) and the prompt options.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::knobs::Knobs;
use crate::program::{Inputs, Mode, Value};
use crate::rng::{hash64, hex16};

/// How a prompt is laid out and where the answer goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptStyle {
    /// For small from-scratch models: the prompt is the problem (`12+34=`), the completion is the
    /// bare answer (then EOS).
    #[default]
    Bare,
    /// For chat-style models: an instruction; the answer goes inside `<answer>…</answer>`.
    Tagged,
}

impl PromptStyle {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PromptStyle::Bare => "bare",
            PromptStyle::Tagged => "tagged",
        }
    }
}

/// How numbers are written in prompts and answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberFormat {
    /// Ordinary decimal notation: `42`.
    #[default]
    Natural,
    /// Zero-padded to a fixed width and written least-significant digit first: 42 at width 8 is
    /// `24000000`. Every level then has the same layout, so a harder level only puts non-zero
    /// digits where zeros were before.
    FixedWidthLsbFirst,
}

impl NumberFormat {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberFormat::Natural => "natural",
            NumberFormat::FixedWidthLsbFirst => "fixed_width_lsb_first",
        }
    }
}

/// One generated problem: fully determined by (family, knobs, seed, style, format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Stable content hash (16 hex digits of a 64-bit hash of family and prompt): two tasks with
    /// the same id pose the same problem, which is what train/eval disjointness is decided on.
    pub id: String,
    /// The family that generated it and verifies it.
    pub family: String,
    /// The ladder level it was generated at, if any.
    #[serde(default)]
    pub level: Option<u32>,
    /// The complete knob setting it was generated with.
    #[serde(default)]
    pub knobs: Knobs,
    /// The generation seed.
    #[serde(default)]
    pub seed: u64,
    /// Prompt style.
    #[serde(default)]
    pub style: PromptStyle,
    /// Number format.
    #[serde(default)]
    pub format: NumberFormat,
    /// Exactly the text fed to the model.
    pub prompt: String,
    /// A reference completion that verifies as correct (what the model should emit, EOS excluded).
    pub answer: String,
    /// Family-specific instance data the verifier needs beyond the answer (e.g. a CNF's clauses);
    /// empty for families whose answer is unique.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data: String,
    /// Program tasks only: the program text with its declarations at the task's knobs
    /// (`sort(digits(add(a, b))); a:int[3]; b:int[3]`). A task carrying it is verified by the
    /// program executor, whatever its family (see [`crate::program::verify`]).
    /// Shared with the family that made it (tasks at the same sizes hold one text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<Arc<str>>,
    /// Program tasks only: compute the output (`output`) or find an input (`input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Program tasks in input mode: the input to find.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solve: Option<String>,
    /// Program tasks only: the drawn input values by name (in input mode, the one to find holds
    /// the reference solution; any input that gives `value` is correct).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Inputs>,
    /// Program tasks only: the program's output on `inputs` (the answer in output mode, the
    /// target in input mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl Task {
    /// Builds a task and computes its id.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        family: &str,
        knobs: &Knobs,
        seed: u64,
        style: PromptStyle,
        format: NumberFormat,
        prompt: String,
        answer: String,
        data: String,
    ) -> Self {
        Self {
            id: task_id(family, &prompt),
            family: family.to_string(),
            level: None,
            knobs: knobs.clone(),
            seed,
            style,
            format,
            prompt,
            answer,
            data,
            program: None,
            mode: None,
            solve: None,
            inputs: None,
            value: None,
        }
    }

    /// Recomputes the id from family and prompt (e.g. to check an imported file).
    pub fn content_id(&self) -> String {
        task_id(&self.family, &self.prompt)
    }
}

/// The id of a task of `family` with `prompt`.
pub fn task_id(family: &str, prompt: &str) -> String {
    hex16(hash64(&[family, prompt]))
}

/// Why a verdict is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The answer is right.
    Correct,
    /// The answer parsed but is wrong (or breaks a constraint).
    Wrong,
    /// No answer in the expected format could be read.
    Unparseable,
    /// More than one answer was given (several answer tags).
    Hedged,
    /// The completion was cut off at the token limit.
    Truncated,
    /// The completion is longer than any sensible answer.
    TooLong,
    /// The task names a family nobody registered.
    UnknownFamily,
    /// The task itself is malformed (its data does not parse).
    InvalidTask,
    /// The verify request itself was malformed (a bad input line).
    InvalidInput,
}

/// A verifier's decision on one completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether the answer is right (curriculum statistics and group filtering use this).
    pub correct: bool,
    /// The reward: 1.0 or 0.0 (no family here gives graded credit).
    pub score: f32,
    /// The answer as extracted from the completion, if one could be.
    pub parsed: Option<String>,
    /// Why.
    pub reason: Reason,
    /// Human-readable detail where useful.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Verdict {
    /// A correct answer.
    pub fn correct(parsed: &str) -> Self {
        Self {
            correct: true,
            score: 1.0,
            parsed: Some(parsed.to_string()),
            reason: Reason::Correct,
            detail: None,
        }
    }

    /// A parsed but wrong answer.
    pub fn wrong(parsed: &str, detail: impl Into<String>) -> Self {
        Self::fail(Some(parsed.to_string()), Reason::Wrong, detail)
    }

    /// An incorrect verdict with `reason` and `detail`.
    pub fn fail(parsed: Option<String>, reason: Reason, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self {
            correct: false,
            score: 0.0,
            parsed,
            reason,
            detail: (!detail.is_empty()).then_some(detail),
        }
    }

    /// No answer could be read.
    pub fn unparseable(detail: impl Into<String>) -> Self {
        Self::fail(None, Reason::Unparseable, detail)
    }

    /// A completion cut off at the token limit: never correct.
    pub fn truncated() -> Self {
        Self::fail(None, Reason::Truncated, "")
    }

    /// A completion of `len` bytes, over the bound `max`.
    pub fn too_long(len: usize, max: usize) -> Self {
        Self::fail(
            None,
            Reason::TooLong,
            format!("{len} bytes, more than {max}"),
        )
    }

    /// A task whose family nobody registered.
    pub fn unknown_family(name: &str) -> Self {
        Self::fail(
            None,
            Reason::UnknownFamily,
            format!("unknown family {name:?}"),
        )
    }

    /// A task whose data does not parse.
    pub fn invalid_task(detail: impl Into<String>) -> Self {
        Self::fail(None, Reason::InvalidTask, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_depends_on_family_and_prompt_only() {
        let k = Knobs::new();
        let a = Task::new(
            "addition",
            &k,
            1,
            PromptStyle::Bare,
            NumberFormat::Natural,
            "1+2=".into(),
            "3".into(),
            String::new(),
        );
        let b = Task::new(
            "addition",
            &k,
            9,
            PromptStyle::Bare,
            NumberFormat::Natural,
            "1+2=".into(),
            "3".into(),
            String::new(),
        );
        let c = Task::new(
            "addition",
            &k,
            1,
            PromptStyle::Bare,
            NumberFormat::Natural,
            "1+3=".into(),
            "4".into(),
            String::new(),
        );
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(a.id.len(), 16);
        assert_eq!(a.id, a.content_id());
    }

    #[test]
    fn verdict_serialises_reason_snake_case() {
        let v = Verdict::too_long(10, 5);
        let s = serde_json::to_string(&v).unwrap();
        assert!(s.contains(r#""reason":"too_long""#), "{s}");
        assert!(!Verdict::truncated().correct);
        assert_eq!(Verdict::truncated().reason, Reason::Truncated);
        let back: Verdict = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn task_serde_round_trip() {
        let k = Knobs::from_static(&[("digits", 2.0), ("width", 8.0)]);
        let t = Task::new(
            "addition",
            &k,
            5,
            PromptStyle::Tagged,
            NumberFormat::FixedWidthLsbFirst,
            "p".into(),
            "a".into(),
            String::new(),
        );
        let s = serde_json::to_string(&t).unwrap();
        assert!(s.contains(r#""knobs":{"digits":2,"width":8}"#), "{s}");
        assert!(s.contains(r#""format":"fixed_width_lsb_first""#), "{s}");
        let back: Task = serde_json::from_str(&s).unwrap();
        assert_eq!(back, t);
    }
}
