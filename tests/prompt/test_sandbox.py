"""The template sandbox processes: limits, a worker that dies, concurrent renders, the knobs."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from chatformats.prompt import (
    LimitsError,
    TemplateError,
    TemplateLimitError,
    compile_template,
    set_template_limits,
    template_limits,
)
from chatformats.prompt import sandbox

SLOW = "{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}"
GREEDY = "{% set ns = namespace(x=['a' * 1000]) %}{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}"


@pytest.fixture
def limits():
    """Limits set by a test are undone after it."""
    yield set_template_limits
    set_template_limits(time_s=None, memory_mb=None, workers=None, process=None)


def _workers() -> list[int]:
    return [w.proc.pid for w in sandbox._POOL.idle]


def test_time_limit_names_the_template_and_the_worker_comes_back(limits):
    limits(time_s=0.5)
    start = time.monotonic()
    with pytest.raises(TemplateLimitError) as info:
        compile_template(SLOW, "slow.jinja").render()
    assert str(info.value) == "slow.jinja: rendering exceeded the 0.5 s time limit"
    assert time.monotonic() - start < 10
    assert compile_template("{{ 1 + 1 }}", "ok").render() == "2"


def test_memory_limit(limits):
    limits(memory_mb=96)
    with pytest.raises(TemplateLimitError, match="greedy: rendering exceeded the 96 MB memory limit"):
        compile_template(GREEDY, "greedy").render()
    assert compile_template("{{ 'ok' }}", "ok").render() == "ok"


def test_a_killed_worker_is_replaced():
    template = compile_template("{{ x }}", "x")
    assert template.render(x=1) == "1"
    killed = _workers()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert template.render(x=2) == "2"  # on a new worker, compiled there again from the source
    assert not set(_workers()) & set(killed)


def test_renders_from_several_threads_do_not_wait_for_a_slow_one(limits):
    limits(time_s=3, workers=2)
    fast = compile_template("{{ n }}", "fast")
    slow_done = threading.Event()

    def slow() -> None:
        try:
            compile_template(SLOW, "slow").render()
        except TemplateLimitError:
            pass
        slow_done.set()

    threading.Thread(target=slow).start()
    time.sleep(0.3)
    start = time.monotonic()
    results: list[str] = []
    threads = [threading.Thread(target=lambda i=i: results.append(fast.render(n=i))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [str(i) for i in range(8)]
    assert not slow_done.is_set() and time.monotonic() - start < 2.5
    slow_done.wait(10)


def test_in_process_mode_keeps_the_operation_bounds(limits):
    limits(process=False)
    assert compile_template("{{ 2 * 3 }}", "inproc").render() == "6"
    with pytest.raises(TemplateError, match="repetition"):
        compile_template("{{ 'x' * 10**8 }}", "inproc").render()


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CHATFORMATS_TEMPLATE_TIMEOUT", "2.5")
    monkeypatch.setenv("CHATFORMATS_TEMPLATE_MEMORY_MB", "300")
    monkeypatch.setenv("CHATFORMATS_TEMPLATE_WORKERS", "3")
    monkeypatch.setenv("CHATFORMATS_TEMPLATE_SANDBOX", "off")
    assert template_limits() == type(template_limits())(2.5, 300, 3, False)
    monkeypatch.setenv("CHATFORMATS_TEMPLATE_MEMORY_MB", "lots")
    with pytest.raises(LimitsError, match="CHATFORMATS_TEMPLATE_MEMORY_MB must be a positive number"):
        template_limits()


def test_a_context_that_is_not_plain_data_is_a_template_error():
    with pytest.raises(TemplateError, match="not JSON serializable"):
        compile_template("{{ x }}", "x").render(x=object())
