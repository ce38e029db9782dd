"""Cross-checks rlvr's model directories against Hugging Face transformers (and PEFT).

1. rlvr -> transformers: `rlvr init` writes a directory; `LlamaForCausalLM.from_pretrained` loads
   it; `rlvr generate --greedy --json` must pick the same tokens as transformers' argmax (PAD/BOS
   excluded) with the same per-token log-probs (|diff| < 1e-4), and the tokenizer must decode them
   to the same text.
2. transformers -> rlvr (with --write-fixtures DIR): save tiny transformers models (Llama with GQA
   and an untied head; Qwen2 with q/k/v biases and a tied head), a PEFT LoRA adapter, and their
   logits for a fixed input as JSON, for the Rust test `hf_fixtures` to check without Python.

Usage (from the repository root, with the venv that has torch, transformers and peft):
    python scripts/hf_roundtrip.py --rlvr target/release/rlvr [--write-fixtures crates/policy/tests/fixtures]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

INPUT_IDS = [1, 20, 21, 22, 15, 69, 70, 4, 30, 31, 2, 40]


def check_rlvr_to_hf(rlvr: str, tmp: Path, name: str, toml: str) -> None:
    cfg = tmp / f"{name}.toml"
    cfg.write_text(toml)
    out = tmp / name
    subprocess.run([rlvr, "init", "--config", str(cfg), "--out", str(out), "--seed", "3"], check=True)
    model = LlamaForCausalLM.from_pretrained(out, torch_dtype=torch.float32).eval()
    tok = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"))
    conf = json.loads((out / "config.json").read_text())
    # rlvr's small init (std 0.02) makes RoPE's effect on logits tiny: check transformers read it.
    got_theta = (getattr(model.config, "rope_parameters", None) or {}).get("rope_theta", getattr(model.config, "rope_theta", None))
    assert got_theta == conf["rope_theta"], f"{name}: transformers read rope_theta {got_theta}, file has {conf['rope_theta']}"
    prompt = "12+34="
    res = subprocess.run(
        [rlvr, "generate", "--model", str(out), "--prompt", prompt, "--greedy", "--json", "--max-new-tokens", "24"],
        check=True, capture_output=True, text=True,
    )
    row = json.loads(res.stdout.splitlines()[0])
    ids = [conf["bos_token_id"]] + tok.encode(prompt, add_special_tokens=False)
    completion = row["tokens"]
    with torch.no_grad():
        logits = model(torch.tensor([ids + completion])).logits[0]
    logp = torch.log_softmax(logits.double(), -1)
    banned = {conf["pad_token_id"], conf["bos_token_id"]} - {conf["eos_token_id"]}
    worst = 0.0
    for j, t in enumerate(completion):
        pos = len(ids) - 1 + j
        masked = logits[pos].clone()
        for b in banned:
            masked[b] = float("-inf")
        assert int(masked.argmax()) == t, f"{name}: step {j}: transformers argmax {int(masked.argmax())}, rlvr {t}"
        worst = max(worst, abs(float(logp[pos, t]) - row["logprobs"][j]))
    assert worst < 1e-4, f"{name}: log-prob difference {worst}"
    assert tok.decode(completion, skip_special_tokens=True) == row["completion"], "tokenizer decode differs"
    print(f"rlvr -> transformers [{name}]: {len(completion)} greedy tokens equal, max |dlogp| = {worst:.2e}")


def write_fixtures(rlvr: str, tmp: Path, dst: Path) -> None:
    subprocess.run([rlvr, "init", "--config", str(tmp / "tied.toml"), "--out", str(tmp / "tok")], check=True)
    tokenizer_json = tmp / "tok" / "tokenizer.json"
    common = dict(vocab_size=99, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                  rms_norm_eps=1e-5, rope_theta=50000.0, initializer_range=0.2,
                  bos_token_id=1, eos_token_id=2, pad_token_id=0)
    models = {
        "hf_llama": LlamaForCausalLM(LlamaConfig(tie_word_embeddings=False, **common)),
        "hf_qwen2": Qwen2ForCausalLM(Qwen2Config(tie_word_embeddings=True, **common)),
    }
    for name, model in models.items():
        torch.manual_seed(0)
        with torch.no_grad():  # random biases and norms too, so that every tensor matters
            for n, p in model.named_parameters():
                if n.endswith("bias") or "norm" in n:
                    p.copy_(1.0 + 0.3 * torch.randn_like(p) if "norm" in n else 0.3 * torch.randn_like(p))
        model.eval()
        out = dst / name
        if out.exists():
            shutil.rmtree(out)
        model.save_pretrained(out, safe_serialization=True)
        shutil.copy(tokenizer_json, out / "tokenizer.json")
        for extra in ["generation_config.json"]:
            (out / extra).unlink(missing_ok=True)
        with torch.no_grad():
            logits = model(torch.tensor([INPUT_IDS])).logits[0]
        (out / "logits.json").write_text(json.dumps({"input_ids": INPUT_IDS, "logits": logits.tolist()}))
        print(f"wrote {out}")
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        print("peft not installed: no adapter fixture", file=sys.stderr)
        return
    base = models["hf_llama"]
    cfg = LoraConfig(r=2, lora_alpha=4, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "down_proj"],
                     init_lora_weights=False, task_type="CAUSAL_LM")
    torch.manual_seed(1)
    peft_model = get_peft_model(base, cfg).eval()
    out = dst / "hf_llama_lora"
    if out.exists():
        shutil.rmtree(out)
    peft_model.save_pretrained(out)
    (out / "README.md").unlink(missing_ok=True)
    with torch.no_grad():
        logits = peft_model(input_ids=torch.tensor([INPUT_IDS])).logits[0]
    (out / "logits.json").write_text(json.dumps({"input_ids": INPUT_IDS, "logits": logits.tolist()}))
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rlvr", required=True, help="path to the rlvr binary")
    ap.add_argument("--write-fixtures", type=Path, help="write transformers/PEFT fixtures here")
    args = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = "hidden_size = 64\nintermediate_size = 96\nnum_hidden_layers = 2\nnum_attention_heads = 4\n"
        (tmp / "tied.toml").write_text(base + "num_key_value_heads = 2\n")
        check_rlvr_to_hf(args.rlvr, tmp, "tied", base + "num_key_value_heads = 2\n")
        check_rlvr_to_hf(args.rlvr, tmp, "untied_bias",
                         base + "tie_word_embeddings = false\nattention_bias = true\nrope_theta = 500000.0\n")
        if args.write_fixtures:
            args.write_fixtures.mkdir(parents=True, exist_ok=True)
            write_fixtures(args.rlvr, tmp, args.write_fixtures)


if __name__ == "__main__":
    main()
