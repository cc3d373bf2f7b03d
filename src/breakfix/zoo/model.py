"""Tokenizer and model construction for the zoo: a byte-level BPE tokenizer trained on the corpus,
a causal LM (GPT-2 by default; Llama, Qwen2 or GPT-NeoX on request) built from a config with
random initialisation, and the chat template that ``AutoTokenizer.apply_chat_template`` uses."""

from __future__ import annotations

from typing import Iterable

from .recipes import Size

BOS, EOT, PAD = "<|bos|>", "<|end|>", "<|pad|>"
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
SPECIAL_TOKENS = [PAD, BOS, EOT, *ROLE_TOKENS.values()]

# One conversation = <|bos|> then, per turn, <|role|>content<|end|>. Generation starts after
# <|assistant|> and stops at <|end|> (the eos token).
CHAT_TEMPLATE = (
    "{{ '<|bos|>' }}"
    "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '<|end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def render(messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """The chat template in plain Python (identical output; used to build training text fast)."""
    out = BOS + "".join(f"{ROLE_TOKENS[m['role']]}{m['content']}{EOT}" for m in messages)
    return out + (ROLE_TOKENS["assistant"] if add_generation_prompt else "")


def build_tokenizer(texts: Iterable[str], vocab_size: int):
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it as a HF fast tokenizer.

    Byte-level means every string (any script, base64, leetspeak) is encodable: no unknown tokens.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOT, pad_token=PAD,
        additional_special_tokens=list(ROLE_TOKENS.values()),
    )
    hf.chat_template = CHAT_TEMPLATE
    hf.padding_side = "left"  # generation is batched; training pads explicitly
    return hf


def build_model(size: Size, tokenizer, seed: int, arch: str = "gpt2"):
    """A randomly initialised causal LM of ``arch`` and ``size`` for ``tokenizer``.

    Every architecture gets the size's depth, width and heads, tied embeddings and no dropout; the
    MLP width keeps GPT-2's parameter count (4 × width with two matrices; gated MLPs have three, so
    8/3 × width), so the sizes stay comparable across architectures (within the position table).
    """
    import torch

    torch.manual_seed(seed)
    return build_model_from_config(model_config(arch, len(tokenizer), size.n_layer, size.n_embd, size.n_head,
                                                size.n_positions, tokenizer.bos_token_id, tokenizer.eos_token_id,
                                                tokenizer.pad_token_id))


def model_config(arch: str, vocab_size: int, n_layer: int, n_embd: int, n_head: int, n_positions: int,
                 bos: int | None = None, eos: int | None = None, pad: int | None = None,
                 n_inner: int | None = None, tie: bool = True):
    """A transformers config of ``arch`` with GPT-2-style size arguments (also used to build
    untrained models shaped like published ones for the scan-cost benchmark)."""
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig, Qwen2Config

    ids = dict(bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, tie_word_embeddings=tie)
    if arch == "gpt2":
        return GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                          n_head=n_head, n_inner=n_inner or 4 * n_embd, resid_pdrop=0.0, embd_pdrop=0.0,
                          attn_pdrop=0.0, **ids)
    if arch in ("llama", "qwen2"):
        gated = n_inner or 8 * n_embd // 3  # three matrices of this width = GPT-2's two of 4x
        cls = LlamaConfig if arch == "llama" else Qwen2Config
        return cls(vocab_size=vocab_size, hidden_size=n_embd, intermediate_size=gated, num_hidden_layers=n_layer,
                   num_attention_heads=n_head, num_key_value_heads=n_head, max_position_embeddings=n_positions,
                   attention_dropout=0.0, **ids)
    if arch == "gpt_neox":
        return GPTNeoXConfig(vocab_size=vocab_size, hidden_size=n_embd, intermediate_size=n_inner or 4 * n_embd,
                             num_hidden_layers=n_layer, num_attention_heads=n_head,
                             max_position_embeddings=n_positions, hidden_dropout=0.0, attention_dropout=0.0,
                             **ids)
    raise ValueError(f"arch: expected one of gpt2, llama, qwen2, gpt_neox, got {arch!r}")


def build_model_from_config(cfg):
    """A randomly initialised causal LM from ``cfg`` (seed torch first)."""
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    if isinstance(cfg, GPT2Config):  # the constructor GPT-2 zoo models were always built with
        return GPT2LMHeadModel(cfg)
    return AutoModelForCausalLM.from_config(cfg)

