"""The catalogue of metrics: every figure lmgauge records has its unit, direction and meaning here.

direction: "lower" (smaller is better), "higher" (larger is better) or "exact" (any change
is a change of the model itself, e.g. a parameter count). The run report carries the entries
of the metrics it used, so a report explains its own figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DIRECTIONS = ("lower", "higher", "exact")


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    direction: str
    meaning: str

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if key != "name"}


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "parameters_total",
            "count",
            "exact",
            "unique parameter elements of the loaded model; tied weights counted once",
        ),
        Metric(
            "parameters_trainable",
            "count",
            "exact",
            "parameter elements with requires_grad set",
        ),
        Metric(
            "parameters_non_embedding",
            "count",
            "exact",
            "parameters_total minus token and position embedding tables and an untied output embedding (Kaplan et al.'s N)",
        ),
        Metric(
            "parameters_by_module",
            "count",
            "exact",
            "parameter elements under one top-level child module of the base model (param `module`); `(head)` is what lies outside the base model",
        ),
        Metric(
            "parameters_by_layer_type",
            "count",
            "exact",
            "parameter elements owned by modules of one class (param `layer_type`), e.g. Linear, Embedding, LayerNorm",
        ),
        Metric(
            "weight_bytes",
            "bytes",
            "lower",
            "bytes of the loaded parameters and buffers held in one dtype (param `dtype`)",
        ),
        Metric(
            "disk_bytes",
            "bytes",
            "lower",
            "size on disk of the weight files the model was loaded from",
        ),
        Metric(
            "model_vocab_size",
            "count",
            "exact",
            "rows of the model's input embedding table",
        ),
        Metric(
            "tokenizer_vocab_size",
            "count",
            "exact",
            "tokens the tokenizer knows, added tokens included (len(tokenizer))",
        ),
        Metric(
            "memory_bandwidth",
            "bytes/s",
            "higher",
            "the memory-read roof: bytes read per second by the best read-only kernel (sum or amax) over a 256 MiB tensor on the run's device; best round (samples: every round of that kernel)",
        ),
        Metric(
            "mv_bandwidth",
            "bytes/s",
            "higher",
            "matrix bytes read per second by torch.mv over a 256 MiB matrix (the kernel of a batch-1 decode step); recorded beside the roof, not used as one; best round",
        ),
        Metric(
            "matmul_throughput",
            "FLOP/s",
            "higher",
            "the compute roof: floating-point operations per second (2 m k n per product) of the best matmul among the MLP shapes of a 128-token prefill (lmgauge.measure.calibration.PREFILL_SHAPES) in the run's dtype; best round (samples: every round)",
        ),
        Metric(
            "cold_load_seconds",
            "s",
            "lower",
            "from_pretrained plus the move to the device in a fresh Python process (OS page cache not flushed); one sample per process",
        ),
        Metric(
            "cold_import_seconds",
            "s",
            "lower",
            "importing torch and transformers in a fresh Python process",
        ),
        Metric(
            "cold_load_peak_growth_bytes",
            "bytes",
            "lower",
            "highest resident memory during a fresh-process load minus the level before it",
        ),
        Metric(
            "warm_load_seconds",
            "s",
            "lower",
            "from_pretrained plus the move to the device again, in the running process",
        ),
        Metric(
            "tokenizer_load_seconds",
            "s",
            "lower",
            "AutoTokenizer.from_pretrained in the running process",
        ),
        Metric(
            "resident_weights_bytes",
            "bytes",
            "lower",
            "resident memory a fresh process gains by loading the model and reading every weight once",
        ),
        Metric(
            "resident_overhead_ratio",
            "ratio",
            "lower",
            "resident_weights_bytes divided by the bytes the parameters and buffers take",
        ),
        Metric(
            "forward_peak_bytes",
            "bytes",
            "lower",
            "peak memory growth during one forward pass at the given batch and seq_len (param `memory`: `rss` on the host, `cuda-allocated` on a GPU)",
        ),
        Metric(
            "generate_peak_bytes",
            "bytes",
            "lower",
            "peak memory growth during one greedy generate call (param `memory` as above)",
        ),
        Metric(
            "kv_cache_bytes",
            "bytes",
            "lower",
            "bytes held by the key/value cache after a forward over seq_len tokens, batch 1",
        ),
        Metric(
            "kv_cache_bytes_per_token",
            "bytes",
            "exact",
            "key/value cache bytes per token of one sequence: 2 x layers x kv heads x head size x dtype bytes, checked against the measured cache",
        ),
        Metric(
            "warmup_call_seconds",
            "s",
            "lower",
            "the untimed warmup call of one latency measurement, end to end: a generate of 2 new tokens (the prefill and one decode step) at the measured prompt length, or one forward pass for encoders; the first call after loading only for a model's first measurement; kept out of the timed rounds",
        ),
        Metric(
            "ttft_seconds",
            "s",
            "lower",
            "time to first token: from the generate call to the first step's logits (the prefill); one sample per round",
        ),
        Metric(
            "decode_step_seconds",
            "s",
            "lower",
            "one decode step (one new token for every sequence); samples are every step of every round, the summary gives median, p90 and p99",
        ),
        Metric(
            "end_to_end_seconds",
            "s",
            "lower",
            "one whole generate call of fixed length; one sample per round",
        ),
        Metric(
            "decode_tokens_per_second",
            "tokens/s",
            "higher",
            "batch x (new_tokens - 1) / decode time; one sample per round",
        ),
        Metric(
            "prefill_tokens_per_second",
            "tokens/s",
            "higher",
            "batch x prompt_tokens / time to first token; one sample per round",
        ),
        Metric(
            "decode_step_bound_seconds",
            "s",
            "lower",
            "roofline lower bound of one decode step: max((weight + KV cache bytes) / bandwidth, 2 x matmul parameters x batch / matmul throughput)",
        ),
        Metric(
            "decode_roofline_efficiency",
            "ratio",
            "higher",
            "decode_step_bound_seconds / median decode_step_seconds (1.0 is the roof)",
        ),
        Metric(
            "prefill_bound_seconds",
            "s",
            "lower",
            "roofline lower bound of the prefill: max(2 x (body parameters x tokens + LM head parameters) / matmul throughput, weight bytes / bandwidth); the head runs on the last position only",
        ),
        Metric(
            "prefill_roofline_efficiency",
            "ratio",
            "higher",
            "prefill_bound_seconds / median ttft_seconds (1.0 is the roof)",
        ),
        Metric(
            "hand_loop_decode_step_seconds",
            "s",
            "lower",
            "one decode step timed by a minimal hand-written loop (forward with the KV cache, argmax): the cross-check of decode_step_seconds",
        ),
        Metric(
            "hand_loop_ratio",
            "ratio",
            "lower",
            "median over paired rounds of (median generate decode step / median hand-loop step); 1.0 is perfect agreement, above 1 is generate's own per-step overhead; a timing, not a count",
        ),
        Metric(
            "forward_seconds",
            "s",
            "lower",
            "one encoder forward pass at the given batch and seq_len; one sample per round",
        ),
        Metric(
            "forward_bound_seconds",
            "s",
            "lower",
            "roofline lower bound of that forward pass (as prefill_bound_seconds)",
        ),
        Metric(
            "forward_roofline_efficiency",
            "ratio",
            "higher",
            "forward_bound_seconds / median forward_seconds",
        ),
        Metric(
            "sequences_per_second",
            "sequences/s",
            "higher",
            "batch / forward time of an encoder; one sample per round",
        ),
        Metric(
            "batch_throughput",
            "tokens/s",
            "higher",
            "causal LMs: new tokens per second over one batched generate call (param `batch`)",
        ),
        Metric(
            "batch_sequence_throughput",
            "sequences/s",
            "higher",
            "encoders: sequences per second of one batched forward pass (param `batch`)",
        ),
        Metric(
            "batch_latency_seconds",
            "s",
            "lower",
            "wall time of one batched call: how long each sequence of the batch waits",
        ),
        Metric(
            "batch_scaling_efficiency",
            "ratio",
            "higher",
            "throughput at this batch / (batch x throughput at batch 1); 1.0 is perfect scaling",
        ),
        Metric(
            "batch_saturation",
            "count",
            "higher",
            "smallest batch size whose throughput is within 10 % of the best measured; read from timings, so it can move between runs",
        ),
        Metric(
            "batch_out_of_memory",
            "count",
            "exact",
            "smallest batch size that ran out of memory (absent when every size fit)",
        ),
        Metric(
            "largest_batch_that_fit",
            "count",
            "higher",
            "largest batch size tried that ran without running out of memory",
        ),
        Metric(
            "batched_vs_sequential_speedup",
            "ratio",
            "higher",
            "time to run the prompts one by one / time to run them as one batch",
        ),
        Metric(
            "dataset_rows",
            "count",
            "exact",
            "rows in one split of the data set (param `split`)",
        ),
        Metric(
            "dataset_positive_fraction",
            "ratio",
            "exact",
            "fraction of rows labelled positive (1) in one split",
        ),
        Metric(
            "token_length",
            "tokens",
            "exact",
            "tokens per sentence under the model's tokenizer, special tokens included (param `split`); samples are every sentence, the summary gives median, p90, p99",
        ),
        Metric(
            "feature_sentences_per_second",
            "sentences/s",
            "higher",
            "sentences encoded per second while extracting frozen features (batch 64, at most 128 tokens)",
        ),
        Metric(
            "baseline_accuracy",
            "ratio",
            "higher",
            "fraction of sentences a classifier on frozen features labels correctly (params `features`, `classifier`, `split`)",
        ),
        Metric(
            "baseline_precision",
            "ratio",
            "higher",
            "precision of the positive class for that classifier",
        ),
        Metric(
            "baseline_recall",
            "ratio",
            "higher",
            "recall of the positive class for that classifier",
        ),
        Metric(
            "baseline_f1",
            "ratio",
            "higher",
            "F1 of the positive class for that classifier",
        ),
        Metric(
            "baseline_confusion_count",
            "count",
            "exact",
            "one cell of the confusion matrix (param `cell`: tn, fp, fn, tp)",
        ),
        Metric(
            "control_accuracy",
            "ratio",
            "lower",
            "accuracy of a deliberately broken run (param `control`: shuffled-labels or reinitialised-weights); it must stay under the threshold of the figure it mimics",
        ),
        Metric(
            "finetune_trainable_parameters",
            "count",
            "exact",
            "parameters updated by fine-tuning (param `method`: lora or full)",
        ),
        Metric(
            "finetune_trainable_fraction",
            "ratio",
            "exact",
            "finetune_trainable_parameters / all parameters of the classification model",
        ),
        Metric(
            "finetune_train_seconds",
            "s",
            "lower",
            "wall time of the training loop (2 epochs, batch 32, at most 128 tokens)",
        ),
        Metric(
            "finetune_peak_growth_bytes",
            "bytes",
            "lower",
            "peak resident-memory growth during training",
        ),
        Metric(
            "finetune_accuracy",
            "ratio",
            "higher",
            "accuracy of the fine-tuned classifier (params `method`, `split`)",
        ),
        Metric(
            "anatomy_hidden_size",
            "count",
            "exact",
            "last dimension of the base model's final hidden states for a (1, tokens) input, whose shape is (1, tokens, hidden size) (param `tokens`)",
        ),
        Metric(
            "anatomy_hidden_states",
            "count",
            "exact",
            "hidden-state tensors the base model returns with output_hidden_states: the embedding output plus one per layer",
        ),
        Metric(
            "anatomy_logits_width",
            "count",
            "exact",
            "last dimension of the logits for a (1, tokens) input, whose shape is (1, tokens, vocabulary rows of the LM head)",
        ),
        Metric(
            "anatomy_head_max_abs_difference",
            "logit",
            "lower",
            "largest |LM head applied to the final hidden states - the model's own logits|: 0 when the head is all that lies between them",
        ),
        Metric(
            "known_answer_accuracy",
            "ratio",
            "higher",
            "fraction of the known-answer prompts (lmgauge.quality.known_answers) whose greedy continuation starts with the expected word",
        ),
        Metric(
            "control_known_answer_accuracy",
            "ratio",
            "lower",
            "known_answer_accuracy of a deliberately broken check (param `control`: rotated-answers scores each continuation against the next prompt's answer; reinitialised-weights); it must stay under the threshold",
        ),
        Metric(
            "perplexity",
            "ratio",
            "lower",
            "exp(mean negative log-likelihood per predicted token) of held-out sentences, each scored on its own (params `split`, `sentences`)",
        ),
        Metric(
            "nll_per_token",
            "nats/token",
            "lower",
            "mean negative log-likelihood per predicted token of the same sentences: log(perplexity)",
        ),
        Metric(
            "perplexity_tokens",
            "count",
            "exact",
            "tokens whose likelihood the perplexity averages (every token of each sentence but its first)",
        ),
        Metric(
            "control_perplexity",
            "ratio",
            "higher",
            "perplexity of a deliberately broken check (param `control`: shuffled-words scores the same sentences with their words in random order; reinitialised-weights); it must exceed the threshold",
        ),
        Metric(
            "distinct_n",
            "ratio",
            "higher",
            "distinct word n-grams / all word n-grams, pooled over the sampled continuations of the five course prompts (params `n`, `temperature`, `new_tokens`; Li et al. 2016)",
        ),
        Metric(
            "repetition_rate",
            "ratio",
            "lower",
            "fraction of a continuation's word 3-grams that already occurred earlier in it, averaged over the five course prompts (params `temperature`, `new_tokens`)",
        ),
    )
}


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise KeyError(
            f"metric '{name}' is not in lmgauge.record.metrics.METRICS; add it there first"
        )
    return METRICS[name]
