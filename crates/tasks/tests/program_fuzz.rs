//! Task programs are total: no text makes the parser panic or overflow its stack, and no parsed
//! program panics or hangs when run, whatever its inputs. Arbitrary strings, token soup and
//! mutations of valid programs (an evolver's archive) are parsed; those that parse must print
//! back to themselves and are run on drawn and on extreme inputs and validated.

use proptest::prelude::*;
use tasks::program::{EvolveConfig, Evolver, Limits, Program, Validity, Value, MAX_INT};
use tasks::TaskRng;

/// Valid programs to mutate: a small evolver archive (deterministic).
fn corpus() -> Vec<String> {
    let mut e = Evolver::new(EvolveConfig::default(), 11);
    e.run(3000);
    let mut v: Vec<String> = e
        .archive()
        .records()
        .iter()
        .map(|r| r.program.to_string())
        .collect();
    v.push("sort(digits(add(a, b))); a:int[3]; b:int[3]".into());
    v.push("sum(take(rev(l), 2)); l:list[5,2]".into());
    v
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    ",",
    ";",
    ":",
    "[",
    "]",
    "-",
    " ",
    "a",
    "l",
    "p",
    "0",
    "7",
    "999999999999999999",
    "int[3]",
    "list[4,2]",
    "bool",
    "add(",
    "div(",
    "digits(",
    "undigits(",
    "if(",
    "concat(",
    "sort(",
    "take(",
    "mul(",
    "square(",
    "true",
    "false",
    "cumsum(",
    "head(",
    "\n",
    "é",
];

/// One random edit of `text`: delete, duplicate or replace a span, or insert a token.
fn mutate(text: &str, rng: &mut TaskRng) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let i = rng.below(n as u64 + 1) as usize;
    let j = (i + rng.below(8) as usize).min(n);
    let token = TOKENS[rng.below(TOKENS.len() as u64) as usize];
    let (head, tail) = (&chars[..i], &chars[j..]);
    let middle: String = match rng.below(4) {
        0 => String::new(),
        1 => chars[i..j].iter().chain(chars[i..j].iter()).collect(),
        2 => token.to_string(),
        _ => chars[i..j].iter().collect::<String>() + token,
    };
    head.iter().collect::<String>() + &middle + &tail.iter().collect::<String>()
}

/// Parses `text`; when it parses, checks the round trip and runs it every way. Returns whether
/// it parsed.
fn exercise(text: &str, rng: &mut TaskRng) -> bool {
    let Ok(p) = Program::parse(text) else {
        return false;
    };
    let printed = p.to_string();
    assert_eq!(Program::parse(&printed).as_ref(), Ok(&p), "{text:?}");
    assert_eq!(Program::parse(&printed).unwrap().to_string(), printed);
    let limits = Limits::default();
    let drawn = p.draw_inputs(rng);
    let _ = p.run(&drawn, &limits);
    // Extreme inputs of the declared types.
    let extreme: Vec<Value> = drawn
        .iter()
        .map(|v| match v {
            Value::Int(_) => Value::Int(if rng.below(2) == 0 { MAX_INT } else { -MAX_INT }),
            Value::List(l) => Value::List(vec![-MAX_INT; l.len().max(1) * 2]),
            Value::Bool(b) => Value::Bool(!b),
        })
        .collect();
    let _ = p.run(&extreme, &limits);
    let _ = p.validate(&Validity::default());
    true
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,300}") {
        exercise(&text, &mut TaskRng::new(0));
    }

    #[test]
    fn token_soup_never_panics(picks in proptest::collection::vec(0..TOKENS.len(), 0..120)) {
        let text: String = picks.iter().map(|&i| TOKENS[i]).collect();
        exercise(&text, &mut TaskRng::new(1));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow(n in 0usize..5000, open in "[(a-z,]") {
        let text = format!("{}{}", "neg(".repeat(n), open.repeat(n));
        exercise(&text, &mut TaskRng::new(2));
    }
}

#[test]
fn mutated_valid_programs_never_panic_and_some_still_parse() {
    let corpus = corpus();
    let mut rng = TaskRng::new(5);
    let mut parsed = 0;
    for k in 0..20_000 {
        let mut text = corpus[k % corpus.len()].clone();
        for _ in 0..1 + rng.below(3) {
            text = mutate(&text, &mut rng);
        }
        parsed += usize::from(exercise(&text, &mut rng));
    }
    // Some edits keep a program well formed (a digit changed, a space added): about 3 % here,
    // so the run-and-validate half of `exercise` is fuzzed too.
    assert!(parsed > 200, "{parsed}");
}

/// The target: 10^6 fuzzed program texts without a panic. Run with
/// `cargo test -p tasks --release --test program_fuzz -- --ignored`.
#[test]
#[ignore]
fn a_million_fuzzed_texts_never_panic() {
    let corpus = corpus();
    let mut rng = TaskRng::new(6);
    let mut parsed = 0;
    let total = 1_000_000;
    for k in 0..total {
        let mut text = corpus[k % corpus.len()].clone();
        for _ in 0..1 + rng.below(4) {
            text = mutate(&text, &mut rng);
        }
        parsed += usize::from(exercise(&text, &mut rng));
    }
    println!("{total} fuzzed texts, {parsed} parsed and ran, no panic");
}
