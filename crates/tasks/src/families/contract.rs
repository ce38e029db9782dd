//! The verifier contract of VERIFIERS.md as one reusable property test per family: over many
//! generated tasks at every ladder level and in both prompt styles, the gold answer is accepted;
//! perturbed, padded, hedged, repeated, empty, huge and garbage completions are rejected without
//! panicking; verdicts are deterministic; and the family's hardness measure grows with the level.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::answer;
use crate::family::{self, Family};
use crate::knobs::Knobs;
use crate::rng::TaskRng;
use crate::task::{NumberFormat, PromptStyle, Reason, Task};

/// Cases per (level, style): 8 levels x 2 styles x 24 = 384 tasks per family and format.
const CASES: u32 = 24;

/// Builds a wrong answer from the gold one (`None` when the family has no safe perturbation).
pub type Perturb = fn(&Task, &str, &mut TaskRng) -> Option<String>;

/// A task of `fam` at `level` with `overrides` (the family alone: no registry needed, so that a
/// family made at run time can be checked too).
pub fn task_at(
    fam: &dyn Family,
    level: u32,
    overrides: &Knobs,
    style: PromptStyle,
    format: NumberFormat,
    seed: u64,
) -> Task {
    family::generate_level(fam, level, overrides, style, format, seed)
        .unwrap_or_else(|e| panic!("{} level {level}: {e}", fam.name()))
}

/// Replaces one digit (or flips one T/F) of `gold` so that the value changes.
pub fn perturb_digit(_t: &Task, gold: &str, rng: &mut TaskRng) -> Option<String> {
    let positions: Vec<usize> = gold
        .char_indices()
        .filter(|(_, c)| c.is_ascii_digit() || *c == 'T' || *c == 'F')
        .map(|(i, _)| i)
        .collect();
    if positions.is_empty() {
        return None;
    }
    let i = positions[rng.below(positions.len() as u64) as usize];
    let old = gold.as_bytes()[i];
    let new = match old {
        b'T' => 'F',
        b'F' => 'T',
        d => (b'0' + ((d - b'0') + 1 + rng.below(9) as u8) % 10) as char,
    };
    let mut s = gold.to_string();
    s.replace_range(i..i + 1, &new.to_string());
    Some(s)
}

/// Runs the contract for `fam` in `format` over every level and both styles.
pub fn check_family(
    fam: &dyn Family,
    format: NumberFormat,
    overrides: &Knobs,
    perturb: Perturb,
    hardness: fn(&Task) -> f64,
) {
    let levels = fam.ladder().len() as u32;
    for level in 1..=levels {
        for style in [PromptStyle::Bare, PromptStyle::Tagged] {
            let mut runner = TestRunner::new(Config {
                cases: CASES,
                failure_persistence: None,
                ..Config::default()
            });
            runner
                .run(&(any::<u64>(), ".{0,40}"), |(seed, garbage)| {
                    let t = task_at(fam, level, overrides, style, format, seed);
                    check_task(fam, &t, perturb, seed, &garbage);
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("{} level {level} {style:?}: {e}", fam.name()));
        }
    }
    // Harder levels are harder: the mean hardness over 40 tasks never falls and ends higher.
    let mean = |level: u32| {
        (0..40u64)
            .map(|s| {
                hardness(&task_at(
                    fam,
                    level,
                    overrides,
                    PromptStyle::Bare,
                    format,
                    s,
                ))
            })
            .sum::<f64>()
            / 40.0
    };
    let means: Vec<f64> = (1..=levels).map(mean).collect();
    for w in means.windows(2) {
        assert!(
            w[1] >= w[0] * 0.98,
            "{}: hardness fell between levels: {means:?}",
            fam.name()
        );
    }
    assert!(
        means[means.len() - 1] > means[0],
        "{}: hardness did not grow: {means:?}",
        fam.name()
    );
}

fn check_task(fam: &dyn Family, t: &Task, perturb: Perturb, seed: u64, garbage: &str) {
    let style = t.style;
    let ok = fam.verify(t, &t.answer);
    assert!(
        ok.correct && ok.score == 1.0 && ok.reason == Reason::Correct,
        "gold rejected: {t:?} -> {ok:?}"
    );
    assert_eq!(fam.verify(t, &t.answer), ok, "not deterministic");
    let gold = answer::gold(style, &t.answer).to_string();
    let wrap = |s: &str| answer::wrap(style, s);
    let reject = |completion: &str, what: &str| {
        let v = fam.verify(t, completion);
        assert!(
            !v.correct && v.score == 0.0,
            "{what} accepted: {completion:?} for {t:?}"
        );
    };
    // Surrounding whitespace is the one normalisation everywhere.
    assert!(
        fam.verify(t, &format!(" {}\n", t.answer)).correct,
        "padded whitespace rejected: {t:?}"
    );
    let mut rng = TaskRng::new(seed ^ 0x5eed);
    if let Some(wrong) = perturb(t, &gold, &mut rng) {
        if wrong != gold {
            reject(&wrap(&wrong), "perturbed");
            reject(
                &format!("<answer>{gold}</answer><answer>{wrong}</answer>"),
                "two tags",
            );
            reject(&wrap(&format!("{gold} or {wrong}")), "hedged");
        }
    }
    reject("", "empty");
    reject("   \n", "blank");
    reject(&wrap(""), "empty tags");
    reject(&wrap(&format!("0{gold}")), "left-padded");
    reject(&wrap(&format!("{gold}0")), "right-padded");
    reject(&wrap(&format!("{gold} {gold}")), "repeated");
    reject(&wrap(&format!("{gold}{gold}")), "repeated");
    reject(&wrap(&format!("{gold}\n{gold}")), "repeated");
    reject(&wrap(&format!("{gold}, {gold}")), "listed");
    // A huge completion is refused by its length before any parsing (speed is benchmarked, not
    // asserted here: a loaded machine must not fail a test).
    let huge = fam.verify(t, &gold.repeat(200_000 / gold.len().max(1) + 1));
    assert!(!huge.correct && huge.reason == Reason::TooLong, "{huge:?}");
    let v = fam.verify(t, garbage);
    if v.correct {
        assert!(fam.verify(t, garbage.trim()).correct);
    }
    let _ = fam.verify(t, &wrap(garbage));
}

/// Arbitrary strings (any Unicode, and strings made of the family's own alphabet) never make the
/// verifier panic, at every level and in both styles (no clock: speed is for benchmarks).
pub fn fuzz_family(fam: &dyn Family, format: NumberFormat) {
    let levels = fam.ladder().len() as u32;
    let tasks: Vec<Task> = (1..=levels)
        .flat_map(|l| {
            [PromptStyle::Bare, PromptStyle::Tagged]
                .map(|s| task_at(fam, l, &Knobs::new(), s, format, l as u64))
        })
        .collect();
    let alphabet = "[0-9TF+*/()=<>answer/ ,!&|^a-t-]{0,64}";
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(any::<String>(), alphabet, 0..tasks.len()), |(s, a, i)| {
            let t = &tasks[i];
            for c in [
                s.as_str(),
                a.as_str(),
                &answer::wrap(t.style, &a),
                &format!("<answer>{a}"),
            ] {
                let v = fam.verify(t, c);
                let expected = if v.correct { 1.0 } else { 0.0 };
                prop_assert!(v.score == expected, "score {} for {:?}", v.score, v);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{}: {e}", fam.name()));
}
