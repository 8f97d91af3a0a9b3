"""Train the reader (a cross-encoder) from the packaged all-MiniLM-L6-v2 weights, resumably, then export it.

    python scripts/reader_data.py                       # pairs, split by article (~3 min)
    python scripts/train_reader.py train                # fine-tune; checkpoints every --every steps
    python scripts/train_reader.py train                # after an interruption: resumes where it stopped
    python scripts/train_reader.py export               # int8 ONNX + tokenizer + card into qa/models/

Plain torch: a linear head on the [CLS] vector, binary cross-entropy, AdamW with linear warm-up
and decay, batches of similar length padded to their longest pair. The embeddings and the lowest
`--frozen-layers` layers stay as they are, which roughly halves the backward pass.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORK = Path.home() / ".cache" / "groundqa" / "reader"
sys.path.insert(0, str(ROOT))


def _quiet() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    warnings.simplefilter("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_pairs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def batches(n_items: int, lengths: list[int], batch_size: int, epoch: int, seed: int) -> list[list[int]]:
    """Shuffled batches of similar length: shuffle, sort within pools of 50 batches, shuffle the batches."""
    rng = random.Random(seed * 1000 + epoch)
    order = list(range(n_items))
    rng.shuffle(order)
    pool = batch_size * 50
    out = []
    for i in range(0, n_items, pool):
        chunk = sorted(order[i:i + pool], key=lambda j: lengths[j])
        out += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    rng.shuffle(out)
    return out


def new_model(frozen_layers: int):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from embeddings.encoder import resolve_model_path

    path = resolve_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1, local_files_only=True)
    for p in model.bert.embeddings.parameters():
        p.requires_grad = False
    for layer in model.bert.encoder.layer[:frozen_layers]:
        for p in layer.parameters():
            p.requires_grad = False
    torch.manual_seed(0)
    return tokenizer, model


def _save_atomic(obj, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    tokenizer, model = new_model(args.frozen_layers)
    pairs = load_pairs(args.pairs / "train.jsonl")
    if args.limit:
        pairs = pairs[:args.limit]
    encoded = tokenizer([p["question"] for p in pairs], [p["sentence"] for p in pairs],
                        truncation="only_second", max_length=args.max_tokens)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    labels = [float(p["label"]) for p in pairs]
    per_epoch = math.ceil(len(pairs) / args.batch)
    total = per_epoch * args.epochs
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warmup = max(1, int(0.06 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = args.out / "checkpoint.pt"
    step, losses = 0, []
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, losses = state["step"], state["losses"]
        print(f"resumed at step {step}/{total}", flush=True)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    started, done_here = time.time(), 0
    for epoch in range(step // per_epoch, args.epochs):
        plan = batches(len(pairs), lengths, args.batch, epoch, args.seed)
        for b, idx in enumerate(plan):
            if epoch * per_epoch + b < step:
                continue
            feed = tokenizer.pad({k: [encoded[k][i] for i in idx] for k in encoded}, return_tensors="pt")
            logits = model(**feed).logits.squeeze(-1)
            loss = loss_fn(logits, torch.tensor([labels[i] for i in idx]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            done_here += len(idx)
            losses.append(float(loss))
            if step % args.every == 0 or step == total:
                rate = done_here / (time.time() - started)
                print(f"step {step}/{total} epoch {epoch} loss {np.mean(losses[-args.every:]):.4f} "
                      f"{rate:.1f} pairs/s", flush=True)
                _save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "scheduler": scheduler.state_dict(), "step": step, "losses": losses}, ckpt)
    final = args.out / "final"
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    (final / "training.json").write_text(json.dumps({
        "pairs": len(pairs), "epochs": args.epochs, "batch": args.batch, "lr": args.lr,
        "frozen_layers": args.frozen_layers, "max_tokens": args.max_tokens, "steps": total,
        "seed": args.seed, "final_loss": float(np.mean(losses[-200:]))}, indent=2))
    print(f"saved {final}", flush=True)


def evaluate(args) -> None:
    """Pair-level accuracy on the calibration pairs: per question, is the positive ranked first?"""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(args.threads)
    folder = args.out / "final" if args.model is None else args.model
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    pairs = load_pairs(args.pairs / "calibrate.jsonl")[: args.limit or None]
    scores = []
    with torch.no_grad():
        for i in range(0, len(pairs), 64):
            part = pairs[i:i + 64]
            feed = tokenizer([p["question"] for p in part], [p["sentence"] for p in part], padding=True,
                             truncation="only_second", max_length=args.max_tokens, return_tensors="pt")
            scores += model(**feed).logits.squeeze(-1).tolist()
    by_q: dict[str, list[tuple[float, int, str]]] = {}
    for p, s in zip(pairs, scores):
        by_q.setdefault(p["qid"], []).append((s, p["label"], p["kind"]))
    answerable = [v for v in by_q.values() if any(l for _, l, _ in v)]
    top1 = np.mean([max(v)[1] for v in answerable])
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - only for this report

    auc = roc_auc_score([p["label"] for p in pairs], scores)
    print(json.dumps({"questions": len(by_q), "answerable": len(answerable), "top1": round(float(top1), 4),
                      "pair_auc": round(float(auc), 4)}))


def export(args) -> None:
    """int8 ONNX of the trained reader, its tokenizer and card, into qa/models/ (checked against torch)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = args.out / "final"
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    target = args.target
    target.mkdir(parents=True, exist_ok=True)
    sample = tokenizer(["Where is it?", "Who wrote the report on the long river crossing?"],
                       ["It is in a place.", "Short."], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits

    fp32 = args.out / "reader-fp32.onnx"
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    with torch.no_grad():
        expected = Logits(model)(*(sample[n] for n in names)).numpy()
        torch.onnx.export(Logits(model), tuple(sample[n] for n in names), str(fp32), input_names=names,
                          output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)
    int8 = target / "reader-int8.onnx"
    quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QInt8)
    tokenizer.backend_tokenizer.save(str(target / "reader-tokenizer.json"))
    import onnxruntime as ort

    got = ort.InferenceSession(str(int8)).run(None, {n: sample[n].numpy() for n in names})[0]
    training = json.loads((folder / "training.json").read_text())
    card = {"name": "groundqa-reader-minilm-l6", "base": "sentence-transformers/all-MiniLM-L6-v2",
            "max_tokens": args.max_tokens, "training": training,
            "int8_vs_fp32_max_logit_diff": round(float(np.abs(got - expected).max()), 4)}
    (target / "reader.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card), f"{int8.stat().st_size / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("train", "evaluate", "export"))
    parser.add_argument("--pairs", type=Path, default=WORK / "pairs")
    parser.add_argument("--out", type=Path, default=WORK / "run")
    parser.add_argument("--model", type=Path, default=None, help="evaluate: a saved model folder")
    parser.add_argument("--target", type=Path, default=ROOT / "qa" / "models", help="export: where the model goes")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--frozen-layers", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--every", type=int, default=50, help="checkpoint every this many steps")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N pairs (smoke runs)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    _quiet()
    {"train": train, "evaluate": evaluate, "export": export}[args.command](args)


if __name__ == "__main__":
    main()
