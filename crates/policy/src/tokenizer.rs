//! `Tokenizer`: a thin wrapper over `tokenizers::Tokenizer` with the built-in character-level
//! vocabulary (printable ASCII and `\n`, specials `<pad>`=0, `<bos>`=1, `<eos>`=2).

use std::path::Path;

use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::bpe::BPE;
use tokenizers::AddedToken;

use crate::error::{Error, Result};

/// Padding token of the built-in tokenizer.
pub const PAD: &str = "<pad>";
/// Beginning-of-sequence token of the built-in tokenizer.
pub const BOS: &str = "<bos>";
/// End-of-sequence token of the built-in tokenizer.
pub const EOS: &str = "<eos>";

/// Text <-> token ids, with the special ids the policy needs.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    bos: u32,
    eos: u32,
    pad: u32,
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
    /// It is a BPE model without merges (each character is one token) and a `Fuse` decoder, so
    /// the saved `tokenizer.json` loads in Hugging Face `tokenizers`/`transformers` unchanged.
    /// Characters outside the alphabet are dropped by `encode`.
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
        // Adding tokens already in the vocabulary cannot fail.
        let _ = inner.add_special_tokens([
            AddedToken::from(PAD, true),
            AddedToken::from(BOS, true),
            AddedToken::from(EOS, true),
        ]);
        Self {
            inner,
            bos: 1,
            eos: 2,
            pad: 0,
        }
    }

    /// Loads any Hugging Face `tokenizer.json`; BOS/EOS/PAD are looked up by the usual names
    /// (`<bos>`/`<s>`/`<|begin_of_text|>`, `<eos>`/`</s>`/`<|endoftext|>`/`<|end_of_text|>`,
    /// `<pad>`/`<|pad|>`, falling back to EOS for PAD).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let context = path.display().to_string();
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| tok_err(&context, e))?;
        let find = |names: &[&str]| names.iter().find_map(|n| inner.token_to_id(n));
        let eos = find(&[
            EOS,
            "</s>",
            "<|endoftext|>",
            "<|end_of_text|>",
            "<|im_end|>",
        ])
        .ok_or_else(|| tok_err(&context, "no end-of-sequence token (<eos>, </s>, ...)"))?;
        let bos = find(&[BOS, "<s>", "<|begin_of_text|>"]).unwrap_or(eos);
        let pad = find(&[PAD, "<|pad|>", "[PAD]"]).unwrap_or(eos);
        Ok(Self {
            inner,
            bos,
            eos,
            pad,
        })
    }

    /// Writes `tokenizer.json`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.inner
            .save(path, true)
            .map_err(|e| tok_err(&path.display().to_string(), e))
    }

    /// Token ids of `text`, no special tokens added.
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

    /// Beginning-of-sequence id.
    pub fn bos_id(&self) -> u32 {
        self.bos
    }

    /// End-of-sequence id.
    pub fn eos_id(&self) -> u32 {
        self.eos
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_is_character_level_with_specials() {
        let t = Tokenizer::builtin();
        assert_eq!(t.vocab_size(), 99);
        assert_eq!((t.pad_id(), t.bos_id(), t.eos_id()), (0, 1, 2));
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
        assert_eq!((u.pad_id(), u.bos_id(), u.eos_id()), (0, 1, 2));
        let msg = Tokenizer::from_file(dir.path().join("nope.json"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("nope.json"), "{msg}");
    }
}
