"""Writes the tokenizer fixtures of `crates/policy/tests/tokenizer_fixtures.rs` (needs only the
`tokenizers` package: `pip install tokenizers`).

Three `tokenizer.json` files and, for each, the ids the Hugging Face `tokenizers` library gives
for a list of texts with its default `encode(text)` (add_special_tokens=True), which is what
`tokenizer(text)` in transformers returns:
- `rlvr`: rlvr's built-in character tokenizer as `rlvr init` writes it (BOS post-processor);
- `llama_like`: byte-level BPE with `<s>`/`</s>` and a `<s> $A` template post-processor;
- `qwen_like`: byte-level BPE with `<|endoftext|>`/`<|im_start|>`/`<|im_end|>` and a ByteLevel
  post-processor that adds no token (as Qwen2's tokenizers).
The Rust test checks that rlvr encodes prompts to exactly these ids, without Python.

Usage (repository root): python scripts/tokenizer_fixtures.py --rlvr target/debug/rlvr
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

TEXTS = [
    "12+34=",
    "What is 7*8?\n",
    " leading space, trailing space ",
    "x = (a & b) | ~c",
    "naïve café",
    "",
]
CORPUS = [
    "12+34=46", "What is 7*8? 56", "x = (a & b) | ~c", "The answer is", "naïve café",
    "leading space, trailing space", "0123456789 +-*/=()", "abcdefghijklmnopqrstuvwxyz",
] * 20


def byte_level_bpe(specials: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rlvr", required=True, help="path to the rlvr binary")
    ap.add_argument("--out", type=Path, default=Path("crates/policy/tests/fixtures/tokenizers"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "m.toml"
        cfg.write_text("hidden_size = 8\nintermediate_size = 16\nnum_hidden_layers = 1\nnum_attention_heads = 2\n")
        subprocess.run([args.rlvr, "init", "--config", str(cfg), "--out", f"{d}/m"], check=True)
        rlvr = Tokenizer.from_file(f"{d}/m/tokenizer.json")

    llama = byte_level_bpe(["<unk>", "<s>", "</s>"])
    bos = llama.token_to_id("<s>")
    llama.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s>:1 $B:1", special_tokens=[("<s>", bos)])

    qwen = byte_level_bpe(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    qwen.post_processor = processors.ByteLevel(trim_offsets=False)

    expected = {"texts": TEXTS}
    for name, tok in [("rlvr", rlvr), ("llama_like", llama), ("qwen_like", qwen)]:
        tok.save(str(args.out / f"{name}.json"))
        expected[name] = [tok.encode(t).ids for t in TEXTS]
        print(name, expected[name][0])
    (args.out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
