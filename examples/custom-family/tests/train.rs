//! The example end to end: `reverse` obeys the verifier contract, `round_robin` is selected by
//! name from the config and drives the choices, and a short run trains on both through the
//! trainer's public API (and resumes from its checkpoint exactly).

use std::path::Path;

use custom_family::{registry, train, Reverse, RoundRobinConfig};
use serde_json::Value;
use tasks::{
    answer, CurriculumConfig, Family, FamilyConfig, Knobs, NumberFormat, PromptStyle, Reason,
    Registry, TasksConfig,
};

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Metrics without the wall-clock fields: what must repeat exactly.
fn deterministic(mut lines: Vec<Value>) -> Vec<Value> {
    for v in &mut lines {
        if let Some(map) = v.as_object_mut() {
            map.retain(|k, _| !k.starts_with("time/") && k != "train_seconds");
        }
    }
    lines
}

#[test]
fn reverse_accepts_the_gold_answer_and_rejects_wrong_ones() {
    let registry = registry();
    for level in 1..=8 {
        for style in [PromptStyle::Bare, PromptStyle::Tagged] {
            for seed in 0..20 {
                let t = registry
                    .generate_level(
                        "reverse",
                        level,
                        &Knobs::new(),
                        style,
                        NumberFormat::Natural,
                        seed,
                    )
                    .unwrap();
                let again = registry
                    .generate_level(
                        "reverse",
                        level,
                        &Knobs::new(),
                        style,
                        NumberFormat::Natural,
                        seed,
                    )
                    .unwrap();
                assert_eq!(t, again, "same (family, knobs, seed), different task");
                let gold = answer::gold(style, &t.answer).to_string();
                assert_eq!(gold.len(), level as usize);
                let digits = t.prompt.trim_start_matches("rev:").trim_end_matches('=');
                if style == PromptStyle::Bare {
                    assert_eq!(digits.chars().rev().collect::<String>(), gold, "{t:?}");
                } else {
                    assert!(t.answer.starts_with("<answer>"), "{t:?}");
                    let said = format!("Sure. {}", t.answer);
                    assert!(registry.verify(&t, &said).correct, "{t:?}");
                }
                // The registry dispatches to Reverse: gold accepted, padded whitespace too.
                assert!(registry.verify(&t, &t.answer).correct, "{t:?}");
                assert!(registry.verify(&t, &format!(" {}\n", t.answer)).correct);
                let wrap = |s: &str| answer::wrap(style, s);
                // A changed digit, the digits unreversed (when they differ), padding, hedging,
                // repetition, empty and huge answers are all rejected.
                let last = gold.as_bytes()[gold.len() - 1];
                let changed = format!(
                    "{}{}",
                    &gold[..gold.len() - 1],
                    char::from(b'0' + (last - b'0' + 1) % 10)
                );
                let unreversed: String = gold.chars().rev().collect();
                let mut wrong = vec![
                    changed.clone(),
                    format!("0{gold}"),
                    format!("{gold}0"),
                    format!("{gold} or {changed}"),
                    format!("{gold} {gold}"),
                    format!("{gold}{gold}"),
                    String::new(),
                ];
                if unreversed != gold {
                    wrong.push(unreversed);
                }
                for w in &wrong {
                    let v = registry.verify(&t, &wrap(w));
                    assert!(!v.correct && v.score == 0.0, "{w:?} accepted for {t:?}");
                }
                let huge = registry.verify(&t, &gold.repeat(100_000));
                assert_eq!(huge.reason, Reason::TooLong);
                for garbage in ["<answer>", "\u{0}\u{ffff}", "rev:12=21", "٣٢١"] {
                    assert!(!registry.verify(&t, garbage).correct);
                }
            }
        }
    }
    // Without the registration the family is unknown: the verdict names it, nothing panics.
    let t = registry
        .generate(
            "reverse",
            &Knobs::new(),
            PromptStyle::Bare,
            NumberFormat::Natural,
            1,
        )
        .unwrap();
    let v = Registry::builtin().verify(&t, &t.answer);
    assert_eq!(v.reason, Reason::UnknownFamily);
    assert_eq!(Reverse.verify(&t, &t.answer).reason, Reason::Correct);
}

#[test]
fn round_robin_is_selected_by_name_and_its_parameters_are_checked() {
    let registry = registry();
    let tasks_config = |curriculum: CurriculumConfig| TasksConfig {
        families: vec![FamilyConfig {
            name: "reverse".into(),
            levels: [2, 4],
            start_level: 3,
            ..FamilyConfig::default()
        }],
        curriculum,
        ..TasksConfig::default()
    };
    // Defaults are filled in, unknown keys and bad values rejected with the key named.
    let resolved = tasks_config(CurriculumConfig::named("round_robin"))
        .resolved(&registry)
        .unwrap();
    assert_eq!(resolved.curriculum.params()["repeat"], 1);
    let e = tasks_config(
        CurriculumConfig::new("round_robin", &RoundRobinConfig { repeat: 0 }).unwrap(),
    )
    .validate_with(&registry)
    .unwrap_err()
    .to_string();
    assert!(e.contains("curriculum.repeat = 0"), "{e}");
    let mut bad = serde_json::Map::new();
    bad.insert("repeats".into(), 2.into());
    let e = tasks_config(CurriculumConfig::new("round_robin", &bad).unwrap())
        .validate_with(&registry)
        .unwrap_err()
        .to_string();
    assert!(e.contains("repeats") && e.contains("`repeat`"), "{e}");
    let e = tasks_config(CurriculumConfig::named("round_robin"))
        .validate_with(&Registry::builtin())
        .unwrap_err()
        .to_string();
    assert!(e.contains("reverse"), "{e}");

    // Levels 2..=4 from the start level 3, two tasks each: 3 3 4 4 2 2 3 3 ...
    let config = tasks_config(
        CurriculumConfig::new("round_robin", &RoundRobinConfig { repeat: 2 }).unwrap(),
    );
    let mut c = tasks::Curriculum::new(
        &config,
        std::sync::Arc::new(registry),
        0,
        Default::default(),
    )
    .unwrap();
    let levels: Vec<u32> = c.next_tasks(8).iter().map(|t| t.level.unwrap()).collect();
    assert_eq!(levels, [3, 3, 4, 4, 2, 2, 3, 3]);
}

#[test]
fn a_short_run_trains_on_the_custom_family_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let split = dir.path().join("split");
    let summary = train(&straight, 4, false).unwrap();
    assert_eq!(summary.steps, 4);
    train(&split, 2, false).unwrap();
    // Resuming needs the registry again: without `reverse` it fails, naming it.
    let saved: trainer::RunConfig =
        toml::from_str(&std::fs::read_to_string(split.join("config.toml")).unwrap()).unwrap();
    let e = trainer::resume(&split, saved, &trainer::TrainOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("reverse"), "{e}");
    train(&split, 4, true).unwrap();

    // Every step sampled the three reverse levels equally (round robin over 6 tasks a round).
    let metrics = read_jsonl(&straight.join("metrics.jsonl"));
    assert_eq!(metrics.len(), 4);
    for m in &metrics {
        let cells = m["cells"].as_object().unwrap();
        let names: Vec<&str> = cells.keys().map(String::as_str).collect();
        assert_eq!(names, ["reverse/1", "reverse/2", "reverse/3"], "{m}");
        let groups: Vec<u64> = cells
            .values()
            .map(|c| c["groups"].as_u64().unwrap())
            .collect();
        assert!(
            groups[0] > 0 && groups.iter().all(|&g| g == groups[0]),
            "{m}"
        );
    }
    // The custom family's verifier decided the samples (re-deciding them agrees), and the policy
    // had some success on the easiest level after the warm start.
    let registry = registry();
    let samples = read_jsonl(&straight.join("samples.jsonl"));
    assert!(!samples.is_empty());
    for s in &samples {
        assert_eq!(s["family"], "reverse");
        let completion = s["completion"].as_str().unwrap();
        let gold = s["answer"].as_str().unwrap();
        let task = tasks::Task::new(
            "reverse",
            &Knobs::new(),
            0,
            PromptStyle::Bare,
            NumberFormat::Natural,
            s["prompt"].as_str().unwrap().to_string(),
            gold.to_string(),
            String::new(),
        );
        let v = registry.verify(&task, completion);
        assert_eq!(v.correct, s["verdict"]["correct"].as_bool().unwrap(), "{s}");
    }
    // After the warm start about a third of 1-digit reversals come out right (0.19 to 0.5 a step
    // on the machine this was written on): some of the run's rewards must be positive.
    let reward: f64 = metrics.iter().map(|m| m["reward"].as_f64().unwrap()).sum();
    assert!(reward > 0.0, "no completion was ever right: {metrics:?}");

    // The run wrote its resolved config with the strategy's defaults, and the checkpoint saved
    // the round-robin state under its name.
    let resolved = std::fs::read_to_string(straight.join("config.toml")).unwrap();
    assert!(
        resolved.contains("type = \"round_robin\"") && resolved.contains("repeat = 1"),
        "{resolved}"
    );
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(straight.join("checkpoint/state.json")).unwrap(),
    )
    .unwrap();
    let saved = &state["curriculum"]["strategies"][0];
    assert_eq!(saved["type"], "round_robin", "{saved}");
    assert_eq!(saved["repeat"], 1, "{saved}");

    // 2 steps + resume + 2 steps = 4 steps straight.
    assert_eq!(
        deterministic(metrics),
        deterministic(read_jsonl(&split.join("metrics.jsonl"))),
        "a resumed run diverged"
    );
}
