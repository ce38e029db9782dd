//! Prompts are encoded as the model's own tokenizer encodes them with special tokens (issue 21):
//! rlvr's ids equal those the Hugging Face `tokenizers` package gives (stored by
//! `scripts/tokenizer_fixtures.py`, so no Python is needed here), and completions end at every
//! end token the model's `config.json` / `generation_config.json` list.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use policy::{ModelConfig, Policy, SampleParams, StopReason, Tokenizer};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizers")
}

/// (texts, ids per text) that Python's `tokenizers` gave for fixture `name`.
fn expected(name: &str) -> (Vec<String>, Vec<Vec<u32>>) {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let texts = serde_json::from_value(v["texts"].clone()).unwrap();
    let ids = serde_json::from_value(v[name].clone()).unwrap();
    (texts, ids)
}

fn assert_prompts_match(tok: &Tokenizer, name: &str) {
    let (texts, want) = expected(name);
    assert_eq!(texts.len(), want.len());
    for (text, ids) in texts.iter().zip(&want) {
        assert_eq!(&tok.encode_prompt(text).unwrap(), ids, "{name}: {text:?}");
    }
}

#[test]
fn prompts_equal_hugging_face_encode_with_special_tokens() {
    for name in ["rlvr", "llama_like", "qwen_like"] {
        let tok = Tokenizer::from_file(fixtures().join(format!("{name}.json"))).unwrap();
        assert_prompts_match(&tok, name);
    }
    // The built-in tokenizer is the file `rlvr init` writes: BOS (1) before every prompt.
    assert_prompts_match(&Tokenizer::builtin(), "rlvr");
}

#[test]
fn bos_comes_from_the_post_processor_only() {
    let llama = Tokenizer::from_file(fixtures().join("llama_like.json")).unwrap();
    assert_eq!(llama.bos_id(), Some(1));
    assert_eq!(llama.encode_prompt("12").unwrap()[0], 1);
    // Qwen2-like: no BOS token, and nothing is put before the prompt (the old code added EOS).
    let qwen = Tokenizer::from_file(fixtures().join("qwen_like.json")).unwrap();
    assert_eq!(qwen.bos_id(), None);
    let eos = qwen.inner().token_to_id("<|endoftext|>").unwrap();
    assert_eq!(qwen.eos_ids(), [eos]);
    assert_eq!(
        qwen.encode_prompt("12+34=").unwrap(),
        qwen.encode("12+34=").unwrap()
    );
}

#[test]
fn tokenizer_json_from_an_older_rlvr_gets_its_bos_back() {
    // rlvr wrote its character tokenizer without a post-processor before issue 21; its models
    // were trained with BOS first.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("rlvr.json")).unwrap())
            .unwrap();
    v["post_processor"] = serde_json::Value::Null;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let raw = tokenizers::Tokenizer::from_file(&path).unwrap();
    assert_eq!(raw.encode("12", true).unwrap().get_ids(), [21, 22]);
    assert_prompts_match(&Tokenizer::from_file(&path).unwrap(), "rlvr");
}

/// A tiny model over the Qwen2-like tokenizer whose `config.json` says `eos_token_id =
/// <|im_end|>` and whose `generation_config.json` lists `[<|im_end|>, <|endoftext|>]`, as
/// Qwen2.5-Instruct's do; its two end tokens' embeddings are scaled up (tied head) so that
/// sampling emits them often.
fn qwen_like_model(dir: &Path) -> (Policy, u32, u32) {
    let tok = Tokenizer::from_file(fixtures().join("qwen_like.json")).unwrap();
    let (im_end, endoftext) = (
        tok.inner().token_to_id("<|im_end|>").unwrap(),
        tok.inner().token_to_id("<|endoftext|>").unwrap(),
    );
    let config = ModelConfig {
        model_type: "qwen2".into(),
        vocab_size: tok.vocab_size(),
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        max_position_embeddings: 64,
        ..ModelConfig::default()
    };
    let p = Policy::init(&config, tok, 3, &Device::Cpu).unwrap();
    let emb = p
        .trainable_vars()
        .into_iter()
        .find(|(n, _)| n == "model.embed_tokens.weight")
        .unwrap()
        .1;
    let mut rows = emb.as_tensor().to_vec2::<f32>().unwrap();
    for id in [im_end, endoftext] {
        for x in rows[id as usize].iter_mut() {
            *x *= 60.0;
        }
    }
    emb.set(&Tensor::new(rows, &Device::Cpu).unwrap()).unwrap();
    p.save(dir).unwrap();
    let config_path = dir.join(policy::CONFIG_FILE);
    let mut c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    c["eos_token_id"] = im_end.into();
    std::fs::write(&config_path, c.to_string()).unwrap();
    let generation = serde_json::json!({ "eos_token_id": [im_end, endoftext] });
    std::fs::write(
        dir.join(policy::GENERATION_CONFIG_FILE),
        generation.to_string(),
    )
    .unwrap();
    (Policy::load(dir, &Device::Cpu).unwrap(), im_end, endoftext)
}

#[test]
fn generation_stops_at_every_eos_id_the_model_lists() {
    let dir = tempfile::tempdir().unwrap();
    let (p, im_end, endoftext) = qwen_like_model(dir.path());
    assert_eq!(p.tokenizer().eos_ids(), [im_end, endoftext]);
    assert_eq!(
        p.tokenizer().eos_id(),
        im_end,
        "config.json's id comes first"
    );
    let prompts: Vec<Vec<u32>> = ["12+34=", "What is 7*8?\n"]
        .iter()
        .map(|s| p.tokenizer().encode_prompt(s).unwrap())
        .collect();
    assert_eq!(prompts, expected("qwen_like").1[..2].to_vec());
    let params = SampleParams {
        max_new_tokens: 24,
        temperature: 1.5,
        ..SampleParams::default()
    };
    let out = p
        .sample(&prompts, 32, &params, &mut StdRng::seed_from_u64(1))
        .unwrap();
    let mut stopped_on = std::collections::BTreeSet::new();
    for (toks, stop) in out.tokens.iter().zip(&out.stop) {
        let ends = toks.iter().filter(|t| p.tokenizer().is_eos(**t)).count();
        match stop {
            StopReason::Eos => {
                assert_eq!(ends, 1, "a row runs on past an end token: {toks:?}");
                stopped_on.insert(*toks.last().unwrap());
            }
            StopReason::Length => {
                assert_eq!((ends, toks.len()), (0, 24), "{toks:?}");
            }
        }
    }
    assert_eq!(
        stopped_on.into_iter().collect::<Vec<_>>(),
        vec![endoftext.min(im_end), endoftext.max(im_end)],
        "rows must stop on each of the two end tokens (seeded: deterministic)"
    );
    // Saved again, config.json lists both; the tokenizer config names the first.
    let again = dir.path().join("again");
    p.save(&again).unwrap();
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(again.join(policy::CONFIG_FILE)).unwrap())
            .unwrap();
    assert_eq!(c["eos_token_id"], serde_json::json!([im_end, endoftext]));
    let q = Policy::load(&again, &Device::Cpu).unwrap();
    assert_eq!(q.tokenizer().eos_ids(), [im_end, endoftext]);
}

#[test]
fn rlvr_model_directory_tells_transformers_its_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let config = ModelConfig {
        hidden_size: 16,
        intermediate_size: 32,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        ..ModelConfig::default()
    };
    let p = Policy::init(&config, Tokenizer::builtin(), 0, &Device::Cpu).unwrap();
    p.save(dir.path()).unwrap();
    let tc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(policy::TOKENIZER_CONFIG_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(tc["tokenizer_class"], "PreTrainedTokenizerFast");
    assert_eq!(
        (&tc["bos_token"], &tc["eos_token"], &tc["pad_token"]),
        (
            &serde_json::json!("<bos>"),
            &serde_json::json!("<eos>"),
            &serde_json::json!("<pad>")
        )
    );
    // What `tokenizers` reads back from the file puts BOS first, as rlvr does.
    let raw = tokenizers::Tokenizer::from_file(dir.path().join(policy::TOKENIZER_FILE)).unwrap();
    assert_eq!(raw.encode("12", true).unwrap().get_ids(), [1, 21, 22]);
    // A directory that carried its own tokenizer_config.json keeps it unchanged.
    let mut custom = tc.clone();
    custom["chat_template"] = "{{ messages }}".into();
    std::fs::write(
        dir.path().join(policy::TOKENIZER_CONFIG_FILE),
        custom.to_string(),
    )
    .unwrap();
    let q = Policy::load(dir.path(), &Device::Cpu).unwrap();
    let out = dir.path().join("out");
    q.save(&out).unwrap();
    let kept: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(policy::TOKENIZER_CONFIG_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(kept, custom);
}
