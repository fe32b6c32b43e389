"""Pack FER2013 for a GPU machine that the data cannot reach, and unpack it there.

The device tool carries at most 64 MiB and fer2013.npz (79 MB) does not compress, so
``pack`` stores the Training and PublicTest faces as JPEG with their labels and FERPlus votes,
and ``unpack`` rebuilds a fer2013.npz-shaped file from them. Faces go 256 to a 16x16 mosaic:
48 is a multiple of JPEG's 8x8 blocks, so no block spans two faces, and one header serves 256
faces (per-face JPEGs spend a third of their bytes on headers). Quality 93 (34 MB) leaves room
for the ImageNet weights and wheels; it changes a pixel by 1.7 grey levels on average. PrivateTest is
not carried: it is only for final reports, which are scored on the exact images on the CPU.

    python benchmarks/gpu/carry.py pack ../shared/data/fer2013.npz .gpu/fer_jpeg.npz
    python benchmarks/gpu/carry.py unpack .gpu/fer_jpeg.npz .gpu/shared/data/fer2013.npz
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

CARRIED_SPLITS = ("Training", "PublicTest")
GRID = 16  # faces per mosaic side
SIDE = 48
LABEL_KEYS = ("emotion", "usage", "ferplus_votes", "class_names", "ferplus_class_names")


def pack(src: str, dst: str, quality: int) -> None:
    with np.load(src) as z:
        rows = np.flatnonzero(np.isin(z["usage"], CARRIED_SPLITS))
        faces = z["images"][rows]
        blobs = [
            cv2.imencode(".jpg", _to_mosaic(faces[i : i + GRID * GRID]), [cv2.IMWRITE_JPEG_QUALITY, quality])[1].ravel()
            for i in range(0, len(faces), GRID * GRID)
        ]
        labels = {k: z[k][rows] if z[k].shape[:1] == z["usage"].shape else z[k] for k in LABEL_KEYS}
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    np.savez(dst, jpeg=np.concatenate(blobs), offsets=offsets, count=len(rows), **labels)
    print(f"{dst}: {len(rows)} faces ({', '.join(CARRIED_SPLITS)}), {offsets[-1] / 1e6:.1f} MB of JPEG at quality {quality}")


def unpack(src: str, dst: str) -> None:
    with np.load(src) as z:
        jpeg, offsets = z["jpeg"], z["offsets"]
        mosaics = [cv2.imdecode(jpeg[a:b], cv2.IMREAD_GRAYSCALE) for a, b in zip(offsets[:-1], offsets[1:])]
        images = np.concatenate([_from_mosaic(m) for m in mosaics])[: int(z["count"])]
        np.savez(dst, images=images, **{k: z[k] for k in LABEL_KEYS})
    print(f"{dst}: {len(images)} faces")


def _to_mosaic(faces: np.ndarray) -> np.ndarray:
    padded = np.zeros((GRID * GRID, SIDE, SIDE), np.uint8)
    padded[: len(faces)] = faces
    return padded.reshape(GRID, GRID, SIDE, SIDE).transpose(0, 2, 1, 3).reshape(GRID * SIDE, GRID * SIDE)


def _from_mosaic(mosaic: np.ndarray) -> np.ndarray:
    return mosaic.reshape(GRID, SIDE, GRID, SIDE).transpose(0, 2, 1, 3).reshape(GRID * GRID, SIDE, SIDE)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("pack", "unpack"))
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--quality", type=int, default=93, help="JPEG quality for pack (default 93)")
    args = p.parse_args()
    pack(args.src, args.dst, args.quality) if args.action == "pack" else unpack(args.src, args.dst)


if __name__ == "__main__":
    main()
