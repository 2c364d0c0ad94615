"""Plugin and registry tests see no user spec directories (only what they make themselves)."""

import pytest


@pytest.fixture
def isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CHATFORMATS_SPECS_PATH", raising=False)
