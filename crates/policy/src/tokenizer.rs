//! `Tokenizer`: a thin wrapper over `tokenizers::Tokenizer` with the built-in character-level
//! vocabulary (printable ASCII and `\n`, specials `<pad>`=0, `<bos>`=1, `<eos>`=2) and the ids the
//! policy needs: where a prompt starts (the tokenizer's own post-processor decides) and where a
//! completion ends (the model's EOS ids).

use std::path::Path;

use serde_json::{json, Value};
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::BPE;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::AddedToken;

use crate::error::{Error, Result};

/// Padding token of the built-in tokenizer.
pub const PAD: &str = "<pad>";
/// Beginning-of-sequence token of the built-in tokenizer.
pub const BOS: &str = "<bos>";
/// End-of-sequence token of the built-in tokenizer.
pub const EOS: &str = "<eos>";

/// Text <-> token ids, with the special ids the policy needs.
///
/// Prompts are encoded as Hugging Face encodes them by default (`tokenizer(text)` in
/// transformers, `encode(text, add_special_tokens=True)` in `tokenizers`): the tokenizer's
/// post-processor adds what its model was trained with (BOS for Llama and for rlvr's own
/// tokenizer, nothing for Qwen2). rlvr never adds a special token of its own to a prompt.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    bos: Option<u32>,
    /// Ids that end a completion, never empty; the first is the one training answers end with.
    eos: Vec<u32>,
    pad: u32,
    /// `tokenizer_config.json` of the directory the tokenizer came from, written back unchanged.
    hf_config: Option<Value>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("pad", &self.pad)
            .finish()
    }
}

fn tok_err(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Tokenizer {
        context: context.into(),
        message: e.to_string(),
    }
}

/// rlvr's prompt convention as Llama's tokenizer files write it: BOS before each sequence.
fn bos_post_processor(bos: u32) -> TemplateProcessing {
    let built = TemplateProcessing::builder()
        .try_single(format!("{BOS} $A"))
        .and_then(|b| b.try_pair(format!("{BOS} $A {BOS}:1 $B:1")))
        .map(|b| b.special_tokens(vec![(BOS, bos)]).build());
    // Fixed templates over a token they declare: cannot fail to build.
    match built {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => unreachable!("BOS template: {e}"),
        Err(e) => unreachable!("BOS template: {e}"),
    }
}

impl Tokenizer {
    /// The built-in character tokenizer: ids 0..3 are `<pad>`, `<bos>`, `<eos>`, then `\n`, then
    /// the 95 printable ASCII characters from space to `~` (99 ids in all).
    pub fn builtin() -> Self {
        let chars: String = std::iter::once('\n')
            .chain((b' '..=b'~').map(char::from))
            .collect();
        Self::char_level(&chars)
    }

    /// A character tokenizer over `alphabet` (duplicates ignored): `<pad>`=0, `<bos>`=1,
    /// `<eos>`=2, then each character in order of first appearance.
    ///
    /// It is a BPE model without merges (each character is one token), a `Fuse` decoder and a
    /// post-processor that puts `<bos>` before every sequence, so the saved `tokenizer.json`
    /// loads in Hugging Face `tokenizers`/`transformers` unchanged and `tokenizer(text)` there
    /// gives the ids rlvr feeds the model. Characters outside the alphabet are dropped.
    pub fn char_level(alphabet: &str) -> Self {
        let mut vocab: tokenizers::models::bpe::Vocab = Default::default();
        for (i, s) in [PAD, BOS, EOS].iter().enumerate() {
            vocab.insert((*s).to_string(), i as u32);
        }
        for c in alphabet.chars() {
            let next = vocab.len() as u32;
            vocab.entry(c.to_string()).or_insert(next);
        }
        // A merge-free BPE over single characters cannot fail to build.
        let model = match BPE::builder().vocab_and_merges(vocab, vec![]).build() {
            Ok(m) => m,
            Err(e) => unreachable!("character-level BPE: {e}"),
        };
        let mut inner = tokenizers::Tokenizer::new(model);
        inner.with_decoder(Some(Fuse::new()));
        inner.with_post_processor(Some(bos_post_processor(1)));
        // Adding tokens already in the vocabulary cannot fail.
        let _ = inner.add_special_tokens([
            AddedToken::from(PAD, true),
            AddedToken::from(BOS, true),
            AddedToken::from(EOS, true),
        ]);
        Self {
            inner,
            bos: Some(1),
            eos: vec![2],
            pad: 0,
            hf_config: None,
        }
    }

    /// Loads any Hugging Face `tokenizer.json`; BOS/EOS/PAD are looked up by the usual names
    /// (`<bos>`/`<s>`/`<|begin_of_text|>`, `<eos>`/`</s>`/`<|endoftext|>`/`<|end_of_text|>`/
    /// `<|im_end|>`, `<pad>`/`<|pad|>`/`[PAD]`, falling back to EOS for PAD). A model
    /// directory's `eos_token_id` replaces the EOS found here (see `Policy::load`).
    ///
    /// A `tokenizer.json` that rlvr wrote before it recorded its BOS convention (its character
    /// vocabulary, no post-processor) gets the BOS post-processor its model was trained with.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let context = path.display().to_string();
        let mut inner = tokenizers::Tokenizer::from_file(path).map_err(|e| tok_err(&context, e))?;
        let find = |names: &[&str]| names.iter().find_map(|n| inner.token_to_id(n));
        let eos = find(&[
            EOS,
            "</s>",
            "<|endoftext|>",
            "<|end_of_text|>",
            "<|im_end|>",
        ])
        .ok_or_else(|| tok_err(&context, "no end-of-sequence token (<eos>, </s>, ...)"))?;
        let bos = find(&[BOS, "<s>", "<|begin_of_text|>"]);
        let pad = find(&[PAD, "<|pad|>", "[PAD]"]).unwrap_or(eos);
        if is_legacy_rlvr(&inner) {
            tracing::warn!(
                tokenizer = %context,
                "tokenizer.json written by an older rlvr: adding the BOS post-processor its \
                 model was trained with (save the model again to record it)"
            );
            inner.with_post_processor(Some(bos_post_processor(1)));
        }
        Ok(Self {
            inner,
            bos,
            eos: vec![eos],
            pad,
            hf_config: None,
        })
    }

    /// Loads `tokenizer.json` and, when present, `tokenizer_config.json` from a model directory.
    pub(crate) fn from_dir(dir: &Path) -> Result<Self> {
        let mut tok = Self::from_file(dir.join(crate::hf::TOKENIZER_FILE))?;
        let path = dir.join(crate::hf::TOKENIZER_CONFIG_FILE);
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            let value = serde_json::from_str(&text).map_err(|e| Error::ConfigParse {
                path: path.clone(),
                message: e.to_string(),
            })?;
            tok.hf_config = Some(value);
        }
        Ok(tok)
    }

    /// Writes `tokenizer.json`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.inner
            .save(path, true)
            .map_err(|e| tok_err(&path.display().to_string(), e))
    }

    /// Writes `tokenizer.json` and `tokenizer_config.json` into a model directory: the config
    /// read with the tokenizer if there was one, else one that makes transformers'
    /// `AutoTokenizer` wrap `tokenizer.json` as it is (`PreTrainedTokenizerFast`, whose
    /// `tokenizer(text)` runs the file's post-processor).
    pub(crate) fn save_to_dir(&self, dir: &Path) -> Result<()> {
        self.save(dir.join(crate::hf::TOKENIZER_FILE))?;
        let config = self
            .hf_config
            .clone()
            .unwrap_or_else(|| self.hf_config_json());
        let path = dir.join(crate::hf::TOKENIZER_CONFIG_FILE);
        let text =
            serde_json::to_string_pretty(&config).map_err(|e| tok_err("tokenizer_config", e))?;
        std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))
    }

    /// A `tokenizer_config.json` naming this tokenizer's special tokens.
    fn hf_config_json(&self) -> Value {
        let name = |id: u32| self.inner.id_to_token(id);
        json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": self.bos.and_then(name),
            "eos_token": name(self.eos_id()),
            "pad_token": name(self.pad),
            // transformers' default (true in older versions) would rewrite " ," as "," in decode.
            "clean_up_tokenization_spaces": false,
        })
    }

    /// Token ids of a prompt: `text` encoded with special tokens, as `tokenizer(text)` in
    /// transformers (the post-processor adds BOS where the tokenizer's model expects it).
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| tok_err("encode", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Token ids of `text`, no special tokens added (completions and answers).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| tok_err("encode", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens skipped; ids outside the vocabulary are skipped too.
    pub fn decode(&self, ids: &[u32]) -> String {
        let n = self.vocab_size() as u32;
        let ids: Vec<u32> = ids.iter().copied().filter(|&i| i < n).collect();
        self.inner.decode(&ids, true).unwrap_or_default()
    }

    /// Beginning-of-sequence id, if the vocabulary has one (never sampled; prompts get it from
    /// the post-processor, not from rlvr).
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// The end-of-sequence id that training answers end with: the first of [`Tokenizer::eos_ids`].
    pub fn eos_id(&self) -> u32 {
        self.eos[0]
    }

    /// Every id that ends a completion (a model may have several, e.g. `<|im_end|>` and
    /// `<|endoftext|>`).
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos
    }

    /// Whether `id` ends a completion.
    pub fn is_eos(&self, id: u32) -> bool {
        self.eos.contains(&id)
    }

    /// Replaces the end-of-sequence ids (a model's `eos_token_id`); the first is the one
    /// training answers end with. An empty list or an id outside the vocabulary is an error.
    pub fn with_eos_ids(mut self, ids: &[u32]) -> Result<Self> {
        if ids.is_empty() {
            return Err(tok_err("eos_token_id", "no end-of-sequence id"));
        }
        let n = self.vocab_size() as u32;
        if let Some(bad) = ids.iter().find(|&&id| id >= n) {
            let msg = format!("{bad} is outside the tokenizer's {n} ids");
            return Err(tok_err("eos_token_id", msg));
        }
        self.eos.clear();
        for &id in ids {
            if !self.eos.contains(&id) {
                self.eos.push(id);
            }
        }
        Ok(self)
    }

    /// Padding id.
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// Number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The wrapped `tokenizers` object.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// Whether `t` is rlvr's character tokenizer as written before its BOS post-processor was:
/// `<pad>`, `<bos>`, `<eos>` at 0, 1, 2, a `Fuse` decoder and no post-processor.
fn is_legacy_rlvr(t: &tokenizers::Tokenizer) -> bool {
    t.get_post_processor().is_none()
        && matches!(t.get_decoder(), Some(DecoderWrapper::Fuse(_)))
        && [PAD, BOS, EOS]
            .iter()
            .enumerate()
            .all(|(i, s)| t.token_to_id(s) == Some(i as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_is_character_level_with_specials() {
        let t = Tokenizer::builtin();
        assert_eq!(t.vocab_size(), 99);
        assert_eq!((t.pad_id(), t.bos_id(), t.eos_id()), (0, Some(1), 2));
        assert_eq!(t.encode_prompt("a 0").unwrap(), vec![1, 69, 4, 20]);
        // '\n' = 3, ' ' = 4, '0' = 4 + 16, 'a' = 4 + 65.
        assert_eq!(t.encode("a 0\n").unwrap(), vec![69, 4, 20, 3]);
        assert_eq!(t.decode(&[1, 69, 4, 20, 3, 2, 0]), "a 0\n");
        let text = "12+34=46\nx = (a & b) | ~c";
        assert_eq!(t.decode(&t.encode(text).unwrap()), text);
    }

    #[test]
    fn char_level_numbers_characters_in_order() {
        let t = Tokenizer::char_level("0123456789+=0");
        assert_eq!(t.vocab_size(), 15);
        assert_eq!(t.encode("10+2=").unwrap(), vec![4, 3, 13, 5, 14]);
        assert_eq!(t.decode(&[1, 4, 3, 2]), "10");
    }

    #[test]
    fn save_then_load_gives_the_same_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenizer.json");
        let t = Tokenizer::builtin();
        t.save(&p).unwrap();
        let u = Tokenizer::from_file(&p).unwrap();
        let text = "What is 7*8? 56";
        assert_eq!(u.encode(text).unwrap(), t.encode(text).unwrap());
        assert_eq!((u.pad_id(), u.bos_id(), u.eos_id()), (0, Some(1), 2));
        assert_eq!(
            u.encode_prompt(text).unwrap(),
            t.encode_prompt(text).unwrap()
        );
        let msg = Tokenizer::from_file(dir.path().join("nope.json"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("nope.json"), "{msg}");
    }
}
