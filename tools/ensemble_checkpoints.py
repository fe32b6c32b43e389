"""Join trained MobileNetV2 checkpoints of the same classes into one ensemble checkpoint (``mobilenetv2_fer_ensemble``:
the members at their own input sizes, logits averaged; see :mod:`ferlite.models.ensemble`). The result exports,
quantizes, calibrates and evaluates like any checkpoint; its training arguments (the mixture its int8 calibration
faces are drawn from) are those of the member with the largest input.

    python tools/ensemble_checkpoints.py runs/ensemble_112_160/best.pth runs/mixture8_112_c2/best.pth runs/mixture8_160/best.pth

Members must share their colour mode; ``--gray`` makes a colour member read gray faces as the others do (the bundled
colour default reads RAF-DB val made gray as well as in colour, docs/EXPERIMENTS.md).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from ferlite.models.checkpoint import make_checkpoint, model_from_checkpoint, save_checkpoint
from ferlite.models.ensemble import ensemble_of


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="the ensemble checkpoint to write")
    p.add_argument("checkpoints", nargs="+", help="two or more MobileNetV2 checkpoints of the same classes")
    p.add_argument("--gray", action="store_true", help="every member reads gray faces (a colour member's too)")
    args = p.parse_args()
    loaded = [model_from_checkpoint(path) for path in args.checkpoints]
    if args.gray:
        for model, _, _ in loaded:
            model.spec = replace(model.spec, color_mode="gray2rgb")
    for path, (_, _, state) in zip(args.checkpoints, loaded):
        if state["arch"] != "mobilenetv2_fer":
            raise SystemExit(f"{path}: a {state['arch']} checkpoint; the members must be mobilenetv2_fer")
    try:
        net, kwargs = ensemble_of(
            [model for model, _, _ in loaded], [state.get("model_kwargs", {}).get("hidden_channels") for _, _, state in loaded]
        )
    except ValueError as e:  # members that differ in classes, normalisation or colour mode: one line
        colour = len({model.spec.color_mode for model, _, _ in loaded}) > 1
        raise SystemExit(f"{e}{': pass --gray to feed every member gray faces' if colour else ''}") from None
    largest = max(loaded, key=lambda m: m[1].input_size)[2]
    members = [f"{path} ({spec.input_size}px)" for path, (_, spec, _) in zip(args.checkpoints, loaded)]
    save_checkpoint(
        args.out, make_checkpoint(net, "mobilenetv2_fer_ensemble", kwargs, args=largest.get("args", {}), members=members)
    )
    print(f"wrote {args.out}: the ensemble of {', '.join(members)}, input {net.spec.input_size}px")


if __name__ == "__main__":
    main()
