"""The polarity data set: parsing the Pang & Lee file and the seeded stratified split."""

import pytest

from lmgauge.errors import DatasetError
from lmgauge.sources.data import read_sentences, split_stratified


def write_corpus(path, positives: int, negatives: int) -> None:
    rows = [f'"1","a fine "" quoted "" film number {i} . \n"' for i in range(positives)]
    rows += [f'"-1","a dull film number {i} . \n"' for i in range(negatives)]
    path.write_text("\ufeff" + "\n".join(rows) + "\n", encoding="utf-8")


def test_read_maps_labels_and_strips(tmp_path):
    path = tmp_path / "corpus.csv"
    write_corpus(path, 3, 2)
    frame = read_sentences(path)
    assert list(frame["label"]) == [1, 1, 1, 0, 0]
    assert frame["text"][0] == 'a fine " quoted " film number 0 .'


def test_bad_labels_are_refused(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_text('"2","what"\n')
    with pytest.raises(DatasetError, match=r"labels \[2\]"):
        read_sentences(path)


def test_split_is_stratified_seeded_and_shaped_like_rotten_tomatoes(tmp_path):
    path = tmp_path / "corpus.csv"
    write_corpus(path, 100, 100)
    data = split_stratified(read_sentences(path))
    assert {name: split.num_rows for name, split in data.items()} == {
        "train": 160,
        "validation": 20,
        "test": 20,
    }
    for split in data.values():
        assert sum(split["label"]) * 2 == split.num_rows
        assert split.column_names == ["text", "label"]
    assert data["train"].features["label"].names == ["neg", "pos"]
    again = split_stratified(read_sentences(path))
    assert again["test"]["text"] == data["test"]["text"]
    assert not set(data["test"]["text"]) & set(data["train"]["text"])


def test_hub_style_data_sets_load_by_name_and_gain_a_validation_split(tmp_path):
    from lmgauge.sources.data import load_polarity

    folder = tmp_path / "reviews"
    folder.mkdir()
    rows = "\n".join(f"film {i} was {'good' if i % 2 else 'bad'},{i % 2}" for i in range(60))
    (folder / "train.csv").write_text("text,label\n" + rows + "\n")
    (folder / "test.csv").write_text("text,label\n" + rows + "\n")
    data = load_polarity(str(folder))
    assert set(data) == {"train", "validation", "test"}
    assert data["train"].num_rows + data["validation"].num_rows == 60


def test_data_sets_without_text_and_label_are_refused(tmp_path):
    from lmgauge.sources.data import load_polarity

    folder = tmp_path / "other"
    folder.mkdir()
    for split in ("train", "test"):
        (folder / f"{split}.csv").write_text("sentence,score\nhello,1\nbye,0\n")
    with pytest.raises(DatasetError, match=r"lacks columns \['label', 'text'\]"):
        load_polarity(str(folder))


def test_a_data_set_without_a_train_or_test_split_is_one_sentence(tmp_path):
    from lmgauge.sources.data import load_polarity

    folder = tmp_path / "only-test"
    folder.mkdir()
    rows = "\n".join(f"film {i},{i % 2}" for i in range(20))
    (folder / "test.csv").write_text("text,label\n" + rows + "\n")
    with pytest.raises(DatasetError, match=r"has no 'train' split \(it has: test\)"):
        load_polarity(str(folder))
