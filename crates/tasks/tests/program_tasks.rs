//! Program tasks over an evolver's archive: every family's instances re-verify (the gold answer
//! verifies from the task line alone, and regenerating from (program, knobs, seed) gives the
//! same task), and no completion makes the verifier panic (fuzzed mutations of gold answers,
//! hedges and arbitrary strings; 10^6 of them in the ignored test).

use tasks::program::{EvolveConfig, Evolver, Mode, Program, ProgramFamily, Type};
use tasks::{Family, Knobs, NumberFormat, PromptStyle, Registry, Task, TaskRng};

const STYLES: [PromptStyle; 2] = [PromptStyle::Bare, PromptStyle::Tagged];
const FORMATS: [NumberFormat; 2] = [NumberFormat::Natural, NumberFormat::FixedWidthLsbFirst];

/// The families of a small evolver run (`proposals` proposals, seed 5), in both modes where
/// input mode applies (an int or list input to find).
fn archive_families(proposals: u64) -> Vec<ProgramFamily> {
    let mut e = Evolver::new(EvolveConfig::default(), 5);
    e.run(proposals);
    let mut out = Vec::new();
    for (i, r) in e.archive().records().iter().enumerate() {
        let text = r.program.to_string();
        let p = Program::parse(&text).unwrap();
        out.push(
            ProgramFamily::new(format!("evo{i}"), p.clone(), Mode::Output)
                .unwrap_or_else(|err| panic!("{text}: {err}")),
        );
        if p.inputs().iter().any(|d| d.kind.ty() != Type::Bool) {
            out.push(ProgramFamily::new(format!("evo{i}_inverse"), p, Mode::Input).unwrap());
        }
    }
    out
}

/// A task at level `level` of `family` (the ladder's knobs over the defaults).
fn task(
    family: &ProgramFamily,
    knobs: &Knobs,
    style: PromptStyle,
    format: NumberFormat,
    seed: u64,
) -> Task {
    let mut full = Knobs::new();
    for k in family.knobs() {
        full.set(k.name.clone(), k.default);
    }
    family.generate(&full.overlay(knobs), style, format, seed)
}

#[test]
fn every_archive_family_re_verifies_and_regenerates() {
    let families = archive_families(2_000);
    assert!(families.len() > 500, "{} families", families.len());
    let registry = Registry::empty();
    let mut checked = 0;
    for (n, family) in families.iter().enumerate() {
        let ladder = family.ladder();
        for (j, knobs) in [ladder.first(), ladder.last()]
            .into_iter()
            .flatten()
            .enumerate()
        {
            let style = STYLES[(n + j) % 2];
            let format = FORMATS[n / 2 % 2];
            let seed = (n * 7 + j) as u64;
            let t = task(family, knobs, style, format, seed);
            // From the JSON line alone, with no family registered.
            let line = serde_json::to_string(&t).unwrap();
            let back: Task = serde_json::from_str(&line).unwrap();
            assert_eq!(back, t);
            let v = registry.verify(&back, &t.answer);
            assert!(v.correct, "{line}: {v:?}");
            // Regenerated from the program text the task carries, its knobs and its seed.
            let program = Program::parse(t.program.as_deref().unwrap()).unwrap();
            let again = ProgramFamily::new(family.name(), program, family.mode())
                .unwrap()
                .generate(&t.knobs, style, format, seed);
            assert_eq!(again, t, "{line}");
            checked += 1;
        }
    }
    assert!(checked >= families.len(), "{checked}");
}

/// A completion made from the gold answer: mutated, doubled, hedged, wrapped or replaced.
fn fuzz_completion(t: &Task, rng: &mut TaskRng) -> String {
    const BITS: &[&str] = &[
        "[",
        "]",
        ",",
        " ",
        "-",
        "+",
        "0",
        "9",
        "true",
        "false",
        "<answer>",
        "</answer>",
        " or ",
        "\n",
        "é",
        "999999999999999999999",
        "[]",
        ",,",
    ];
    let gold = tasks::answer::gold(t.style, &t.answer).to_string();
    let mut s = match rng.below(4) {
        0 => gold.clone(),
        1 => t.answer.clone(),
        2 => format!("{gold} or {gold}"),
        _ => String::new(),
    };
    for _ in 0..rng.below(6) {
        let pos = s
            .char_indices()
            .map(|(i, _)| i)
            .nth(rng.below(s.chars().count() as u64 + 1) as usize)
            .unwrap_or(s.len());
        match rng.below(3) {
            0 => s.insert_str(pos, BITS[rng.below(BITS.len() as u64) as usize]),
            1 => {
                let end = s[pos..]
                    .char_indices()
                    .nth(1)
                    .map_or(s.len(), |(i, _)| pos + i);
                s.replace_range(pos..end, "");
            }
            _ => s.insert(pos, char::from(b' ' + rng.below(95) as u8)),
        }
    }
    if rng.below(8) == 0 {
        s = s.repeat(1 + rng.below(50) as usize);
    }
    s
}

/// A natural-format answer read independently of the verifier: an int, a bool, or a list.
fn read(s: &str) -> Option<serde_json::Value> {
    let s = s.replace(' ', "");
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        if inner.is_empty() {
            return Some(serde_json::json!([]));
        }
        let v: Option<Vec<i64>> = inner.split(',').map(|x| x.parse().ok()).collect();
        return v.map(|v| serde_json::json!(v));
    }
    match s.as_str() {
        "true" | "false" => Some(serde_json::json!(s == "true")),
        _ => s.parse::<i64>().ok().map(|x| serde_json::json!(x)),
    }
}

/// Verifies `n` fuzzed completions against tasks of many families; returns how many were
/// accepted (each accepted one is checked to be a real solution where that is cheap).
fn fuzz(n: usize) -> usize {
    let families = archive_families(600);
    let mut tasks = Vec::new();
    for (i, f) in families.iter().enumerate() {
        for style in STYLES {
            tasks.push(task(f, &Knobs::new(), style, FORMATS[i % 2], i as u64));
        }
    }
    let registry = Registry::empty();
    let mut rng = TaskRng::new(99);
    let mut accepted = 0;
    for _ in 0..n {
        let t = &tasks[rng.below(tasks.len() as u64) as usize];
        let c = fuzz_completion(t, &mut rng);
        let v = registry.verify(t, &c);
        assert_eq!(v.score, if v.correct { 1.0 } else { 0.0 });
        if v.correct {
            accepted += 1;
            if t.mode == Some(Mode::Output) && t.format == NumberFormat::Natural {
                // An accepted output-mode answer reads (by Rust's own parsing) as the value.
                let want = serde_json::to_value(t.value.as_ref().unwrap()).unwrap();
                assert_eq!(read(v.parsed.as_deref().unwrap()), Some(want), "{c:?}");
            }
        }
    }
    accepted
}

#[test]
fn fuzzed_completions_never_panic() {
    let accepted = fuzz(20_000);
    assert!(accepted > 100, "{accepted}");
}

/// `cargo test -p tasks --release --test program_tasks -- --ignored`
#[test]
#[ignore]
fn a_million_fuzzed_completions_never_panic() {
    let accepted = fuzz(1_000_000);
    eprintln!("1000000 fuzzed completions, {accepted} accepted, no panic");
}
