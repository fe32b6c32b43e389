"""Train and eval presets (torchvision-reference style), built on albumentations.

Both presets take the model's :class:`~ferlite.models.ModelSpec` so that training,
evaluation and export share one normalisation. Input: a uint8 face, gray (H, W) or BGR (H, W, 3).
Output: float32 (3, S, S): for ``gray2rgb`` models the gray face repeated to RGB as the reference did, for
``rgb`` models the face's own colours (a gray face repeated).
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np

from ..core.spec import COLOR_MODES, ModelSpec


class _Preset:
    def __init__(self, ops: list, cfg: ModelSpec) -> None:
        self.transform = A.Compose(ops)
        self.color = cfg.takes_colour

    def __call__(self, face: np.ndarray) -> np.ndarray:
        # Gray models see every face gray, as the runtime makes it; colour models get RGB, a gray face repeated.
        if self.color:
            face = cv2.cvtColor(face, cv2.COLOR_GRAY2RGB if face.ndim == 2 else cv2.COLOR_BGR2RGB)
        elif face.ndim == 3:
            face = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
        out = self.transform(image=face)["image"]
        return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


class ClassificationPresetEval(_Preset):
    """Resize, gray -> RGB (or BGR -> RGB for ``rgb`` models), normalise. Deterministic.

    Example:
        >>> t = ClassificationPresetEval(ModelSpec(input_size=96))
        >>> t(np.zeros((48, 48), np.uint8)).shape
        (3, 96, 96)
    """

    def __init__(self, cfg: ModelSpec) -> None:
        super().__init__(_resize_and_normalize(cfg), cfg)


class ClassificationPresetTrain(_Preset):
    """Random flip, rotation, shift/scale, brightness/contrast and erasing, then the eval steps.

    Geometric and photometric changes act on the native-resolution face before the
    resize, which is cheaper and avoids resampling the image twice.

    Args:
        cfg: the model's input config.
        hflip_prob: probability of a horizontal flip (faces are near-symmetric).
        rotate: maximum rotation in degrees.
        shift: maximum translation as a fraction of the side.
        scale: maximum zoom in or out as a fraction.
        brightness_contrast: maximum relative brightness and contrast change.
        random_erase_prob: probability of erasing a random rectangle (occlusion robustness).
        downscale_prob: probability of shrinking the face to a random side of 32-64 px and back to the input size,
            so that one model works on tiny faces (FER2013's 48 px, a far face in a video) and on sharp ones.
        gray_prob: ``rgb`` models only: probability of making a colour face gray, so that the model does not come
            to need colour (gray cameras, the gray training sources) and leans less on skin tone and white balance.
        hue_saturation: ``rgb`` models only: the largest hue shift (OpenCV units of 2 degrees) and saturation
            change (of 255) applied to half the faces, for cameras' and lights' colour casts.

    Example:
        >>> t = ClassificationPresetTrain(ModelSpec(input_size=64))
        >>> t(np.zeros((48, 48), np.uint8)).shape
        (3, 64, 64)
    """

    def __init__(
        self,
        cfg: ModelSpec,
        *,
        hflip_prob: float = 0.5,
        rotate: float = 12.0,
        shift: float = 0.08,
        scale: float = 0.12,
        brightness_contrast: float = 0.3,
        random_erase_prob: float = 0.25,
        downscale_prob: float = 0.0,
        gray_prob: float = 0.2,
        hue_saturation: tuple[int, int] = (6, 25),
    ) -> None:
        ops = [
            A.HorizontalFlip(p=hflip_prob),
            A.Affine(
                scale=(1 - scale, 1 + scale),
                translate_percent=(-shift, shift),
                rotate=(-rotate, rotate),
                border_mode=cv2.BORDER_REFLECT_101,
                p=0.9,
            ),
            A.RandomBrightnessContrast(brightness_contrast, brightness_contrast, p=0.8),
        ]
        if cfg.takes_colour:
            hue, saturation = hue_saturation
            ops += [
                A.HueSaturationValue(hue_shift_limit=hue, sat_shift_limit=saturation, val_shift_limit=0, p=0.5),
                A.ToGray(num_output_channels=3, p=gray_prob),
            ]
        resize, *normalize = _resize_and_normalize(cfg)
        ops.append(resize)
        if downscale_prob > 0:
            side = cfg.input_size
            ops.append(
                A.Downscale(
                    scale_range=(min(1.0, 32 / side), min(1.0, 64 / side)),
                    p=downscale_prob,
                    interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR},
                )
            )
        ops += normalize
        ops.append(A.Erasing(scale=(0.02, 0.2), fill=0, p=random_erase_prob))
        super().__init__(ops, cfg)


def _resize_and_normalize(cfg: ModelSpec) -> list:
    if cfg.color_mode not in COLOR_MODES:
        raise ValueError(f"unsupported color mode {cfg.color_mode!r}; ferlite models take {', '.join(COLOR_MODES)}")
    # An rgb model's faces are RGB already (_Preset.__call__); a gray model's gray face is repeated here.
    to_rgb = [A.ToRGB(num_output_channels=3)] if cfg.color_mode == "gray2rgb" else []
    return [
        A.Resize(cfg.input_size, cfg.input_size, interpolation=cv2.INTER_LINEAR),
        *to_rgb,
        A.Normalize(mean=cfg.mean, std=cfg.std, max_pixel_value=255.0),
    ]
