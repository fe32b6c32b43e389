"""On-device personalization measured on a domain the model never trained on: a FERPlus-only model
(models/ferplus8_224_full.int8.onnx, the bundled `accurate` until 2026-12-03) meets RAF-DB as "a new camera". k labelled faces per class from RAF-DB train fit the personal head;
RAF-DB test (3,068 faces) is scored with the shipped head and personalized, for several k and blends.

    python benchmarks/personalization.py [--model M] [--k 5,10,20] [--blend 0.5] [--seeds 3]

Prints one table (accuracy and macro-F1 on RAF-DB test, argmax over RAF-DB's 7 classes); numbers in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ferlite.core.system import machine_summary
from ferlite.core.taxonomy import subset_columns
from ferlite.data import load_dataset
from ferlite.evaluation.metrics import classification_metrics
from ferlite.evaluation.reporting import write_block
from ferlite.runtime import EmotionClassifier, fit_personalization, preprocess_faces, resolve_model_path


def scores(clf: EmotionClassifier, images) -> tuple[np.ndarray, np.ndarray]:
    out_l, out_e = [], []
    for s in range(0, len(images), 256):
        logits, emb = clf.logits_and_embeddings(preprocess_faces(list(images[s : s + 256]), clf.spec), calibrated=True)
        out_l.append(logits)
        out_e.append(emb)
    return np.concatenate(out_l), np.concatenate(out_e)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="models/ferplus8_224_full.int8.onnx")
    p.add_argument("--k", default="5,10,20,50")
    p.add_argument("--blends", default="0.5,0.8")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write", default=None, help="also write the table into this Markdown file's 'personalization' block")
    args = p.parse_args()
    lines: list[str] = []
    say = lambda s: (print(s, flush=True), lines.append(s))  # noqa: E731
    clf = EmotionClassifier(resolve_model_path(args.model), threads=args.threads)
    color = clf.spec.takes_colour
    train, test = load_dataset("rafdb", "train", color=color), load_dataset("rafdb", "test", color=color)
    cols = subset_columns(clf.labels, test.classes)  # RAF-DB's 7 classes among the model's 8
    t0 = time.perf_counter()
    test_logits, test_emb = scores(clf, test.images)
    seconds = time.perf_counter() - t0

    def metrics(logits):
        m = classification_metrics(test.labels, logits[:, cols].argmax(1), test.classes)
        return m["accuracy"], m["macro"]["f1"]

    acc, f1 = metrics(test_logits)
    say(
        f"`python benchmarks/personalization.py --model {args.model}`: RAF-DB test ({len(test)} faces, "
        f"{machine_summary()['cpu']}, {args.threads} threads; {len(test) / seconds:.0f} faces/s with embeddings), the "
        f"mean of {args.seeds} draws of the labelled faces from RAF-DB train:"
    )
    say("")
    say("| faces per class | blend | accuracy | macro-F1 | fit time |")
    say("|---|---|---|---|---|")
    say(f"| 0 (shipped head) | - | {acc:.1%} | {f1:.3f} | - |")
    for k in map(int, args.k.split(",")):
        for blend in map(float, args.blends.split(",")):
            results, fit_s = [], []
            for seed in range(args.seeds):
                rng = np.random.default_rng(seed)
                pick = np.concatenate(
                    [rng.choice(np.flatnonzero(train.labels == c), k, replace=False) for c in range(len(train.classes))]
                )
                logits, emb = scores(clf, train.images[pick])
                targets = np.array([clf.labels.index(train.classes[c]) for c in train.labels[pick]])
                t0 = time.perf_counter()
                pers = fit_personalization(emb, targets, clf.labels, clf.sha256(), blend=blend)
                fit_s.append(time.perf_counter() - t0)
                results.append(metrics(pers.apply(test_logits, test_emb)))
            a, f = np.mean(results, 0)
            say(f"| {k} | {blend} | {a:.1%} ({100 * (a - acc):+.1f}) | {f:.3f} | {1000 * np.mean(fit_s):.0f} ms |")
    if args.write:
        write_block(args.write, "personalization", "## On-device personalization\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
