//! Answer extraction and normalisation shared by the verifiers.
//!
//! - `bare` style: the whole completion (EOS already removed) with surrounding whitespace trimmed
//!   is the answer.
//! - `tagged` style: the answer is the text inside `<answer>…</answer>`, trimmed. Text outside the
//!   tags (reasoning) is ignored. More than one `<answer>` tag is hedging and is rejected: a
//!   policy must not be able to offer two answers and be paid for either.
//! - Integers: an optional sign (`+` or `-`) and decimal digits, nothing else. `-0` is `0`.
//!   Leading zeros (`007`), thousands separators (`1,000`), decimals (`12.0`) and inner spaces are
//!   rejected: each value has exactly one accepted spelling.
//! - Completions longer than a bound (see [`max_len`]) are rejected as `too_long` before any
//!   parsing, so a verifier's work is bounded by the task, not by the completion.

use crate::task::{NumberFormat, PromptStyle, Reason, Task, Verdict};

const OPEN: &str = "<answer>";
const CLOSE: &str = "</answer>";

/// The longest completion accepted for a task whose reference answer is `answer_len` bytes.
/// Bare answers are short and exact; tagged completions may carry reasoning before the tags.
pub fn max_len(style: PromptStyle, answer_len: usize) -> usize {
    match style {
        PromptStyle::Bare => 4 * answer_len + 64,
        PromptStyle::Tagged => 16 * 1024 + 4 * answer_len,
    }
}

/// The answer text of `completion` under `style`, or the verdict that rejects it.
pub fn extract(style: PromptStyle, completion: &str, answer_len: usize) -> Result<&str, Verdict> {
    let max = max_len(style, answer_len);
    if completion.len() > max {
        return Err(Verdict::too_long(completion.len(), max));
    }
    let inner = match style {
        PromptStyle::Bare => completion.trim(),
        PromptStyle::Tagged => {
            let Some(start) = completion.find(OPEN) else {
                return Err(Verdict::unparseable("no <answer> tag"));
            };
            let rest = &completion[start + OPEN.len()..];
            let Some(end) = rest.find(CLOSE) else {
                return Err(Verdict::unparseable("<answer> tag not closed"));
            };
            if rest[end + CLOSE.len()..].contains(OPEN) || rest[..end].contains(OPEN) {
                return Err(Verdict::fail(
                    None,
                    Reason::Hedged,
                    "more than one <answer> tag",
                ));
            }
            rest[..end].trim()
        }
    };
    if inner.is_empty() {
        return Err(Verdict::unparseable("empty answer"));
    }
    Ok(inner)
}

/// `answer` wrapped for `style`: itself when bare, inside answer tags when tagged.
pub fn wrap(style: PromptStyle, answer: &str) -> String {
    match style {
        PromptStyle::Bare => answer.to_string(),
        PromptStyle::Tagged => format!("{OPEN}{answer}{CLOSE}"),
    }
}

/// The canonical form of a decimal integer: `(negative, digits)` with no leading zeros, `-0`
/// folded to `0`; `None` unless `s` is an optional sign followed by digits without leading zeros.
#[inline]
pub fn canonical_int(s: &str) -> Option<(bool, &str)> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let bytes = digits.as_bytes();
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    Some((neg && digits != "0", digits))
}

/// Whether `got` and `gold` spell the same integer (both in [`canonical_int`] form).
#[inline]
pub fn same_int(got: &str, gold: &str) -> Option<bool> {
    let a = canonical_int(got)?;
    let b = canonical_int(gold)?;
    Some(a == b)
}

/// Verdict for an answer whose value is one integer `gold` (already extracted from the reference).
pub fn verify_int(style: PromptStyle, completion: &str, gold: &str) -> Verdict {
    let got = match extract(style, completion, gold.len()) {
        Ok(got) => got,
        Err(v) => return v,
    };
    match same_int(got, gold) {
        Some(true) => Verdict::correct(got),
        Some(false) => Verdict::wrong(got, ""),
        None => Verdict::fail(
            Some(got.to_string()),
            Reason::Unparseable,
            "not a plain integer",
        ),
    }
}

/// Verdict for an integer answer in the task's number format: any spelling of the same integer
/// in natural notation, the exact padded digit string in fixed-width LSB-first notation.
pub fn verify_formatted_int(task: &Task, completion: &str) -> Verdict {
    let gold = gold(task.style, &task.answer);
    match task.format {
        NumberFormat::Natural => verify_int(task.style, completion, gold),
        NumberFormat::FixedWidthLsbFirst => verify_exact(task.style, completion, gold),
    }
}

/// Verdict for an answer that must equal `gold` character for character (after trimming).
pub fn verify_exact(style: PromptStyle, completion: &str, gold: &str) -> Verdict {
    match extract(style, completion, gold.len()) {
        Ok(got) if got == gold => Verdict::correct(got),
        Ok(got) => Verdict::wrong(got, ""),
        Err(v) => v,
    }
}

/// The gold answer text inside a reference completion (`task.answer`).
pub fn gold(style: PromptStyle, reference: &str) -> &str {
    match style {
        PromptStyle::Bare => reference.trim(),
        PromptStyle::Tagged => extract(style, reference, reference.len()).unwrap_or(reference),
    }
}

/// Writes `v` in decimal onto `out` (u64 arithmetic when it fits: 128-bit division is slow).
#[inline]
pub(crate) fn push_u128(out: &mut String, v: u128) {
    let mut buf = [0u8; 40];
    let mut i = buf.len();
    if let Ok(mut small) = u64::try_from(v) {
        loop {
            i -= 1;
            buf[i] = b'0' + (small % 10) as u8;
            small /= 10;
            if small == 0 {
                break;
            }
        }
    } else {
        let mut v = v;
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
    }
    // The buffer holds ASCII digits only.
    out.extend(buf[i..].iter().map(|&b| b as char));
}

/// Writes `v` zero-padded to `width` digits, least-significant digit first.
#[inline]
pub(crate) fn push_lsb(out: &mut String, v: u128, width: usize) {
    if let Ok(mut small) = u64::try_from(v) {
        for _ in 0..width {
            out.push((b'0' + (small % 10) as u8) as char);
            small /= 10;
        }
    } else {
        let mut v = v;
        for _ in 0..width {
            out.push((b'0' + (v % 10) as u8) as char);
            v /= 10;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_int_accepts_one_spelling_per_value() {
        assert_eq!(canonical_int("42"), Some((false, "42")));
        assert_eq!(canonical_int("+42"), Some((false, "42")));
        assert_eq!(canonical_int("-42"), Some((true, "42")));
        assert_eq!(canonical_int("-0"), Some((false, "0")));
        assert_eq!(canonical_int("0"), Some((false, "0")));
        for bad in [
            "", "-", "+", "007", "1,000", "12.0", "1 2", "4e2", "--4", "٣",
        ] {
            assert_eq!(canonical_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tagged_extraction_rejects_two_tags_and_missing_close() {
        let t = PromptStyle::Tagged;
        assert_eq!(extract(t, "think... <answer> 12 </answer>", 2), Ok("12"));
        assert_eq!(
            extract(t, "<answer>1</answer><answer>2</answer>", 2)
                .unwrap_err()
                .reason,
            Reason::Hedged
        );
        assert_eq!(
            extract(t, "<answer><answer>2</answer>", 2)
                .unwrap_err()
                .reason,
            Reason::Hedged
        );
        assert_eq!(
            extract(t, "<answer>12", 2).unwrap_err().reason,
            Reason::Unparseable
        );
        assert_eq!(extract(t, "12", 2).unwrap_err().reason, Reason::Unparseable);
        assert_eq!(
            extract(t, "<answer> </answer>", 2).unwrap_err().reason,
            Reason::Unparseable
        );
    }

    #[test]
    fn bare_extraction_trims_and_bounds_length() {
        assert_eq!(extract(PromptStyle::Bare, " 46\n", 2), Ok("46"));
        let huge = "4".repeat(1000);
        assert_eq!(
            extract(PromptStyle::Bare, &huge, 2).unwrap_err().reason,
            Reason::TooLong
        );
    }

    #[test]
    fn verify_int_closes_substring_and_hedge_holes() {
        let b = PromptStyle::Bare;
        assert!(verify_int(b, "-50", "-50").correct);
        assert!(!verify_int(b, "-500", "-50").correct);
        assert!(!verify_int(b, "9188", "188").correct);
        assert!(!verify_int(b, "214 or 215", "214").correct);
        assert!(!verify_int(b, "1009", "1000").correct);
        assert!(verify_int(b, "+0", "0").correct);
        assert!(verify_int(b, "-0", "0").correct);
    }

    #[test]
    fn number_writers() {
        let mut s = String::new();
        push_u128(&mut s, 0);
        s.push(' ');
        push_u128(&mut s, 1234567890123456789012345678901234567);
        s.push(' ');
        push_lsb(&mut s, 12, 8);
        s.push(' ');
        push_lsb(&mut s, 1234567890123456789012345678901234567, 38);
        assert_eq!(s, "0 1234567890123456789012345678901234567 21000000 76543210987654321098765432109876543210");
    }
}
