"""Fixtures of the per-format test files: readable text snapshots, taken with a pinned clock."""

import pytest

from snapshot_text import TextSnapshot


@pytest.fixture
def pinned_clock(monkeypatch):
    """Templates print today's date (strftime_now): pin it so snapshots are stable."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")  # 2025-01-01 00:00 UTC


@pytest.fixture
def snapshot_text(snapshot, pinned_clock):
    return snapshot.with_defaults(extension_class=TextSnapshot)
