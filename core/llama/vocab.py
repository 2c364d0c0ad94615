"""A llama.cpp vocabulary (token pieces, special tokens, EOG), from a model or a GGUF path.

Without a model, `get_vocab()` is the host's own: 256 byte tokens and an end token in a vocab-only
GGUF written once to the cache directory. It is enough to check grammars (they match special
tokens as literal text) and never loads a test model.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import tempfile
import threading
import weakref
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Union

import llama_cpp

from .native import native_messages

if TYPE_CHECKING:
    from .tables import VocabTables


class Vocab:
    """A llama.cpp vocabulary with cached token pieces (special tokens rendered as text)."""

    def __init__(self, llama: "llama_cpp.Llama"):
        self.llama = llama  # keeps the model (and so the vocab pointer) alive
        self.ptr = llama._model.vocab
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.ptr))
        self._pieces: dict[int, bytes] = {}
        self._special_ids: dict[str, Optional[int]] = {}
        self.valid_grammars: set[str] = set()  # grammars validate_gbnf passed for this vocab
        candidates = itertools.chain(
            (llama_cpp.llama_vocab_eos(self.ptr), llama_cpp.llama_vocab_eot(self.ptr)),
            range(self.n_vocab),
        )
        # any EOG token will do: the grammar allows all of them or none
        self.eog_token = next((t for t in candidates if t >= 0 and self.is_eog(t)), -1)
        self._tables: Optional["VocabTables"] = None
        self._tables_lock = threading.Lock()

    @property
    def tables(self) -> "VocabTables":
        """UTF-8 classes, end-of-generation ids and special texts (one pass, on first use)."""
        if self._tables is None:
            with self._tables_lock:
                if self._tables is None:
                    from .tables import VocabTables

                    self._tables = VocabTables(self)
        return self._tables

    def tokenize(self, text: Union[str, bytes], *, special: bool) -> list[int]:
        """Token ids of `text`, no BOS added; `special=True` matches control tokens by text."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        if not data:
            return []
        size = len(data) + 8
        buf = (llama_cpp.llama_token * size)()
        n = llama_cpp.llama_tokenize(self.ptr, data, len(data), buf, size, False, special)
        if n < 0:  # never for byte-level BPE, but a model may differ
            size = -n
            buf = (llama_cpp.llama_token * size)()
            n = llama_cpp.llama_tokenize(self.ptr, data, len(data), buf, size, False, special)
            if n < 0:
                raise RuntimeError(f"llama.cpp failed to tokenize {text!r}")
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes of one token, special tokens included (what the grammar engine sees)."""
        cached = self._pieces.get(token)
        if cached is None:
            buf = ctypes.create_string_buffer(64)
            n = llama_cpp.llama_token_to_piece(self.ptr, token, buf, 64, 0, True)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self.ptr, token, buf, -n, 0, True)
            cached = self._pieces[token] = buf.raw[: max(n, 0)]
        return cached

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.ptr, token))

    def special_token(self, text: str) -> Optional[int]:
        """The id of the control/user-defined token spelled exactly `text`, else None."""
        if text not in self._special_ids:
            ids = self.tokenize(text, special=True)
            single = len(ids) == 1 and self.tokenize(text, special=False) != ids
            self._special_ids[text] = ids[0] if single else None
        return self._special_ids[text]


_VOCABS: "weakref.WeakKeyDictionary[Any, Vocab]" = weakref.WeakKeyDictionary()
_VOCAB_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def _vocab_from_path(path: str) -> Vocab:
    with native_messages():  # a vocab-only load still warns about the context size
        llama = llama_cpp.Llama(path, vocab_only=True, verbose=False)
    return Vocab(llama)


def get_vocab(vocab: Union[None, Vocab, "llama_cpp.Llama", str, os.PathLike] = None) -> Vocab:
    """A Vocab for: None (the host's byte vocabulary, cached), a Vocab, a Llama, or a GGUF path."""
    if isinstance(vocab, Vocab):
        return vocab
    if vocab is None:
        return _vocab_from_path(str(byte_vocab_path()))
    if isinstance(vocab, (str, os.PathLike)):
        return _vocab_from_path(str(Path(vocab)))
    with _VOCAB_LOCK:
        found = _VOCABS.get(vocab)
        if found is None:
            found = _VOCABS[vocab] = Vocab(vocab)
        return found


VocabLike = Union[None, Vocab, "llama_cpp.Llama", str, os.PathLike]


# -- the host's own vocabulary -----------------------------------------------------------------

BYTE_VOCAB_VERSION = "1"
END_TOKEN = "<|chatformats-end|>"  # its end-of-generation token, so acceptance checks can end


def cache_dir() -> Path:
    """Where chatformats keeps files it writes once: $CHATFORMATS_CACHE or ~/.cache/chatformats."""
    root = os.environ.get("CHATFORMATS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "chatformats"


def byte_tokens() -> list[str]:
    """The 256 bytes in GPT-2's reversible byte -> printable character form (byte-level BPE)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def byte_vocab_path() -> Path:
    """The host's vocab-only GGUF (written on first use; a concurrent reader never sees half)."""
    path = cache_dir() / f"byte-vocab-v{BYTE_VOCAB_VERSION}.gguf"
    if path.exists():
        return path
    import gguf

    with gguf_writer(path) as writer:
        # llama.cpp reads these hyperparameters even for a vocab-only load.
        writer.add_name("chatformats-byte-vocab")
        writer.add_context_length(256)
        writer.add_embedding_length(8)
        writer.add_block_count(0)
        writer.add_feed_forward_length(8)
        writer.add_head_count(1)
        writer.add_head_count_kv(1)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("llama-bpe")
        writer.add_token_list([*byte_tokens(), END_TOKEN])
        writer.add_token_types([int(gguf.TokenType.NORMAL)] * 256 + [int(gguf.TokenType.CONTROL)])
        writer.add_token_merges(["Ġ Ġ"])  # llama.cpp requires merges; bytes need none
        writer.add_eos_token_id(256)
        writer.add_add_bos_token(False)
        writer.add_add_eos_token(False)
    return path


@contextmanager
def gguf_writer(path: Path) -> Iterator[Any]:
    """A `gguf.GGUFWriter` (arch llama) to fill; the file appears at `path` only once it is
    completely written, so a concurrent reader never sees half of it."""
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    writer = gguf.GGUFWriter(tmp_name, "llama")
    try:
        yield writer
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    except BaseException:
        writer.close()
        os.unlink(tmp_name)
        raise
    writer.close()
    os.replace(tmp_name, path)
