"""The llama.cpp host: vocabularies, grammar checks and trigger emulation, the sampling engine,
`ChatModel`, llama-cpp-python's chat handler and the OpenAI-compatible server.

It uses the seams below it (hooks down to spec) and never the tooling (testing, authoring, cli).
The server needs starlette, so it is imported on use: `chatformats.llama.server`.
"""

from ..prompt import RequestError
from .checks import accepts, lazy_accepts, plan_check, plan_rejection
from .engine import Engine, GenEvent
from .gbnf import ROOT, GrammarError, validate_gbnf
from .handler import chat_handler
from .model import ChatModel, Prepared
from .triggers import Triggers, TriggerWatch, check_trigger_pattern, regex_escape
from .vocab import Vocab, VocabLike, get_vocab

__all__ = [
    "ROOT",
    "ChatModel",
    "Engine",
    "GenEvent",
    "GrammarError",
    "Prepared",
    "RequestError",
    "TriggerWatch",
    "Triggers",
    "Vocab",
    "VocabLike",
    "accepts",
    "chat_handler",
    "check_trigger_pattern",
    "get_vocab",
    "lazy_accepts",
    "plan_check",
    "plan_rejection",
    "regex_escape",
    "validate_gbnf",
]
