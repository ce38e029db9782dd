//! The README's "adding a verifier" walkthrough, compiled and checked: a user-defined family
//! registers, generates deterministic tasks and verifies them under the contract.

use tasks::{
    answer, Family, Harder, Knob, Knobs, NumberFormat, PromptStyle, Reason, Registry, Task,
    TaskRng, Verdict,
};

/// Reverse a string of digits.
pub struct Reverse;

const KNOBS: &[Knob] = &[Knob::int(
    "length",
    1,
    32,
    3,
    Harder::Up,
    "digits to reverse",
)];

impl Family for Reverse {
    fn name(&self) -> &'static str {
        "reverse"
    }
    fn knobs(&self) -> &'static [Knob] {
        KNOBS
    }
    fn generate(&self, knobs: &Knobs, style: PromptStyle, format: NumberFormat, seed: u64) -> Task {
        // All randomness from the seed: (family, knobs, seed) fixes the task.
        let mut rng = TaskRng::new(seed);
        let digits: String = (0..knobs.int("length", 3))
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect();
        let gold: String = digits.chars().rev().collect();
        let (prompt, reference) = match style {
            PromptStyle::Bare => (format!("rev:{digits}="), gold),
            PromptStyle::Tagged => (
                format!("Reverse the digits {digits}. Answer inside <answer></answer>."),
                answer::wrap(style, &gold),
            ),
        };
        Task::new(
            self.name(),
            knobs,
            seed,
            style,
            format,
            prompt,
            reference,
            String::new(),
        )
    }
    fn verify(&self, task: &Task, completion: &str) -> Verdict {
        // `verify_exact` extracts the answer for either style, bounds its length, rejects hedges
        // and never panics.
        answer::verify_exact(
            task.style,
            completion,
            answer::gold(task.style, &task.answer),
        )
    }
    fn ladder(&self) -> Vec<Knobs> {
        (1..=8)
            .map(|n| Knobs::from_static(&[("length", n as f64)]))
            .collect()
    }
}

fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register(Box::new(Reverse));
    registry
}

#[test]
fn a_new_family_generates_and_verifies() {
    let registry = registry();
    let task = registry
        .generate_level(
            "reverse",
            4,
            &Knobs::new(),
            PromptStyle::Bare,
            NumberFormat::Natural,
            7,
        )
        .unwrap();
    let again = registry
        .generate_level(
            "reverse",
            4,
            &Knobs::new(),
            PromptStyle::Bare,
            NumberFormat::Natural,
            7,
        )
        .unwrap();
    assert_eq!(
        task, again,
        "same (family, knobs, seed) must give the same task"
    );
    assert_eq!(task.prompt.len(), "rev:1234=".len());
    let family = registry.get("reverse").unwrap();
    assert!(family.verify(&task, &task.answer).correct);
    let wrong: String = task.answer.chars().rev().collect::<String>() + "9";
    assert!(!family.verify(&task, &wrong).correct);
    let hedged = format!("{} or {}", task.answer, wrong);
    assert!(!family.verify(&task, &hedged).correct);
    assert_ne!(family.verify(&task, "").reason, Reason::Correct);
}

#[test]
fn tagged_style_wraps_the_answer() {
    let registry = registry();
    let task = registry
        .generate(
            "reverse",
            &Knobs::new(),
            PromptStyle::Tagged,
            NumberFormat::Natural,
            1,
        )
        .unwrap();
    let family = registry.get("reverse").unwrap();
    assert!(task.answer.starts_with("<answer>"));
    assert!(
        family
            .verify(&task, &format!("Sure. {}", task.answer))
            .correct
    );
}
