import pytest

from breakfix.testing import LoopbackServer


@pytest.fixture(scope="module")
def loopback():
    """One real loopback server per test module; each test starts from a clean script and stats."""
    with LoopbackServer(latency=0.0) as srv:
        yield srv


@pytest.fixture
def srv(loopback):
    loopback.reset()
    loopback.set_reply(None)
    loopback.set_latency(0.0)
    yield loopback
    loopback.reset()
