"""llama.cpp's GBNF engine from Python: validation, acceptance, lazy triggers (tiny model vocab)."""

from __future__ import annotations

import pytest

from chatformats.llama import GrammarError, accepts, get_vocab, lazy_accepts, validate_gbnf

NAME = r'root ::= "{\"name\": \"" [a-z_]+ "\"}"'
CALL = r'root ::= "<tool_call>" " "? "{" [a-z]+ "}"'
BRACE = r'root ::= "{" [a-z]+ "}"'
PYTAG = r'root ::= <|python_tag|> "f(" [0-9]* ")"'


@pytest.fixture(scope="module")
def vocab(tiny_model_path):
    return get_vocab(tiny_model_path)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("root ::= foo", "Undefined rule identifier 'foo'"),
        ('root ::= [a-', "unexpected end of input"),
        ('start ::= "a"', "does not contain a 'root' symbol"),
        ('root ::= root "a" | "b"', "left recursion"),
        ("root ::= <|no_such_token|>", "token"),
        ("", "empty grammar"),
        ('root ::= "a\x00"', "NUL"),
        # llama.cpp itself would loop on an unsigned underflow until the process is OOM-killed
        ('root ::= "a"{3,2}', "max < min"),
    ],
)
def test_validate_rejects_bad_grammar_with_llama_message(vocab, bad, message):
    with pytest.raises(GrammarError) as info:
        validate_gbnf(bad, vocab=vocab)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("good", [NAME, CALL, PYTAG, 'root ::= "a"{1,3} | [^x]*'])
def test_validate_accepts_good_grammar(vocab, good):
    validate_gbnf(good, vocab=vocab)


def test_accepts_complete_and_prefix(vocab):
    assert accepts(NAME, '{"name": "get_weather"}', vocab=vocab)
    assert not accepts(NAME, '{"name": "Get"}', vocab=vocab)
    assert not accepts(NAME, '{"name": "get_weather"} trailing', vocab=vocab)
    assert accepts(NAME, '{"name": "get', complete=False, vocab=vocab)
    assert not accepts(NAME, '{"name": "get', vocab=vocab)


def test_accepts_uses_special_tokens(vocab):
    assert accepts(PYTAG, "<|python_tag|>f(12)", vocab=vocab)
    assert not accepts(PYTAG, "f(12)", vocab=vocab)


def test_accepts_raises_on_invalid_grammar(vocab):
    with pytest.raises(GrammarError):
        accepts("root ::= nope", "x", vocab=vocab)


def test_default_vocab_is_the_hosts_own_byte_vocabulary():
    """Without a model, grammars are checked with 256 byte tokens and an end token: no test model.

    Our grammars write special tokens as quoted text, so this vocabulary validates them all (every
    plan in the oracle and `formats check` tests goes through it); a grammar naming a token
    (`<|python_tag|>` unquoted) needs the model's own vocabulary.
    """
    vocab = get_vocab()
    assert (vocab.n_vocab, vocab.eog_token) == (257, 256)
    assert accepts(NAME, '{"name": "x"}')
    assert accepts(r'root ::= "<|python_tag|>" "f(" [0-9]* ")"', "<|python_tag|>f(12)")
    with pytest.raises(GrammarError, match="invalid token"):
        validate_gbnf(PYTAG)


@pytest.mark.parametrize(
    "text, triggers, expected",
    [
        ("hello there <tool_call>{abc}", {"words": ["<tool_call>"]}, (True, True)),
        ("hello there <tool_call>{abc}x", {"words": ["<tool_call>"]}, (True, False)),
        ("hello there <tool_call>{ab1}", {"words": ["<tool_call>"]}, (True, False)),
        ("no call here", {"words": ["<tool_call>"]}, (False, False)),
        ("hello {abc}", {"patterns": [r"[\s\S]*?(\{)"]}, (True, True)),
        ("hello {ab1}", {"patterns": [r"(\{)"]}, (True, False)),
        ("{abc}", {"patterns_full": [r"\{[\s\S]*"]}, (True, True)),
        ("x{abc}", {"patterns_full": [r"\{[\s\S]*"]}, (False, False)),
    ],
)
def test_lazy_accepts_text_triggers(vocab, text, triggers, expected):
    gbnf = CALL if "words" in triggers else BRACE
    assert lazy_accepts(gbnf, text, vocab=vocab, **triggers) == expected


@pytest.mark.parametrize("kind", ["tokens", "words"])
def test_lazy_accepts_token_trigger(vocab, kind):
    assert lazy_accepts(PYTAG, "hi <|python_tag|>f(12)", vocab=vocab, **{kind: ["<|python_tag|>"]}) == (True, True)
    assert lazy_accepts(PYTAG, "hi <|python_tag|>f(1a)", vocab=vocab, **{kind: ["<|python_tag|>"]}) == (True, False)


def test_lazy_replay_the_grammar_rejects_does_not_crash(vocab):
    # the trigger fires inside a token whose rest the grammar rejects: llama.cpp would throw
    text = 'see {"a"}'
    assert b' {"' in [vocab.piece(t) for t in vocab.tokenize(text, special=True)]
    assert lazy_accepts(BRACE, text, vocab=vocab, patterns=[r"(\{)"]) == (True, False)
    quoted = r'root ::= "{\"" [a-z]+ "\"}"'
    assert lazy_accepts(quoted, text, vocab=vocab, patterns=[r"(\{)"]) == (True, True)


@pytest.mark.parametrize(
    "pattern",
    # [[:alpha:]] and \A \Z: std::regex and a Python mirror would disagree on when the trigger
    # fires, and an unchecked replay aborts the process; a*+ is not ECMAScript
    ['{"name"', "(?<=x)y", "(?i)abc", "(?P<n>x)", "a{,2}", "(unclosed", "[[:alpha:]]", r"\A", r"a\Z", "a*+"],
)
def test_bad_trigger_patterns_raise_instead_of_aborting(vocab, pattern):
    with pytest.raises(GrammarError):
        lazy_accepts(BRACE, "{abc}", patterns=[pattern], vocab=vocab)


def test_multibyte_text_through_grammar(vocab):
    gbnf = 'root ::= "\\"" [^"]* "\\""'
    assert accepts(gbnf, '"日本語 🙂"', vocab=vocab)
    assert lazy_accepts(gbnf, 'x "日本語 🙂"', patterns=['(")'], vocab=vocab) == (True, True)


@pytest.mark.parametrize("pattern", [r"[\s\S]*?(<tool_call>)[\s\S]*", r"[\s\S]*?(\{|\[)", r"[\s\S]*?(x*)y"])
def test_trigger_search_shortcut_matches_full_search(pattern):
    from chatformats.llama.triggers import _Trigger, to_python_regex

    trigger = _Trigger.of(pattern)
    full = to_python_regex(pattern)
    for buffer in [b"", b"abc", b"a <tool_call> b", b"x\n[{", b"no\nbrace y", b"xxy", b"y"]:
        match = full.search(buffer)
        expected = None
        if match:
            expected = next((match.start(i) for i in range(1, full.groups + 1) if match.group(i)), match.start(0))
        assert trigger.find(buffer) == expected, buffer


def test_ecmascript_dollar_and_dot_semantics(vocab):
    # `$` is only the very end (Python's would also match before a final newline); `.` skips \r
    from chatformats.llama.triggers import _Trigger

    assert _Trigger.of(r"(x)$").find(b"x\n") is None
    assert _Trigger.of(r"(x)$").find(b"ax") == 1
    assert lazy_accepts(BRACE, "{abc}", patterns=[r"^(\{)"], vocab=vocab) == (True, True)
    assert lazy_accepts(BRACE, "a\r{abc}", patterns=[r"a.(\{)"], vocab=vocab) == (False, False)
