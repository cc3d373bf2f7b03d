import pytest

from breakfix.core import registry
from breakfix.core.registry import UnknownPluginError


def test_unknown_plugin_is_a_one_line_error_listing_known_names():
    with pytest.raises(UnknownPluginError) as exc:
        registry.get("converter", "no-such-converter")
    msg = str(exc.value)
    assert "\n" not in msg and "no-such-converter" in msg and "base64" in msg


def test_decorator_registers_factory_with_docstring_summary():
    @registry.register("converter", "test-upper-xyz", tags=("test",))
    class Upper:
        """Upper-case the prompt.

        Longer text."""

        def convert(self, text):
            return text.upper()

    info = registry.get("converter", "test-upper-xyz")
    assert info.summary == "Upper-case the prompt."
    assert info.create().convert("ab") == "AB"
    with pytest.raises(ValueError):
        @registry.register("converter", "test-upper-xyz")
        class Other:  # a different factory may not silently take a used name
            pass
