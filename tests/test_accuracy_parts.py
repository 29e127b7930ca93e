"""Features, classifier scores and the thresholds file, on tiny inputs."""

import numpy as np
import pytest

from lmgauge import compute
from lmgauge.quality import baselines
from lmgauge.quality.features import extract
from lmgauge.quality.thresholds import find, load_thresholds
from lmgauge.sources import loading, models
from tests.conftest import PROJECT

SENTENCES = ["the film was good .", "bad", "a very dull plot and awful actors .", "fun"]


def test_features_keep_sentence_order_and_ignore_padding(tiny_bert_dir, tiny_gpt2_dir):
    for folder in (tiny_bert_dir, tiny_gpt2_dir):
        loaded = loading.load(
            models.resolve(str(folder)),
            compute.resolve_device("cpu"),
            compute.resolve_dtype("float32"),
        )
        together = extract(loaded, SENTENCES, batch_size=4)
        alone = [extract(loaded, [text]) for text in SENTENCES]
        for pooling, matrix in together.pooled.items():
            assert matrix.shape == (4, 32)
            for row, single in enumerate(alone):
                np.testing.assert_allclose(matrix[row], single.pooled[pooling][0], atol=1e-5)
        assert together.sentences == 4


def test_a_subset_of_features_is_the_same_rows_and_its_share_of_the_time(tiny_bert_dir):
    loaded = loading.load(models.resolve(str(tiny_bert_dir)), compute.resolve_device("cpu"),
                          compute.resolve_dtype("float32"))  # fmt: skip
    whole = extract(loaded, SENTENCES)
    part = whole.rows([3, 1])
    for pooling, matrix in part.pooled.items():
        np.testing.assert_array_equal(matrix, whole.pooled[pooling][[3, 1]])
    assert part.sentences == 2 and part.seconds == pytest.approx(whole.seconds / 2)


def test_a_stratified_subset_keeps_the_label_shares_and_its_seed():
    from lmgauge.sources.data import stratified_rows

    labels = [0] * 300 + [1] * 100
    rows = stratified_rows(labels, 80)
    assert len(rows) == 80 and rows == sorted(set(rows))
    assert sum(labels[index] for index in rows) == 20, "a quarter positive, as in the whole"
    assert rows == stratified_rows(labels, 80), "seeded"
    assert rows != stratified_rows(labels, 80, seed=1)
    assert stratified_rows(labels, 400) == list(range(400)) == stratified_rows(labels, 1000)
    rare = stratified_rows([0] * 99 + [1], 10)
    assert len(rare) == 10 == len(set(rare)), "a label too rare to stratify by: drawn seeded"


def test_scores_of_known_predictions():
    score = baselines.scores([1, 1, 0, 0], [1, 0, 0, 1])
    assert score["accuracy"] == 0.5 and score["precision"] == 0.5 and score["recall"] == 0.5
    assert score["confusion"] == [[1, 1], [1, 1]]


def test_classifiers_learn_a_separable_problem():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 1, (50, 3)), rng.normal(2, 1, (50, 3))])
    y = np.array([0] * 50 + [1] * 50)
    for name in baselines.CLASSIFIERS:
        assert baselines.fit_and_score(name, x, y, {"train": (x, y)})["train"]["accuracy"] > 0.95
    with pytest.raises(ValueError, match="unknown classifier"):
        baselines.make_classifier("forest")


def test_the_shipped_thresholds_load_and_have_reasons():
    thresholds = load_thresholds(PROJECT / "benches" / "thresholds.toml")
    assert thresholds and all(t.reason for t in thresholds)
    accuracy = [t for t in thresholds if "accuracy" in t.metric]
    assert accuracy and all(0.5 < t.min < 1 for t in accuracy)
    found = find(
        thresholds,
        "minilm-l6",
        "baseline_accuracy",
        features="cls",
        classifier="svm-rbf",
        split="test",
    )
    assert found is not None and found.passes(0.75) and not found.passes(0.6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 4\n", "version 4; lmgauge reads versions 1, 2, 3"),
        ("version = 1\n[[threshold]]\nmodel = 'x'\nmetric = 'y'\n", "lacks min or max, reason"),
        ("version = [\n", "cannot read thresholds"),
    ],
)
def test_malformed_thresholds_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "thresholds.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_thresholds(path)


def test_query_and_value_projections_are_found_from_the_architecture(tiny_bert_dir):
    from transformers import AutoModelForSequenceClassification, LlamaConfig, LlamaForCausalLM

    from lmgauge.quality.finetune import attention_projections

    bert = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=2)
    assert attention_projections(bert) == (["query", "value"], "PEFT's target map for 'bert'")
    config = LlamaConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        vocab_size=32,
    )
    assert attention_projections(LlamaForCausalLM(config))[0] == ["q_proj", "v_proj"]


def test_lora_finds_deberta_v2_and_funnel_projections():
    """DeBERTa-v2 names them query_proj/value_proj (PEFT's map knows); Funnel q_head/v_head
    (found by name). Both failed with 'no separate query/value projections' before."""
    from transformers import (
        DebertaV2Config,
        DebertaV2ForSequenceClassification,
        FunnelConfig,
        FunnelForSequenceClassification,
    )

    from lmgauge.quality.finetune import attention_projections

    small = {"vocab_size": 64, "hidden_size": 16, "num_attention_heads": 2,
             "intermediate_size": 32}  # fmt: skip
    deberta = DebertaV2ForSequenceClassification(DebertaV2Config(num_hidden_layers=1, **small))
    assert attention_projections(deberta) == (
        ["query_proj", "value_proj"], "PEFT's target map for 'deberta-v2'"
    )
    funnel = FunnelForSequenceClassification(FunnelConfig(
        vocab_size=64, d_model=16, n_head=2, d_head=8, d_inner=32, block_sizes=[1, 1]))
    assert attention_projections(funnel) == (
        ["q_head", "v_head"], "query/value projections found by name"
    )


@pytest.mark.parametrize("method", ["lora", "full"])
def test_fine_tuning_a_tiny_encoder(tiny_bert_dir, method, monkeypatch):
    """Also: the training time is read after the device synchronised (as on CUDA), and the
    seeded run leaves torch's global generator as it was."""
    import torch
    from datasets import Dataset, DatasetDict

    from lmgauge.measure import timing
    from lmgauge.quality.finetune import FineTuneSettings, fine_tune

    synchronised = []
    real_synchronizer = timing.synchronizer

    def watched(device):
        sync = real_synchronizer(device)
        return lambda: (synchronised.append(device), sync())

    monkeypatch.setattr(timing, "synchronizer", watched)

    rows = {"text": ["good fun film", "bad dull plot"] * 8, "label": [1, 0] * 8}
    data = DatasetDict(
        train=Dataset.from_dict(rows),
        validation=Dataset.from_dict(rows),
        test=Dataset.from_dict(rows),
    )
    settings = FineTuneSettings(method=method, epochs=1, batch_size=8, learning_rate=1e-3)
    torch.manual_seed(1234)
    generator = torch.random.get_rng_state()
    result = fine_tune(tiny_bert_dir, data, settings, torch.device("cpu"))
    assert torch.equal(torch.random.get_rng_state(), generator), "fine-tuning reseeded torch"
    assert synchronised == [torch.device("cpu")] * 2, "train time read without a synchronize"
    assert 0 < result.trainable <= result.total
    assert (result.trainable < result.total) == (method == "lora")
    assert set(result.scores) == {"validation", "test"}
    assert len(result.step_s) == len(result.step_tokens) == 2, "one figure per optimizer step"
    assert all(seconds > 0 for seconds in result.step_s) and min(result.step_tokens) >= 8 * 3
