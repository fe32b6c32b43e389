"""Data: readers, splits, balancing and the train/eval presets."""

from .balance import BalancePlan, apply_balance, balance_classes
from .readers import (
    DataError,
    FaceDataset,
    ferplus_targets,
    read_fer2013_csv,
    read_fer2013_npz,
    read_ferplus,
    read_image_folder,
    read_packed_jpeg_npz,
    stratified_split,
)
from .sources import DATASETS, SPLITS, load_dataset

__all__ = [
    "BalancePlan",
    "DATASETS",
    "DataError",
    "FaceDataset",
    "SPLITS",
    "apply_balance",
    "balance_classes",
    "ferplus_targets",
    "load_dataset",
    "read_fer2013_csv",
    "read_fer2013_npz",
    "read_ferplus",
    "read_image_folder",
    "read_packed_jpeg_npz",
    "stratified_split",
]
