//! `write_report` on a synthetic run directory: every file written, PNGs of the right size, the
//! summary's numbers as constructed. Set `TRAINER_REPORT_OUT=DIR` to keep the output for viewing.

use std::fmt::Write as _;
use std::path::Path;

use rand::{rngs::StdRng, Rng, SeedableRng};
use trainer::report::{write_report, JAGGEDNESS_PNG, PASS_RATE_PNG, SUMMARY_MD, TRAINING_PNG};
use trainer::{CellMetrics, StepMetrics};

/// Logistic learning curve: level `l` takes off at `onset` seconds.
fn curve(t: f64, onset: f64) -> f64 {
    1.0 / (1.0 + (-(t - onset) / 40.0).exp())
}

/// 200 steps over 10 minutes, evals every 20 steps; addition levels 1–5, sorting levels 1–3.
fn synthetic_run(dir: &Path) {
    let mut rng = StdRng::seed_from_u64(3);
    let (mut metrics, mut evals) = (String::new(), String::new());
    for step in 0..=200u64 {
        let t = step as f64 * 3.0;
        let reward = (0.2 + 0.5 * curve(t, 200.0) + rng.random_range(-0.1..0.1)).clamp(0.0, 1.0);
        let informative =
            (0.6 - 0.3 * curve(t, 300.0) + rng.random_range(-0.15..0.15)).clamp(0.0, 1.0);
        let position = 3 + u32::from(t > 220.0) + u32::from(t > 420.0);
        let sorting = 1 + u32::from(t > 300.0);
        let record = StepMetrics {
            step,
            train_seconds: t,
            reward,
            reward_std: 0.3,
            informative_fraction: informative,
            tokens_sampled: 2560,
            cells: [(
                "addition/3".to_string(),
                CellMetrics {
                    pass: 0.2,
                    informative: 0.5,
                    groups: 4,
                },
            )]
            .into(),
            position: [
                ("addition".to_string(), position),
                ("sorting".to_string(), sorting),
            ]
            .into(),
            ..StepMetrics::default()
        };
        let _ = writeln!(metrics, "{}", serde_json::to_string(&record).unwrap());
        if step % 20 == 0 {
            let add: Vec<String> = (1..=5)
                .map(|l| {
                    let onset = [-300.0, -100.0, 150.0, 300.0, 520.0][l - 1];
                    format!("\"{l}\": {:.3}", curve(t, onset))
                })
                .collect();
            let sort: Vec<String> = (1..=3)
                .map(|l| {
                    format!(
                        "\"{l}\": {:.3}",
                        0.9 * curve(t, [100.0, 380.0, 590.0][l - 1])
                    )
                })
                .collect();
            let _ = writeln!(
                evals,
                r#"{{"step": {step}, "train_seconds": {t}, "pass": {{"addition": {{{}}}, "sorting": {{{}}}}}}}"#,
                add.join(", "),
                sort.join(", ")
            );
        }
    }
    std::fs::write(dir.join("metrics.jsonl"), metrics).unwrap();
    std::fs::write(dir.join("eval.jsonl"), evals).unwrap();
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

#[test]
fn report_writes_three_plots_and_a_summary() {
    let run = tempfile::tempdir().unwrap();
    synthetic_run(run.path());
    let keep = std::env::var_os("TRAINER_REPORT_OUT");
    let out = match &keep {
        Some(dir) => Path::new(dir).to_path_buf(),
        None => run.path().join("report"),
    };
    let files = write_report(run.path(), &out).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [PASS_RATE_PNG, JAGGEDNESS_PNG, TRAINING_PNG, SUMMARY_MD]
    );
    for png in &files[..3] {
        assert_eq!(png_size(png), (1200, 700));
    }
    let summary = std::fs::read_to_string(out.join(SUMMARY_MD)).unwrap();
    assert!(summary.contains("- RL steps: 200"), "{summary}");
    assert!(
        summary.contains("- completion tokens sampled: 514560"),
        "{summary}"
    );
    // addition level 3 takes off at 150 s: ≥ 0.5 first at the eval at t = 180 s (step 60).
    assert!(
        summary.contains("| addition | 3 | 1.00 | 3 min 00 s (step 60) |"),
        "{summary}"
    );
    // addition level 5 (onset 520 s) ends at 1/(1 + e^-2) = 0.88, first ≥ 0.8 at the last eval.
    assert!(
        summary
            .contains("| addition | 5 | 0.88 | 9 min 00 s (step 180) | 10 min 00 s (step 200) |"),
        "{summary}"
    );
    assert!(
        summary.contains("![jaggedness.png](jaggedness.png)"),
        "{summary}"
    );
}

#[test]
fn report_without_evaluations_still_plots_training() {
    let run = tempfile::tempdir().unwrap();
    synthetic_run(run.path());
    std::fs::remove_file(run.path().join("eval.jsonl")).unwrap();
    let files = write_report(run.path(), &run.path().join("out")).unwrap();
    assert_eq!(files.len(), 2);
    let summary = std::fs::read_to_string(&files[1]).unwrap();
    assert!(summary.contains("No eval.jsonl"), "{summary}");
}

#[test]
fn report_of_a_run_with_one_step_and_one_eval_draws_without_error() {
    let run = tempfile::tempdir().unwrap();
    let first = serde_json::to_string(&StepMetrics::default()).unwrap();
    std::fs::write(run.path().join("metrics.jsonl"), first + "\n").unwrap();
    std::fs::write(
        run.path().join("eval.jsonl"),
        "{\"step\": 0, \"train_seconds\": 0.0, \"pass\": {\"addition\": {\"1\": 0.0}}}\n",
    )
    .unwrap();
    let files = write_report(run.path(), &run.path().join("out")).unwrap();
    assert_eq!(files.len(), 4);
    let summary = std::fs::read_to_string(&files[3]).unwrap();
    assert!(
        summary.contains("| addition | 1 | 0.00 | never | never |"),
        "{summary}"
    );
}

#[test]
fn a_metrics_line_missing_a_key_is_an_error_naming_the_file_line_and_key() {
    let run = tempfile::tempdir().unwrap();
    let mut line = serde_json::to_value(StepMetrics::default()).unwrap();
    line.as_object_mut().unwrap().remove("train_seconds");
    let first = serde_json::to_string(&StepMetrics::default()).unwrap();
    std::fs::write(
        run.path().join("metrics.jsonl"),
        format!("{first}\n{line}\n"),
    )
    .unwrap();
    let err = write_report(run.path(), &run.path().join("out"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("metrics.jsonl:2:"), "{err}");
    assert!(err.contains("missing field `train_seconds`"), "{err}");
}
