"""The test tree's layout: every folder of tests is a package.

Why: pytest's default "prepend" import mode imports a test module by its
basename when its folder is not a package, so two ``test_cycle_hook.py`` in
two folders collide and abort collection of the whole suite ("import file
mismatch"). Running the suite in halves hid exactly that once; as packages
(``tests.bench.test_cycle_hook``) the names cannot collide.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_every_folder_holding_tests_is_a_package() -> None:
    missing = sorted(
        str(folder.relative_to(TESTS.parent))
        for folder in {p.parent for p in TESTS.rglob("*.py")}
        if "__pycache__" not in folder.parts and not (folder / "__init__.py").exists()
    )
    assert missing == [], f"add an empty __init__.py to: {missing}"
