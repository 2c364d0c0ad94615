"""The per-format test files: the cases of their shared tests, and readable text snapshots taken
with a pinned clock."""

import pytest

from cases import case_id, examples, round_trip_cases
from snapshot_text import TextSnapshot


def pytest_generate_tests(metafunc):
    """The cases of the tests in cases.py, for the format of the file that imports them."""
    module = metafunc.module
    if "example" in metafunc.fixturenames:
        found = examples(module.FORMAT)
        metafunc.parametrize("example", found, ids=[e.name for e in found])
    if "template" in metafunc.fixturenames:
        metafunc.parametrize("template", sorted(module.RENDER))
    if "case" in metafunc.fixturenames:
        cases = round_trip_cases(module.FORMAT, module.KINDS)
        metafunc.parametrize("case", cases, ids=[case_id(c) for c in cases])


@pytest.fixture
def pinned_clock(monkeypatch):
    """Templates print today's date (strftime_now): pin it so snapshots are stable."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")  # 2025-01-01 00:00 UTC


@pytest.fixture
def snapshot_text(snapshot, pinned_clock):
    return snapshot.with_defaults(extension_class=TextSnapshot)
