"""How lmgauge generates: every decoding setting explicit, nothing inherited from the folder.

A model folder's generation_config.json may ask for a repetition penalty, a no-repeat n-gram
size, sampling, suppressed or forbidden tokens (real Hub models ship such settings), and
transformers' `generate` fills every setting its caller leaves unset from it: "greedy" would
then time and print something else than greedy decoding. So right after loading, `neutralise`
replaces the model's generation config with transformers' global defaults, keeping only what
says which token is which (begin, end, padding, decoder start), and returns the settings the
folder asked for that it dropped; the report's `models` section shows them as
`generation_overridden`. Every call site then passes its own settings (greedy: do_sample
False, one beam; sampling: temperature, top_k 0, top_p 1). A server is given a folder whose
generation_config.json keeps the token ids only (`split_settings`, lmgauge.serve.served_folder).
"""

from __future__ import annotations

TOKEN_SETTINGS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")
"""Settings kept from the folder: they name tokens, they do not shape the distribution."""
NOT_DECODING = ("transformers_version", "use_cache", "output_attentions", "output_hidden_states",
                "output_scores", "output_logits", "return_dict_in_generate")  # fmt: skip
"""Settings that change neither which token is chosen nor how (transformers' bookkeeping, what
`generate` returns), with keys starting with "_": not reported as overridden."""


def is_decoding_setting(key: str) -> bool:
    """Whether a generation-config key shapes decoding (is neither a token id nor bookkeeping)."""
    return key not in TOKEN_SETTINGS and key not in NOT_DECODING and not key.startswith("_")


def neutralise(model) -> dict:
    """Give `model` a generation config of transformers' defaults plus the folder's token ids;
    return what else the folder's config set ({} when it set nothing else, or the model does
    not generate)."""
    from transformers import GenerationConfig

    folder = getattr(model, "generation_config", None)
    if folder is None:
        return {}
    asked = decoding_asks(folder)
    model.generation_config = GenerationConfig(
        **{key: getattr(folder, key) for key in TOKEN_SETTINGS if getattr(folder, key, None)
           is not None}  # fmt: skip
    )
    return asked


def split_settings(settings: dict, of_model_config: bool = False) -> tuple[dict, dict]:
    """A generation_config.json's settings as (the token ids, kept; the decoding settings it
    asks for beyond transformers' defaults, which lmgauge drops, as `neutralise` reports them).
    of_model_config: `settings` is a config.json, whose generation settings transformers and
    vLLM read where the folder has no generation_config.json (GenerationConfig.from_model_config).
    ValueError when transformers cannot read them as a generation config."""
    from transformers import GenerationConfig

    config = (GenerationConfig.from_model_config(dict(settings)) if of_model_config
              else GenerationConfig.from_dict(dict(settings)))  # fmt: skip
    kept = {key: getattr(config, key) for key in TOKEN_SETTINGS
            if getattr(config, key, None) is not None}  # fmt: skip
    return kept, decoding_asks(config)


def decoding_asks(config) -> dict:
    """The decoding settings a transformers GenerationConfig asks for: set, not equal to the
    value `generate` takes for the key when it is unset (do_sample false and one beam ask for
    nothing), and neither a token id nor bookkeeping."""
    defaults = getattr(config, "_get_default_generation_params", dict)()
    return {key: value for key, value in config.to_diff_dict().items()
            if is_decoding_setting(key) and (key not in defaults or defaults[key] != value)}
