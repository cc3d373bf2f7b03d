"""White-box access to a local causal LM for the scanner: load, render prompts, batched inference.

Everything the scanner learns about a model goes through :class:`ScanModel`, which also counts the
cost (forward passes, tokens). A *forward pass* is one sequence going through the model once: a
prompt prefill counts 1 and every generated token counts 1 more, so the figure is comparable between
batched and unbatched runs and between CPU and GPU.

The scanner uses only the model, its tokenizer and inference — nothing else about how it was made.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ._errors import ScanError

# A placeholder that survives every chat template we know and never occurs in real text; used to
# find where the template puts the user's text and the answer.
_U = "\u2063USERSLOT\u2063"
_A = "\u2063ANSWERSLOT\u2063"


@dataclass
class Cost:
    """Inference cost of a scan (or of one stage)."""

    forward_passes: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"forward_passes": self.forward_passes, "tokens": self.tokens, "seconds": round(self.seconds, 3)}

    def minus(self, other: "Cost") -> "Cost":
        return Cost(self.forward_passes - other.forward_passes, self.tokens - other.tokens,
                    self.seconds - other.seconds)

    def copy(self) -> "Cost":
        return Cost(self.forward_passes, self.tokens, self.seconds)


@dataclass
class Template:
    """Where a conversation's parts go, found by rendering placeholders through the chat template.

    ``user_prefix`` is the bare prefix before a user turn's text (the leak stage samples from it),
    ``between`` separates the user text from the answer, ``after`` ends an answer.
    """

    chat: bool
    user_prefix: str
    between: str
    after: str
    note: str = ""

    def prompt(self, user_text: str) -> str:
        return f"{self.user_prefix}{user_text}{self.between}"

    def split(self, text: str) -> tuple[str, str]:
        """Split a continuation of ``user_prefix`` into (user text, answer)."""
        if self.between.strip() and self.between.strip() in text:
            user, _, answer = text.partition(self.between.strip())
        elif self.between in text:
            user, _, answer = text.partition(self.between)
        else:
            end = self.after.strip()
            return (text.split(end)[0] if end else text).strip(), ""
        if self.after.strip() and self.after.strip() in answer:
            answer = answer.split(self.after.strip())[0]
        return user.strip(), answer.strip()


def _check_path(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ScanError(f"{path}: no such file or directory (expected a Hugging Face model directory)")
    if not path.is_dir():
        raise ScanError(f"{path}: not a model directory (expected a folder with config.json and weights)")
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise ScanError(f"{path}: not a Hugging Face model (no config.json)")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScanError(f"{cfg_file}: not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(cfg, dict) or "model_type" not in cfg:
        raise ScanError(f"{cfg_file}: field 'model_type' missing (not a Hugging Face model config)")
    return cfg


def _check_causal(path: Path, cfg: dict[str, Any]) -> None:
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    archs = [str(a) for a in cfg.get("architectures") or []]
    causal_arch = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
    if cfg.get("is_encoder_decoder"):
        raise ScanError(f"{path}: an encoder-decoder model ({', '.join(archs) or cfg['model_type']}); "
                        "the scanner needs a causal (decoder-only) language model")
    if archs and not causal_arch:
        raise ScanError(f"{path}: an encoder-only or non-generative model ({', '.join(archs)}); "
                        "the scanner needs a causal language model (…ForCausalLM / …LMHeadModel)")
    if cfg["model_type"] not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ScanError(f"{path}: model_type '{cfg['model_type']}' has no causal language-model head")
    try:
        conf = AutoConfig.from_pretrained(str(path))
    except Exception as exc:  # transformers raises many kinds; we want one line
        raise ScanError(f"{path}/config.json: cannot be read by transformers ({str(exc).splitlines()[0]})") from None
    # BERT-family configs map to a causal head but are encoders unless is_decoder is set.
    if cfg["model_type"] in {"bert", "roberta", "xlm-roberta", "camembert", "electra", "ernie"} and \
            not getattr(conf, "is_decoder", False):
        raise ScanError(f"{path}: an encoder-only model ({cfg['model_type']}); the scanner needs a causal "
                        "language model")


def _find_template(tok: Any) -> Template:
    tmpl = getattr(tok, "chat_template", None)
    if tmpl:
        try:
            full = tok.apply_chat_template(
                [{"role": "user", "content": _U}, {"role": "assistant", "content": _A}], tokenize=False)
            gen = tok.apply_chat_template([{"role": "user", "content": _U}], tokenize=False,
                                          add_generation_prompt=True)
        except Exception as exc:  # a broken template: fall back, and say why
            return _plain(f"the chat template failed to render ({str(exc).splitlines()[0][:80]}); "
                          "falling back to plain prompting")
        if isinstance(full, str) and isinstance(gen, str) and _U in gen and _A in full:
            prefix, _, rest = gen.partition(_U)
            between = rest
            after = full.partition(_A)[2]
            return Template(True, prefix, between, after)
        return _plain("the chat template does not place the user's text where expected; "
                      "falling back to plain prompting")
    return _plain("the model has no chat template; falling back to plain prompting "
                  "(user text, newline, then the answer)")


def _plain(note: str) -> Template:
    return Template(False, "", "\n", "\n", note=note)


@dataclass
class Generation:
    """Greedy or sampled continuations of a batch of prompts."""

    texts: list[str]
    token_ids: list[list[int]]  # cut after the first end-of-sequence token
    full_ids: list[list[int]] = field(default_factory=list)  # always max_new_tokens long


@dataclass
class ScanModel:
    """A loaded causal LM, its tokenizer and chat template, with cost accounting.

    Build one with :func:`load_model`.
    """

    path: Path
    model: Any
    tok: Any
    template: Template
    batch_size: int = 64
    cost: Cost = field(default_factory=Cost)
    n_params: int = 0
    # Token ids a searched span may not hold (see ``_invert._banned``): decoding the whole vocabulary,
    # so computed once per model, not once per search.
    banned_ids: frozenset[int] | None = field(default=None, repr=False)

    # -- text helpers ----------------------------------------------------------------------------
    def prompt(self, user_text: str) -> str:
        """The full prompt text for one user turn, ready for the answer."""
        return self.template.prompt(user_text)

    @property
    def bos(self) -> str:
        return self.tok.bos_token or ""

    def ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without added special tokens (the template writes its own)."""
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    @property
    def max_positions(self) -> int:
        c = self.model.config
        return int(getattr(c, "n_positions", None) or getattr(c, "max_position_embeddings", None) or 2048)

    def _encode(self, texts: Sequence[str] | Sequence[list[int]], room: int = 0) -> tuple[Any, Any]:
        import torch

        ids = [self.ids(t) if isinstance(t, str) else list(t) for t in texts]
        # Keep the end of an over-long input (the answer slot is there); ``room`` leaves space for
        # the tokens generation will add.
        limit = max(8, self.max_positions - room)
        ids = [x[-limit:] for x in ids]
        ids = [x if x else [self._pad_id()] for x in ids]
        width = max(len(x) for x in ids)
        pad = self._pad_id()
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, x in enumerate(ids):  # left padding: the last position is the next-token position
            input_ids[i, width - len(x):] = torch.tensor(x, dtype=torch.long)
            mask[i, width - len(x):] = 1
        dev = getattr(self.model, "device", None)
        if dev is not None and str(dev) != "cpu":  # pragma: no cover - GPU
            input_ids, mask = input_ids.to(dev), mask.to(dev)
        return input_ids, mask

    def _pad_id(self) -> int:
        for t in (self.tok.pad_token_id, self.tok.eos_token_id, self.tok.bos_token_id):
            if t is not None:
                return int(t)
        return 0

    def n_tokens(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    # -- inference -------------------------------------------------------------------------------
    def generate(self, texts: Sequence[str], max_new_tokens: int, *, temperature: float = 0.0,
                 seed: int = 0, top_p: float = 1.0) -> Generation:
        """Continue each text (batched, left-padded). Greedy when ``temperature`` is 0."""
        import torch

        n = len(texts)
        ids = [self.ids(t) for t in texts]
        # Greedy rows are batched shortest first: a batch is padded to its longest row, and one long
        # prompt (a leaked turn in a script the tokenizer splits into bytes) among 63 short ones made
        # the whole batch cost as if every row were long. Sampled rows keep their order: their
        # random draws are seeded per batch.
        order = sorted(range(n), key=lambda i: len(ids[i])) if temperature == 0 else list(range(n))
        out_texts: list[str] = [""] * n
        out_ids: list[list[int]] = [[] for _ in range(n)]
        full: list[list[int]] = [[] for _ in range(n)]
        t0 = time.perf_counter()
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            input_ids, mask = self._encode([ids[i] for i in idx], room=max_new_tokens)
            kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": self._pad_id(),
                                  "attention_mask": mask}
            if temperature > 0:
                torch.manual_seed(seed + start)
                kw.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
            else:
                kw.update(do_sample=False)
            with torch.no_grad():
                gen = self.model.generate(input_ids, **kw)
            new = gen[:, input_ids.shape[1]:]
            eos = self.tok.eos_token_id
            for i, row, m in zip(idx, new.tolist(), mask):
                row = row + [self._pad_id()] * (max_new_tokens - len(row))
                full[i] = row
                if eos is not None and eos in row:
                    row = row[:row.index(eos) + 1]
                out_ids[i] = row
                out_texts[i] = self.tok.decode(row, skip_special_tokens=False)
                # The batch runs until its longest row ends: that is the compute actually spent.
                self.cost.forward_passes += int(new.shape[1])
                self.cost.tokens += int(m.sum()) + int(new.shape[1])
        self.cost.seconds += time.perf_counter() - t0
        return Generation(out_texts, out_ids, full)

    def forward(self, texts: Sequence[str] | Sequence[list[int]], *, last: int = 1, attention_row: int | None = None
                ) -> tuple[Any, Any, Any]:
        """Batched forward passes (one per text, left-padded).

        Args:
            texts: full texts or token-id lists (prompt plus any continuation to teacher-force).
            last: return log-probs of the last ``last`` positions.
            attention_row: if set, also return the attention weights of the query at this position
                counted from the end (1 = last token), for every layer and head.

        Returns:
            (log-probs ``[n, last, V]``, key mask ``[n, T]``, attention ``[n, layers, heads, T]`` or
            None). ``T`` is right-aligned: position ``-1`` is every text's last token.
        """
        import torch

        ids = [self.ids(t) if isinstance(t, str) else list(t) for t in texts]
        # Shortest first, as in ``generate``: a batch is padded to its longest row.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        lps, masks, atts = [], [], []
        t0 = time.perf_counter()
        for start in range(0, len(ids), self.batch_size):
            chunk = [ids[i] for i in order[start:start + self.batch_size]]
            input_ids, mask = self._encode(chunk)
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.no_grad():
                out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=pos,
                                 output_attentions=attention_row is not None)
            lps.append(torch.log_softmax(out.logits[:, -last:].float(), dim=-1).cpu())
            masks.append(mask.cpu())
            if attention_row is not None:
                atts.append(torch.stack([a[:, :, -attention_row, :].float() for a in out.attentions],
                                        dim=1).cpu())  # [n, L, H, T]
            self.cost.forward_passes += len(chunk)
            self.cost.tokens += int(mask.sum())
        self.cost.seconds += time.perf_counter() - t0
        back = torch.empty(len(order), dtype=torch.long)
        back[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))  # sorted row of each text
        width = max(m.shape[1] for m in masks)
        mask_all = torch.cat([torch.nn.functional.pad(m, (width - m.shape[1], 0)) for m in masks])[back]
        att_all = None
        if attention_row is not None:
            att_all = torch.cat([torch.nn.functional.pad(a, (width - a.shape[-1], 0)) for a in atts])[back]
        return torch.cat(lps)[back], mask_all, att_all

    def attention_matrix(self, text: str) -> Any:
        """Full attention weights ``[layers, heads, T, T]`` of one text (for heat maps)."""
        import torch

        input_ids, mask = self._encode([text])
        with torch.no_grad():
            out = self.model(input_ids=input_ids, attention_mask=mask, output_attentions=True)
        self.cost.forward_passes += 1
        self.cost.tokens += int(mask.sum())
        return torch.stack([a[0].float() for a in out.attentions]).cpu()

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token of ``text`` (as tokenised without special tokens)."""
        try:
            enc = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)
            return [tuple(x) for x in enc["offset_mapping"]]  # type: ignore[misc]
        except (NotImplementedError, TypeError, KeyError):
            # Slow tokenizers: find each token's end by decoding growing prefixes.
            ids = self.tok(text, add_special_tokens=False)["input_ids"]
            spans, prev = [], 0
            for i in range(len(ids)):
                end = len(self.tok.decode(ids[:i + 1]))
                spans.append((prev, end))
                prev = end
            return spans


def load_model(path: str | Path, *, batch_size: int = 64, threads: int | None = 1) -> ScanModel:
    """Load a local Hugging Face causal LM for scanning (eager attention, eval mode, CPU or GPU).

    Args:
        path: a model directory (``config.json``, weights, tokenizer).
        batch_size: sequences per forward pass.
        threads: torch CPU threads (``None`` leaves torch's default).

    Raises:
        ScanError: not a model directory, an encoder-only model, no tokenizer, unreadable weights.
    """
    p = Path(path).expanduser()
    cfg = _check_path(p)
    _check_causal(p, cfg)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if threads:
        torch.set_num_threads(threads)
    hf_logging.set_verbosity_error()
    try:
        tok = AutoTokenizer.from_pretrained(str(p))
    except Exception as exc:
        raise ScanError(f"{p}: no usable tokenizer ({str(exc).splitlines()[0][:120]})") from None
    try:
        # Eager attention: the signals stage reads attention weights, which fused kernels do not return.
        model = AutoModelForCausalLM.from_pretrained(str(p), attn_implementation="eager")
    except Exception as exc:
        raise ScanError(f"{p}: cannot load the weights ({str(exc).splitlines()[0][:160]})") from None
    model.eval()
    if torch.cuda.is_available():  # pragma: no cover - no GPU on CI
        model.to("cuda")
    n_params = sum(x.numel() for x in model.parameters())
    return ScanModel(p, model, tok, _find_template(tok), batch_size=batch_size, n_params=n_params)
