"""Training speed of MobileNetV2 on this machine: images/s of one optimiser step (forward, backward, Adam) per setting.

    MALLOC_MMAP_THRESHOLD_=2147483647 MALLOC_TRIM_THRESHOLD_=100000000000 \\
        python benchmarks/train_speed.py [--input-size 224] [--batch-size 64] [--threads N]

Settings: the tensor layout (NCHW or channels-last, which ``ferlite train`` uses), fp32 or bfloat16 autocast
(``--amp``) and how many leading feature blocks are frozen (``--mode top --top-blocks 19-K``). Random inputs, so the
data loading is not timed: ``ferlite train`` prints the images/s it really reaches. Best of a few steps after one
warm-up step; speeds vary by about 10% between runs on shared VMs.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from ferlite.core.system import machine_summary
from ferlite.models import create_model

# (channels_last, bf16 autocast, frozen leading feature blocks)
SETTINGS = ((False, False, 0), (True, False, 0), (True, True, 0), (True, False, 7), (True, True, 7))


def images_per_s(channels_last: bool, bf16: bool, frozen: int, input_size: int, batch_size: int, steps: int) -> float:
    mode = {"mode": "top", "top_blocks": 19 - frozen} if frozen else {"mode": "full"}
    model = create_model("mobilenetv2_fer", num_classes=7, pretrained=False, input_size=input_size, **mode).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    x = torch.randn(batch_size, 3, input_size, input_size).to(memory_format=fmt)
    y = torch.randint(0, 7, (batch_size,))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-4)
    seconds = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seconds.append(time.perf_counter() - start)
    return batch_size / min(seconds[1:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="timed steps per setting (default 3)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    m = machine_summary()
    print(
        f"{m['cpu']}, {m['cores']} cores, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"MobileNetV2 {args.input_size}px, batch {args.batch_size}"
    )
    base = None
    for channels_last, bf16, frozen in SETTINGS:
        speed = images_per_s(channels_last, bf16, frozen, args.input_size, args.batch_size, args.steps)
        base = base or speed
        print(
            f"{'channels-last' if channels_last else 'NCHW':13s} {'bf16' if bf16 else 'fp32'}  "
            f"{frozen:2d} frozen blocks: {speed:6.1f} images/s ({speed / base:.2f}x)",
            flush=True,
        )


if __name__ == "__main__":
    main()
