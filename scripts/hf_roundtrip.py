"""Cross-checks rlvr's model directories against Hugging Face transformers (and PEFT).

1. rlvr -> transformers: `rlvr init` writes a directory; `LlamaForCausalLM.from_pretrained` loads
   it and `AutoTokenizer.from_pretrained` its tokenizer; `tokenizer(prompt)` as a user calls it
   must give exactly the prompt ids rlvr fed the model (BOS first), and `rlvr generate --greedy
   --json` must pick the same tokens as transformers' argmax (PAD/BOS excluded) with the same
   per-token log-probs (|diff| < 1e-4); the tokenizer must decode them to the same text.
   A LoRA run's `model/` loads with `AutoPeftModelForCausalLM.from_pretrained` (the base found
   through `base_model_name_or_path`) and gives rlvr's log-probs, and so does `rlvr merge`'s
   output loaded as a plain model.
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
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

INPUT_IDS = [1, 20, 21, 22, 15, 69, 70, 4, 30, 31, 2, 40]


def check_rlvr_to_hf(rlvr: str, tmp: Path, name: str, toml: str) -> None:
    cfg = tmp / f"{name}.toml"
    cfg.write_text(toml)
    out = tmp / name
    subprocess.run([rlvr, "init", "--config", str(cfg), "--out", str(out), "--seed", "3"], check=True)
    model = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(out)
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
    ids = tok(prompt)["input_ids"]
    assert ids == row["prompt_tokens"], f"{name}: tokenizer(prompt) = {ids}, rlvr fed {row['prompt_tokens']}"
    assert ids[0] == conf["bos_token_id"], f"{name}: tokenizer(prompt) does not start with BOS: {ids}"
    completion = row["tokens"]
    with torch.no_grad():
        logits = model(torch.tensor([ids + completion])).logits[0]
    logp = torch.log_softmax(logits.double(), -1)
    eos = conf["eos_token_id"] if isinstance(conf["eos_token_id"], list) else [conf["eos_token_id"]]
    banned = {conf["pad_token_id"], conf["bos_token_id"]} - set(eos)
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
    print(f"rlvr -> transformers [{name}]: tokenizer(prompt) = rlvr's ids {ids}; "
          f"{len(completion)} greedy tokens equal, max |dlogp| = {worst:.2e}")


def rlvr_logprobs(rlvr: str, model: Path, adapter: Path | None, prompt: str) -> dict:
    cmd = [rlvr, "generate", "--model", str(model), "--prompt", prompt, "--greedy", "--json", "--max-new-tokens", "8"]
    if adapter is not None:
        cmd += ["--adapter", str(adapter)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[0])


def hf_logprobs(model, ids: list[int], completion: list[int]) -> list[float]:
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids + completion])).logits[0]
    logp = torch.log_softmax(logits.double(), -1)
    return [float(logp[len(ids) - 1 + j, t]) for j, t in enumerate(completion)]


def check_lora(rlvr: str, tmp: Path) -> None:
    from peft import AutoPeftModelForCausalLM

    base_run, lora_run, merged = tmp / "base_run", tmp / "lora_run", tmp / "merged"
    subprocess.run([rlvr, "train", "configs/smoke.toml", "--out", str(base_run)], check=True, capture_output=True)
    subprocess.run([rlvr, "train", "configs/smoke.toml", "--out", str(lora_run), "--max-steps", "3",
                    "--set", f"model.path={base_run / 'model'}", "--set", "warm_start.steps=0",
                    "--set", "lora.r=4", "--set", 'lora.target_modules=["q_proj","v_proj","down_proj"]',
                    "--set", "train.lr=0.05"], check=True, capture_output=True)
    adapter = lora_run / "model"
    conf = json.loads((adapter / "adapter_config.json").read_text())
    assert Path(conf["base_model_name_or_path"]) == (base_run / "model").resolve(), conf["base_model_name_or_path"]
    subprocess.run([rlvr, "merge", "--adapter", str(adapter), "--out", str(merged)], check=True, capture_output=True)
    prompt = "T and F ="
    row = rlvr_logprobs(rlvr, base_run / "model", adapter, prompt)
    tok = AutoTokenizer.from_pretrained(base_run / "model")
    ids = tok(prompt)["input_ids"]
    assert ids == row["prompt_tokens"], (ids, row["prompt_tokens"])
    peft_model = AutoPeftModelForCausalLM.from_pretrained(adapter, dtype=torch.float32).eval()
    base_model = AutoModelForCausalLM.from_pretrained(base_run / "model", dtype=torch.float32).eval()
    merged_model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    want = row["logprobs"]
    got_peft = hf_logprobs(peft_model, ids, row["tokens"])
    got_merged = hf_logprobs(merged_model, ids, row["tokens"])
    with peft_model.disable_adapter():
        plain = hf_logprobs(peft_model, ids, row["tokens"])
    base = hf_logprobs(base_model, ids, row["tokens"])
    worst = max(abs(a - b) for a, b in zip(want + want, got_peft + got_merged))
    moved = max(abs(a - b) for a, b in zip(want, base))
    assert worst < 1e-4, f"LoRA: PEFT/merged log-probs differ from rlvr's by {worst}"
    assert max(abs(a - b) for a, b in zip(plain, base)) < 1e-5, "PEFT with the adapter off is not the base"
    print(f"rlvr LoRA -> PEFT: AutoPeftModelForCausalLM and `rlvr merge` give rlvr's log-probs "
          f"(max |d| = {worst:.2e}; the adapter moves them by {moved:.2e} from the base)")


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
        check_lora(args.rlvr, tmp)
        if args.write_fixtures:
            args.write_fixtures.mkdir(parents=True, exist_ok=True)
            write_fixtures(args.rlvr, tmp, args.write_fixtures)


if __name__ == "__main__":
    main()
