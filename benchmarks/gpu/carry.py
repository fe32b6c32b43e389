"""Pack the face data for a GPU machine that the data cannot reach, and unpack it there.

The device tool carries at most 64 MiB and fer2013.npz (79 MB) does not compress, so
``pack`` stores the Training and PublicTest faces as JPEG with their labels and FERPlus votes,
and ``unpack`` rebuilds a fer2013.npz-shaped file from them. Faces go 256 to a 16x16 mosaic:
48 is a multiple of JPEG's 8x8 blocks, so no block spans two faces, and one header serves 256
faces (per-face JPEGs spend a third of their bytes on headers). Quality 93 (34 MB) leaves room
for the ImageNet weights and wheels; it changes a pixel by 1.7 grey levels on average. PrivateTest is
not carried: it is only for final reports, which are scored on the exact images on the CPU.

    python benchmarks/gpu/carry.py pack ../shared/data/fer2013.npz .gpu/fer_jpeg.npz
    python benchmarks/gpu/carry.py unpack .gpu/fer_jpeg.npz .gpu/shared/data/fer2013.npz

The in-the-wild files (``rafdb_basic.npz``, ``affectnet_yolo96_gray.npz``: one JPEG per face) go the same way with
``pack-wild`` / ``unpack-wild``: the faces the mixture trains and selects on (RAF-DB's train split, from which its
validation is carved; AffectNet's train and val), in gray (as training reads them), as mosaics of faces padded to
a multiple of 8 px. Their test splits stay here, for the final reports. Unpacked, each face is one PNG of the
mosaic's pixels in a file of the original's layout (``image_shape`` H x W x 1), which ferlite's reader takes as it
is. At quality 85 RAF-DB is about 28 MB and AffectNet about 42 MB: with FER2013 more than one call carries.

    python benchmarks/gpu/carry.py pack-wild ../shared/data/rafdb_basic.npz .gpu/rafdb_jpeg.npz --quality 85
    python benchmarks/gpu/carry.py unpack-wild .gpu/rafdb_jpeg.npz .gpu/shared/data/rafdb_basic.npz
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

CARRIED_SPLITS = ("Training", "PublicTest")
GRID = 16  # faces per mosaic side
SIDE = 48
LABEL_KEYS = ("emotion", "usage", "ferplus_votes", "class_names", "ferplus_class_names")
WILD_SPLITS = ("train", "val")  # the in-the-wild files' splits that training and selection use
WILD_ROW_KEYS = ("labels", "split", "filenames", "fer2013_match_corr", "fer2013_match_row", "origin")
WILD_FILE_KEYS = ("class_names",)


def pack(src: str, dst: str, quality: int) -> None:
    with np.load(src) as z:
        rows = np.flatnonzero(np.isin(z["usage"], CARRIED_SPLITS))
        jpeg, offsets = _encode_mosaics(z["images"][rows], SIDE, quality)
        labels = {k: z[k][rows] if z[k].shape[:1] == z["usage"].shape else z[k] for k in LABEL_KEYS}
    np.savez(dst, jpeg=jpeg, offsets=offsets, count=len(rows), **labels)
    print(f"{dst}: {len(rows)} faces ({', '.join(CARRIED_SPLITS)}), {offsets[-1] / 1e6:.1f} MB of JPEG at quality {quality}")


def unpack(src: str, dst: str) -> None:
    with np.load(src) as z:
        images = _decode_mosaics(z["jpeg"], z["offsets"], SIDE, int(z["count"]))
        np.savez(dst, images=images, **{k: z[k] for k in LABEL_KEYS})
    print(f"{dst}: {len(images)} faces")


def pack_wild(src: str, dst: str, quality: int) -> None:
    from ferlite.runtime.image import to_gray8  # here, not on the GPU machine, where unpack runs

    with np.load(src) as z:
        rows = np.flatnonzero(np.isin(z["split"], WILD_SPLITS))
        h, w = (int(v) for v in z["image_shape"][:2])
        side = _block_side(h, w)
        jpeg, offsets = z["jpeg"], z["offsets"]
        colour = int(z["image_shape"][2]) == 3
        faces = np.zeros((len(rows), side, side), np.uint8)
        for k, r in enumerate(rows):
            # Gray as ferlite's reader makes it (decoded in colour, then to_gray8), not libjpeg's own gray decoding.
            img = cv2.imdecode(jpeg[offsets[r] : offsets[r + 1]], cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
            faces[k, :h, :w] = to_gray8(img)
        mosaics, mosaic_offsets = _encode_mosaics(faces, side, quality)
        labels = {k: z[k][rows] for k in WILD_ROW_KEYS if k in z.files}
        labels.update({k: z[k] for k in WILD_FILE_KEYS if k in z.files})
    np.savez_compressed(  # the mosaics are JPEG already; the file names compress
        dst, mosaics=mosaics, mosaic_offsets=mosaic_offsets, count=len(rows), face_hw=np.array([h, w]), **labels
    )
    print(f"{dst}: {len(rows)} faces ({', '.join(WILD_SPLITS)}), {mosaic_offsets[-1] / 1e6:.1f} MB of JPEG at quality {quality}")


def unpack_wild(src: str, dst: str) -> None:
    with np.load(src) as z:
        h, w = (int(v) for v in z["face_hw"])
        faces = _decode_mosaics(z["mosaics"], z["mosaic_offsets"], _block_side(h, w), int(z["count"]))
        # PNG keeps the carried pixels exactly; the reader decodes any image format cv2.imdecode knows.
        pngs = [cv2.imencode(".png", f[:h, :w])[1].ravel() for f in faces]
        rest = {k: z[k] for k in (*WILD_ROW_KEYS, *WILD_FILE_KEYS) if k in z.files}
    np.savez(
        dst,
        jpeg=np.concatenate(pngs),
        offsets=np.cumsum([0] + [len(p) for p in pngs]).astype(np.int64),
        image_shape=np.array([h, w, 1], np.int16),
        **rest,
    )
    print(f"{dst}: {len(faces)} faces")


def _block_side(h: int, w: int) -> int:
    """A face's cell in a mosaic: its longer side rounded up to JPEG's 8x8 blocks, so no block spans two faces."""
    return -(-max(h, w) // 8) * 8


def _encode_mosaics(faces: np.ndarray, side: int, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """``faces`` (N, side, side) as JPEG mosaics of GRID x GRID: the bytes concatenated, and the offsets cutting them."""
    blobs = [
        cv2.imencode(".jpg", _to_mosaic(faces[i : i + GRID * GRID], side), [cv2.IMWRITE_JPEG_QUALITY, quality])[1].ravel()
        for i in range(0, len(faces), GRID * GRID)
    ]
    return np.concatenate(blobs), np.cumsum([0] + [len(b) for b in blobs])


def _decode_mosaics(blob: np.ndarray, offsets: np.ndarray, side: int, count: int) -> np.ndarray:
    """The first ``count`` faces of the mosaics that :func:`_encode_mosaics` wrote."""
    mosaics = [cv2.imdecode(blob[a:b], cv2.IMREAD_GRAYSCALE) for a, b in zip(offsets[:-1], offsets[1:])]
    return np.concatenate([_from_mosaic(m, side) for m in mosaics])[:count]


def _to_mosaic(faces: np.ndarray, side: int = SIDE) -> np.ndarray:
    padded = np.zeros((GRID * GRID, side, side), np.uint8)
    padded[: len(faces)] = faces
    return padded.reshape(GRID, GRID, side, side).transpose(0, 2, 1, 3).reshape(GRID * side, GRID * side)


def _from_mosaic(mosaic: np.ndarray, side: int = SIDE) -> np.ndarray:
    return mosaic.reshape(GRID, side, GRID, side).transpose(0, 2, 1, 3).reshape(GRID * GRID, side, side)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("pack", "unpack", "pack-wild", "unpack-wild"))
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--quality", type=int, default=93, help="JPEG quality for pack (default 93)")
    args = p.parse_args()
    if args.action.startswith("pack"):
        (pack if args.action == "pack" else pack_wild)(args.src, args.dst, args.quality)
    else:
        (unpack if args.action == "unpack" else unpack_wild)(args.src, args.dst)


if __name__ == "__main__":
    main()
