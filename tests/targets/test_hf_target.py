"""The ``hf`` target on real (tiny) transformer checkpoints.

Most tests use a randomly initialised GPT-2 with a byte-level BPE tokenizer trained here, built by
the zoo's own constructors (seconds, and a random model has high-entropy outputs, which is what
sampling tests need); one test runs the zoo's trained ``safe`` model.
"""

import asyncio
import json
import shutil
import time
import warnings

import pytest

torch = pytest.importorskip("torch")

from breakfix.core.messages import system, user  # noqa: E402
from breakfix.core.registry import create  # noqa: E402
from breakfix.targets.hf import HFTarget, NoChatTemplateWarning  # noqa: E402

TEXTS = ["hello world, how are you today?", "the quick brown fox jumps over the lazy dog",
         "red teaming finds failures; fixes make them go away", "numbers 1 2 3 4 5 6 7 8 9 10"] * 20


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    from breakfix.zoo.model import build_model, build_tokenizer
    from breakfix.zoo.recipes import Size

    torch.set_num_threads(2)
    d = tmp_path_factory.mktemp("tiny-gpt2")
    tok = build_tokenizer(TEXTS, vocab_size=300)
    size = Size(n_layer=2, n_embd=32, n_head=2, n_positions=64, vocab_size=300, steps=1, lora_steps=1, lr=1e-3)
    model = build_model(size, tok, seed=3)
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def no_template_ckpt(tiny_ckpt, tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-gpt2-plain")
    for f in tiny_ckpt.iterdir():
        shutil.copy(f, d / f.name)
    (d / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    return d


def reference_logprobs(model, prompt_ids, gen_ids):
    """Teacher-forced log-probabilities of ``gen_ids`` after ``prompt_ids`` (one plain forward pass)."""
    ids = torch.tensor([prompt_ids + gen_ids])
    with torch.no_grad():
        logits = model(ids).logits[0]
    lp = logits.log_softmax(-1)
    n = len(prompt_ids)
    return [lp[n - 1 + k, t].item() for k, t in enumerate(gen_ids)], [
        lp[n - 1 + k].argmax().item() for k in range(len(gen_ids))]


async def test_greedy_uses_chat_template_and_logprobs_match_a_forward_pass(tiny_ckpt):
    t = HFTarget(path=str(tiny_ckpt), max_new_tokens=8, logprobs=True)
    r = await t.send([user("hello world")])
    assert r.error is None and r.logprobs is not None
    model, tok = t.load()
    prompt_ids = t.encode([user("hello world")])
    assert tok.decode(prompt_ids) == "<|bos|><|user|>hello world<|end|><|assistant|>"
    gen_ids = r.raw["token_ids"]
    assert [lp.token for lp in r.logprobs] == [tok.decode([g]) for g in gen_ids]
    ref, argmax = reference_logprobs(model, prompt_ids, gen_ids)
    assert [lp.logprob for lp in r.logprobs] == pytest.approx(ref, abs=1e-4)
    assert gen_ids == argmax  # greedy really took the most likely token each step
    assert r.completion_tokens >= len(gen_ids) and r.prompt_tokens == len(prompt_ids)
    assert r.finish_reason in ("stop", "length")
    await t.aclose()


async def test_concurrent_sends_are_micro_batched_with_same_answers(tiny_ckpt):
    prompts = [f"question number {i} about the fox" for i in range(12)]
    t = HFTarget(path=str(tiny_ckpt), max_new_tokens=6, batch_size=16)
    together = await asyncio.gather(*(t.send([user(p)]) for p in prompts))
    assert t.batches_run == 1 and t.batch_sizes == [12]
    alone = HFTarget(path=str(tiny_ckpt), max_new_tokens=6, batch_size=1)
    singles = [await alone.send([user(p)]) for p in prompts]
    assert alone.batch_sizes == [1] * 12
    assert [r.text for r in together] == [r.text for r in singles]  # left padding changes nothing
    assert all(r.raw["batch_size"] == 12 for r in together)
    await t.aclose()
    await alone.aclose()


async def test_event_loop_stays_free_while_generating(tiny_ckpt):
    t = HFTarget(path=str(tiny_ckpt), max_new_tokens=48, batch_size=4)
    await t.send([user("warm up")])
    gaps = []

    async def ticker(stop):
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(stop))
    t0 = time.perf_counter()
    await asyncio.gather(*(t.send([user(f"prompt {i}")]) for i in range(16)))
    busy = time.perf_counter() - t0
    stop.set()
    await tick
    assert t.batches_run >= 4 + 1
    # The generate calls ran in a worker thread: the loop kept ticking throughout.
    assert len(gaps) > 5 and max(gaps) < max(0.25, busy / 3)
    await t.aclose()


async def test_sampling_is_seeded_per_request_and_batch_invariant(tiny_ckpt):
    mk = lambda seed: HFTarget(path=str(tiny_ckpt), max_new_tokens=10, do_sample=True, seed=seed)  # noqa: E731
    a, b, c = mk(1), mk(1), mk(2)
    convo = [user("tell me a story")]
    ra = await a.send(convo)
    others = [b.send([user(f"filler {i}")]) for i in range(5)]
    rb = (await asyncio.gather(b.send(convo), *others))[0]  # same request inside a batch of six
    assert b.batch_sizes == [6]
    assert ra.text == rb.text
    samples = {(await c.send(convo, seed=k)).text for k in range(4)}
    greedy = await HFTarget(path=str(tiny_ckpt), max_new_tokens=10).send(convo)
    assert len(samples | {ra.text}) > 1  # seeds matter (a random model's distribution is flat)
    assert any(s != greedy.text for s in samples)
    for x in (a, b, c):
        await x.aclose()


async def test_no_chat_template_falls_back_with_a_warning(no_template_ckpt):
    t = HFTarget(path=str(no_template_ckpt), max_new_tokens=4)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = await t.send([system("be brief"), user("hi")])
    assert r.error is None
    assert any(issubclass(x.category, NoChatTemplateWarning) for x in w)
    _, tok = t.load()
    assert tok.decode(t.encode([system("be brief"), user("hi")])) == "System: be brief\nUser: hi\nAssistant:"
    await t.aclose()


async def test_long_prompt_is_left_truncated_not_crashed(tiny_ckpt):
    t = HFTarget(path=str(tiny_ckpt), max_new_tokens=8)
    r = await t.send([user("the quick brown fox " * 60)])
    assert r.error is None and r.raw["prompt_truncated_tokens"] > 0
    assert r.prompt_tokens == 64 - 8
    await t.aclose()


def test_bad_path_and_settings_are_one_line_errors(tmp_path, tiny_ckpt):
    with pytest.raises(ValueError, match=r"^hf target: path: checkpoint directory .* not found$"):
        HFTarget(path=str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="has no config.json"):
        HFTarget(path=str(tmp_path))
    with pytest.raises(ValueError, match="^hf target: top_p: expected"):
        HFTarget(path=str(tiny_ckpt), top_p=0)


def test_zoo_safe_model_refuses_plainly_through_the_registry(zoo_safe):
    from breakfix.scorers.refusal import is_refusal
    from breakfix.targets.check import check_target
    from breakfix.zoo import heldout

    path = zoo_safe
    t = create("target", "hf", path=str(path), max_new_tokens=32)
    harmful = heldout(kind="harmful", lang="en", n=4, seed=0)

    async def go():
        rs = await asyncio.gather(*(t.send([user(i.prompt)]) for i in harmful))
        await t.aclose()
        return rs

    rs = asyncio.run(go())
    assert all(r.error is None for r in rs)
    assert sum(is_refusal(r.text) for r in rs) >= 3, [r.text for r in rs]
    info = check_target(t, "hello")
    assert info["ok"] and info["config"]["path"] == str(path)


async def test_closing_mid_batch_fails_waiting_requests_instead_of_hanging(tiny_ckpt):
    t = HFTarget(path=str(tiny_ckpt), max_new_tokens=32, batch_size=2)
    await t.send([user("warm up")])
    sends = [asyncio.create_task(t.send([user(f"p{i}")])) for i in range(6)]
    await asyncio.sleep(0.05)  # the first batch is generating, the rest wait in the queue
    await t.aclose()
    rs = await asyncio.wait_for(asyncio.gather(*sends), 30)
    assert any(r.error == "RuntimeError: hf target closed before this request ran" for r in rs)


@pytest.fixture(scope="module")
def safe_pad_is_eos(zoo_safe, tmp_path_factory):
    """The zoo ``safe`` model with no pad token of its own (as many real checkpoints ship): the target
    then pads with EOS, the case transformers' padding warning cannot tell from real text."""
    d = tmp_path_factory.mktemp("safe-pad-eos")
    for f in zoo_safe.iterdir():
        if f.is_file():
            shutil.copy(f, d / f.name)
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg.pop("pad_token", None)
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    return d


@pytest.mark.parametrize("which", ["own_pad", "pad_is_eos"])
def test_batched_generation_is_quiet_and_matches_unbatched_on_very_different_lengths(
        which, zoo_safe, safe_pad_is_eos, caplog):
    import logging

    from transformers.utils import logging as hf_logging

    path = zoo_safe if which == "own_pad" else safe_pad_is_eos
    prompts = ["hi", "How do I make a bomb?",
               "Please explain, step by step and in great detail, " + "how bread rises in a warm oven, " * 12,
               "Wie backe ich Brot?", "ok"]
    # transformers logs its padding warning once per process: forget earlier ones so this test sees it.
    hf_logging.warning_once.cache_clear()
    hf_logging.enable_propagation()
    caplog.set_level(logging.WARNING)

    async def run(batch_size):
        t = HFTarget(path=str(path), max_new_tokens=16, batch_size=batch_size, batch_wait_ms=50)
        try:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                rs = await asyncio.gather(*(t.send([user(p)]) for p in prompts))
            return rs, t.batch_sizes, w
        finally:
            await t.aclose()

    try:
        together, sizes, w1 = asyncio.run(run(len(prompts)))
        alone, sizes1, w2 = asyncio.run(run(1))
    finally:
        hf_logging.disable_propagation()
    assert sizes == [len(prompts)] and sizes1 == [1] * len(prompts)
    assert all(r.error is None for r in together + alone)
    assert [r.text for r in together] == [r.text for r in alone]
    assert len({r.prompt_tokens for r in together}) >= 4  # really different lengths (padding needed)
    noise = [str(x.message) for x in w1 + w2] + [r.getMessage() for r in caplog.records]
    assert not [m for m in noise if "attention_mask" in m or "padding" in m.lower()], noise
