"""Spec inference: write a spec from a chat template (`formats new --from-template`), a skeleton,
and the conformance run on what was inferred."""

from .conformance import check_inferred, inferred_format
from .infer import InferenceResult, infer_spec
from .skeleton import skeleton_yaml
from .writing import spec_yaml

__all__ = [
    "InferenceResult",
    "check_inferred",
    "infer_spec",
    "inferred_format",
    "skeleton_yaml",
    "spec_yaml",
]
