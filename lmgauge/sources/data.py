"""The sentence-polarity data set as a `datasets.DatasetDict` shaped like the Hub's rotten_tomatoes.

Offline it is built from the Pang & Lee sentence file of the embedded assets: 4000 sentences,
half positive, split stratified and seeded into train/validation/test (80/10/10 by default).
Columns: `text` (str) and `label` (ClassLabel: 0 "neg", 1 "pos").
"""

from __future__ import annotations

from pathlib import Path

from lmgauge.errors import DatasetError, first_line
from lmgauge.sources import assets

EMBEDDED_DATASET = "pang-lee-polarity"
SENTENCES_FILE = "polarity-en-pang&lee2.csv"
LABEL_NAMES = ("neg", "pos")
SPLIT_SEED = 42


def read_sentences(path: Path):
    """The Pang & Lee sentence file as a pandas DataFrame with `text` and `label` (0/1) columns.

    The file has no header; its rows are `"1","sentence"` (positive) or `"-1","sentence"`.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(
            path,
            header=None,
            names=["label", "text"],
            encoding="utf-8-sig",
            dtype={"label": "int64", "text": "string"},
            keep_default_na=False,
        )
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read the polarity file {path}: {error}.") from None
    unexpected = sorted(set(frame["label"]) - {1, -1})
    if unexpected:
        raise DatasetError(f"{path} has labels {unexpected}; expected only 1 and -1.")
    frame["text"] = frame["text"].str.strip()
    frame["label"] = (frame["label"] == 1).astype("int64")
    return frame[["text", "label"]]


def split_stratified(frame, validation: float = 0.1, test: float = 0.1, seed: int = SPLIT_SEED):
    """A DatasetDict with train/validation/test drawn stratified by label with a fixed seed."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    from sklearn.model_selection import train_test_split

    held_out = validation + test
    train, rest = train_test_split(
        frame, test_size=held_out, stratify=frame["label"], random_state=seed
    )
    valid, test_part = train_test_split(
        rest, test_size=test / held_out, stratify=rest["label"], random_state=seed
    )
    features = Features({"text": Value("string"), "label": ClassLabel(names=list(LABEL_NAMES))})

    def to_dataset(part):
        part = part.reset_index(drop=True).astype({"text": "object"})
        return Dataset.from_pandas(part, features=features, preserve_index=False)

    return DatasetDict(
        train=to_dataset(train), validation=to_dataset(valid), test=to_dataset(test_part)
    )


def stratified_rows(labels, count: int, seed: int = SPLIT_SEED) -> list[int]:
    """The indices (ascending) of `count` rows drawn stratified by `labels` with a fixed seed,
    so that the subset keeps the labels' shares (drawn seeded but not stratified when a label
    is too rare to stratify by); every index when `count` covers them all."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    if count >= len(labels):
        return list(range(len(labels)))
    try:
        chosen, _ = train_test_split(
            np.arange(len(labels)), train_size=count, stratify=labels, random_state=seed
        )
    except ValueError:  # a label with a single row, or fewer rows per label than labels
        chosen = np.random.default_rng(seed).choice(len(labels), size=count, replace=False)
    return sorted(int(index) for index in chosen)


def load_embedded_polarity():
    """The embedded Pang & Lee sentence polarity data, split 80/10/10."""
    folder = assets.ensure(EMBEDDED_DATASET)
    return split_stratified(read_sentences(folder / SENTENCES_FILE))


def load_hub_dataset(name: str):
    """A Hub data set with `text` and `label` columns (e.g. rotten_tomatoes) as a DatasetDict.

    A data set without a validation split gets one carved from train (10 %, stratified); a
    plain integer label column becomes a ClassLabel first.
    """
    from datasets import ClassLabel, load_dataset

    try:
        data = load_dataset(name)
    except Exception as error:  # noqa: BLE001 - every failure becomes one sentence
        raise DatasetError(
            f"could not load data set '{name}' ({type(error).__name__}: {first_line(error)}); "
            f"check the name and your network, or use the embedded default."
        ) from None
    for needed in ("train", "test"):
        if needed not in data:
            raise DatasetError(
                f"data set '{name}' has no '{needed}' split (it has: {', '.join(data)}); "
                f"lmgauge trains baselines on train and scores them on test."
            )
    for split_name, split in data.items():
        missing = {"text", "label"} - set(split.column_names)
        if missing:
            raise DatasetError(
                f"data set '{name}' split '{split_name}' lacks columns "
                f"{sorted(missing)}; lmgauge needs `text` and `label`."
            )
    if not isinstance(data["train"].features["label"], ClassLabel):
        data = data.class_encode_column("label")
    if "validation" not in data:
        parts = data["train"].train_test_split(
            test_size=0.1, stratify_by_column="label", seed=SPLIT_SEED
        )
        data["train"], data["validation"] = parts["train"], parts["test"]
    return data


def load_polarity(name: str = EMBEDDED_DATASET):
    """The data set named by --dataset: the embedded default, or a Hub data set name."""
    if name == EMBEDDED_DATASET:
        return load_embedded_polarity()
    return load_hub_dataset(name)
