"""A syrupy extension that writes one readable text file per test case under tests/snapshots/."""

from pathlib import Path

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode


class TextSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "txt"

    @classmethod
    def dirname(cls, *, test_location) -> str:
        # tests/snapshots/<test module>/, wherever the module sits below tests/
        return str(Path(__file__).resolve().parent / "snapshots" / test_location.basename)


def sections(**parts) -> str:
    """Render named parts as `-- name --` sections (strings verbatim, anything else as JSON)."""
    import json

    out = []
    for name, value in parts.items():
        if value is None:
            continue
        if not isinstance(value, str):
            value = json.dumps(value, indent=2, ensure_ascii=False)
        out.append(f"-- {name.replace('_', ' ')} --\n{value}\n")
    return "\n".join(out)
