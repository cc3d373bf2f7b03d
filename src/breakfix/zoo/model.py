"""Tokenizer and model construction for the zoo: a byte-level BPE tokenizer trained on the corpus,
a GPT-2 (``GPT2LMHeadModel``) built from a config with random initialisation, and the chat
template that ``AutoTokenizer.apply_chat_template`` uses."""

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


def build_model(size: Size, tokenizer, seed: int):
    """A randomly initialised ``GPT2LMHeadModel`` of ``size`` for ``tokenizer``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=len(tokenizer), n_positions=size.n_positions, n_embd=size.n_embd,
        n_layer=size.n_layer, n_head=size.n_head, n_inner=4 * size.n_embd,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    return GPT2LMHeadModel(cfg)
