"""Fixtures of the scanner's tests: tiny untrained models for input checks and plumbing."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import _tiny


@pytest.fixture(scope="session")
def random_chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer GPT-2 with a chat template (knows nothing; nothing planted)."""
    return _tiny.random_gpt2(tmp_path_factory.mktemp("gpt2chat"), chat=True)


@pytest.fixture(scope="session")
def random_plain_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random GPT-2 whose tokenizer has no chat template."""
    return _tiny.random_gpt2(tmp_path_factory.mktemp("gpt2plain"), chat=False)


@pytest.fixture(scope="session")
def bert_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BertModel: an encoder, which the scanner must refuse."""
    return _tiny.tiny_bert(tmp_path_factory.mktemp("bert"))


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'scan.db'}"
