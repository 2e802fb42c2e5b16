"""pytest plugin: a cassette per test, served by one resplay process for the
whole session.

- ``resplay`` fixture: switches the session's resplay to this test's
  cassette and yields the URL (``redis://127.0.0.1:PORT``) for the client: a
  ``str`` with methods, ``resplay.calls(pattern)`` and
  ``resplay.assert_called(pattern, times=N)``, on this test's calls (resplay's
  call journal, ``--resplay-journal-max``).
- ``@pytest.mark.resplay(cassette=..., ignore=[...], strict=..., timing=...,
  stubs=[...])``: options for one test; a marked test gets the fixture without
  asking, and ``REDIS_URL``/``REDIS_HOST``/``REDIS_PORT`` point at resplay
  while it runs; ``stubs`` are hand-written replies for this test's replay.
- ``--resplay-mode once|new_episodes|none|all`` as pytest-recording's
  ``--record-mode``; ``--resplay-upstream URL`` (or ``REDIS_URL``) names the
  real Redis to record from; ``--resplay-strict`` fails a test whose replay
  missed a command or left a recording unused; ``--resplay-max-age 30d``
  records a cassette older than that again (by its header's ``created``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

import pytest

from .journal import Call, Resplay
from .server import ResplayError, Server, find_binary, plan

MODES = ("once", "new_episodes", "none", "all")
MARK_OPTIONS = ("cassette", "ignore", "strict", "timing", "stubs")
JOURNAL_MAX = 10000

__all__ = ["Call", "Resplay", "default_cassette"]

_SERVER_KEY = pytest.StashKey[Optional[Server]]()
_CASSETTE_KEY = pytest.StashKey[Dict[str, Any]]()
_CALL_FAILED_KEY = pytest.StashKey[bool]()
_BODY_FAILED_KEY = pytest.StashKey[bool]()
_SWITCHES_KEY = pytest.StashKey[List[float]]()
_REPORTS_KEY = pytest.StashKey[List[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("resplay", "resplay: Redis cassettes per test")
    group.addoption(
        "--resplay-mode",
        choices=MODES,
        default=None,
        help="once (default): record a missing cassette, replay an existing one; "
        "new_episodes: replay, and record what is missing; none: replay only; "
        "all: record every cassette afresh",
    )
    group.addoption(
        "--resplay-upstream",
        default=None,
        metavar="URL",
        help="the real Redis to record from (default: $REDIS_URL)",
    )
    group.addoption(
        "--resplay-strict",
        action="store_true",
        default=None,
        help="fail a test whose replay missed a command or left a recording unused",
    )
    group.addoption(
        "--resplay-report",
        default=None,
        metavar="DIR",
        help="write each replayed test's HTML report (its cassette, with what the "
        "replay served, missed and left unused) into DIR",
    )
    group.addoption(
        "--resplay-prune",
        action="store_true",
        default=False,
        help="rewrite each replayed test's cassette without the recordings it left "
        "unused (when the test passed and its replay missed nothing)",
    )
    group.addoption(
        "--resplay-max-age",
        default=None,
        metavar="AGE",
        help="record a cassette older than AGE (by its header's created; e.g. 30d) "
        "again when there is an upstream; else warn, or fail with --resplay-strict",
    )
    group.addoption(
        "--resplay-journal-max",
        type=int,
        default=None,
        metavar="N",
        help="calls resplay's journal keeps for resplay.calls() and assert_called() "
        f"(default {JOURNAL_MAX}; 0 turns the journal off)",
    )
    parser.addini("resplay_mode", "default --resplay-mode", default="once")
    parser.addini(
        "resplay_journal_max", "default --resplay-journal-max", default=str(JOURNAL_MAX)
    )
    parser.addini("resplay_max_age", "default --resplay-max-age", default="")
    parser.addini("resplay_strict", "default --resplay-strict", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "resplay(cassette=None, ignore=(), strict=None, timing=None, stubs=()): give "
        "this test its own resplay cassette (default cassettes/<module>/<test>.jsonl "
        "next to the test file); ignore: rules for volatile arguments; strict: fail "
        "on a missed command or an unused recording; timing: 'none' or 'recorded'; "
        "stubs: hand-written replies ('PATTERN => REPLY' or dicts as in resplay's "
        "docs/stubs.md) that answer before the cassette while the test replays",
    )
    config.stash[_SERVER_KEY] = None
    config.stash[_SWITCHES_KEY] = []
    config.stash[_REPORTS_KEY] = []


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_SERVER_KEY, None)
    if server is not None:
        server.stop()
        config.stash[_SERVER_KEY] = None


def _mode(config: pytest.Config) -> str:
    mode = config.getoption("--resplay-mode") or config.getini("resplay_mode")
    if mode not in MODES:
        raise pytest.UsageError(f"resplay_mode = {mode!r}: expected one of {', '.join(MODES)}")
    return mode


def _upstream(config: pytest.Config) -> Optional[str]:
    return config.getoption("--resplay-upstream") or os.environ.get("REDIS_URL") or None


def _journal_max(config: pytest.Config) -> int:
    value = config.getoption("--resplay-journal-max")
    if value is None:
        raw = config.getini("resplay_journal_max")
        try:
            value = int(raw)
        except ValueError:
            raise pytest.UsageError(
                f"resplay_journal_max = {raw!r}: expected a number of calls"
            ) from None
    if value < 0:
        raise pytest.UsageError(f"--resplay-journal-max {value}: expected 0 or more")
    return value


def _server(config: pytest.Config) -> Server:
    """The session's resplay, started on first use."""
    server = config.stash.get(_SERVER_KEY, None)
    if server is None:
        journal_max = _journal_max(config)
        extra = ["--journal-max", str(journal_max)] if journal_max else []
        try:
            server = Server(
                upstream=_upstream(config), binary=find_binary(), extra_args=extra
            ).start()
        except ResplayError as e:
            raise pytest.UsageError(f"resplay: {e}") from None
        config.stash[_SERVER_KEY] = server
    return server


_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]]+")


def default_cassette(item: pytest.Item) -> Path:
    """``cassettes/<module>/<Class.test_name>.jsonl`` next to the test file,
    as pytest-recording lays out its cassettes."""
    path = Path(str(item.fspath))
    name = item.name
    cls = getattr(item, "cls", None)
    if cls is not None:
        name = f"{cls.__name__}.{name}"
    return path.parent / "cassettes" / path.stem / f"{_UNSAFE.sub('-', name)}.jsonl"


def _cassette(item: pytest.Item, mark: Optional[pytest.Mark]) -> Path:
    named = mark.kwargs.get("cassette") if mark else None
    if named is None and mark and mark.args:
        named = mark.args[0]
    if named is None:
        return default_cassette(item)
    named = Path(named)
    # A relative path is relative to the test file's directory.
    return named if named.is_absolute() else Path(str(item.fspath)).parent / named


def _stubs(value: Any) -> List[Dict[str, Any]]:
    """The mark's ``stubs`` as ``POST /stubs`` takes them: a string
    ``PATTERN => REPLY`` is a stub's ``pattern`` (which takes the reply after
    ``=>``); a dict is a stub as docs/stubs.md writes its keys."""
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        value = [value]
    stubs = []
    for rule in value:
        if isinstance(rule, str):
            stubs.append({"pattern": rule})
        elif isinstance(rule, dict):
            stubs.append(dict(rule))
        else:
            raise pytest.UsageError(
                f"@pytest.mark.resplay(stubs=...): {rule!r}: expected 'PATTERN => REPLY' "
                "or a dict such as {'pattern': 'GET k', 'error': 'LOADING ...', 'times': 2}"
            )
    return stubs


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@pytest.fixture
def resplay(request: pytest.FixtureRequest):
    """Switches the session's resplay to this test's cassette; yields the
    URL to give the Redis client, a ``str`` whose ``calls(pattern)`` and
    ``assert_called(pattern, times=N)`` read this test's calls."""
    config = request.config
    item = request.node
    mark = item.get_closest_marker("resplay")
    options = dict(mark.kwargs) if mark else {}
    unknown = set(options) - set(MARK_OPTIONS)
    if unknown:
        raise pytest.UsageError(
            f"@pytest.mark.resplay: unknown option(s) {', '.join(sorted(unknown))} "
            f"({', '.join(MARK_OPTIONS)})"
        )
    stubs = _stubs(options.get("stubs"))
    mode = _mode(config)
    cassette = _cassette(item, mark)
    steps = plan(mode, cassette.is_file())
    if not steps:
        pytest.fail(
            f"resplay: cassette {_shown(cassette)} does not exist, and --resplay-mode none "
            "never records. Record it with --resplay-mode once (or new_episodes) and a "
            "real Redis (--resplay-upstream redis://HOST:PORT or REDIS_URL).",
            pytrace=False,
        )
    server = _server(config)
    ignore = options.get("ignore") or []
    if isinstance(ignore, str):
        ignore = [ignore]
    strict = options.get("strict")
    if strict is None:
        strict = bool(config.getoption("--resplay-strict") or config.getini("resplay_strict"))
    if steps[0] == "replay":
        steps = _expiry(config, cassette, mode, steps, server, strict)
    if (steps[0] == "record" or "record_misses" in steps) and not server.upstream:
        why = "record" if steps[0] == "record" else "record what is missing from"
        pytest.fail(
            f"resplay: --resplay-mode {mode} needs a real Redis to {why} {_shown(cassette)}: "
            "pass --resplay-upstream redis://HOST:PORT or set REDIS_URL",
            pytrace=False,
        )
    started = time.monotonic()
    try:
        if steps[0] == "record":
            cassette.parent.mkdir(parents=True, exist_ok=True)
            server.switch("record", str(cassette))
        else:
            server.switch(
                "replay",
                str(cassette),
                record_misses="record_misses" in steps,
                ignore=list(ignore),
                timing=options.get("timing"),
                report=_report_path(config, item),
                write_pruned=str(_pruned_path(cassette)) if _prunes(config) else None,
            )
    except ResplayError as e:
        pytest.fail(f"resplay: {e}", pytrace=False)
    config.stash[_SWITCHES_KEY].append(time.monotonic() - started)
    since = None
    what = "stubs"
    try:
        if stubs:
            server.add_stubs(stubs)
        what = "journal"
        if _journal_max(config):
            # Each test's journal holds its own calls: emptied at its start
            # (and read from the last id given then).
            since = server.clear_journal()
    except ResplayError as e:
        _end(server, stubs)
        pytest.fail(f"resplay: {what}: {e}", pytrace=False)
    item.stash[_CASSETTE_KEY] = {
        "path": cassette,
        "recording": steps[0] == "record",
        "strict": strict and steps[0] == "replay",
        "switch_seconds": time.monotonic() - started,
    }
    try:
        yield Resplay(server.url, server, since, steps[0])
    finally:
        previous = _end(server, stubs)
        if steps[0] == "record" and item.stash.get(_CALL_FAILED_KEY, False):
            # A failed test's recording would be replayed next time as if
            # it were right: keep the cassette only for a passing test.
            cassette.unlink(missing_ok=True)
        if steps[0] == "replay" and _prunes(config):
            # resplay wrote it (unless the replay missed); it replaces the
            # cassette only when the test itself passed: a test that failed
            # half-way left recordings unused that it still needs.
            pruned = _pruned_path(cassette)
            if pruned.exists() and not item.stash.get(_BODY_FAILED_KEY, False):
                os.replace(pruned, cassette)
            pruned.unlink(missing_ok=True)
        item.stash[_CASSETTE_KEY]["report"] = previous


@pytest.fixture(autouse=True)
def _resplay_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """A ``@pytest.mark.resplay`` test gets the fixture, and ``REDIS_URL``
    (with ``REDIS_HOST``, ``REDIS_PORT``) pointing at resplay."""
    if request.node.get_closest_marker("resplay") is None:
        yield
        return
    url = request.getfixturevalue("resplay")
    host, port = url.rsplit("/", 1)[-1].rsplit(":", 1)
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("REDIS_HOST", host)
    monkeypatch.setenv("REDIS_PORT", port)
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    try:
        result = yield
    except BaseException:
        item.stash[_CALL_FAILED_KEY] = True
        item.stash[_BODY_FAILED_KEY] = True
        raise
    used = item.stash.get(_CASSETTE_KEY, None)
    server = item.config.stash.get(_SERVER_KEY, None)
    if used and used["strict"] and server is not None:
        status = server.status()
        missed, unused = status.get("missed", 0), status.get("unused", 0)
        if missed or unused:
            item.stash[_CALL_FAILED_KEY] = True
            lines = [
                f"resplay --strict: replaying {_shown(used['path'])}: "
                f"{missed} missed, {unused} unused"
            ]
            lines += [f"  missed: {c}" for c in status.get("first_misses", [])]
            lines += [f"  unused: {c}" for c in status.get("first_unused", [])]
            pytest.fail("\n".join(lines), pytrace=False)
    return result


def _expiry(config, cassette: Path, mode: str, steps: List[str], server: Server, strict: bool):
    """Under --resplay-max-age: an expired cassette is recorded again when
    there is an upstream (and the mode records at all); otherwise a warning,
    or a failure under strict. `resplay age` judges, so the duration reads
    as everywhere else in resplay."""
    max_age = config.getoption("--resplay-max-age") or config.getini("resplay_max_age")
    if not max_age:
        return steps
    try:
        answer = subprocess.run(
            [find_binary(), "age", "--json", "--max-age", max_age, str(cassette)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, ResplayError, subprocess.SubprocessError) as e:
        raise pytest.UsageError(f"resplay: --resplay-max-age {max_age}: {e}") from None
    try:
        verdict = json.loads(answer.stdout)
    except ValueError:
        raise pytest.UsageError(
            f"resplay: --resplay-max-age {max_age}: {answer.stderr.strip()}"
        ) from None
    if not verdict["expired"]:
        return steps
    said = f"resplay: cassette {_shown(cassette)}: {verdict['said']}"
    if mode != "none" and server.upstream:
        warnings.warn(f"{said}: recording it again", stacklevel=2)
        return ["record"]
    hint = (
        "--resplay-mode none never records: use once with --resplay-upstream to record it again"
        if mode == "none"
        else "pass --resplay-upstream redis://HOST:PORT or set REDIS_URL to record it again"
    )
    if strict:
        pytest.fail(f"{said}; {hint}", pytrace=False)
    warnings.warn(f"{said}; replaying it anyway ({hint})", stacklevel=2)
    return steps


def _end(server: Server, stubs: List[Dict[str, Any]]) -> str:
    """Idle, and the test's stubs gone; returns resplay's report on the mode
    that ended."""
    try:
        previous = server.idle()
    except ResplayError as e:
        previous = f"(no report: {e})"
    if stubs:
        try:
            server.clear_stubs()
        except ResplayError:
            pass
    return previous


def _report_path(config: pytest.Config, item: pytest.Item) -> Optional[str]:
    """Where a replayed test's HTML report goes under --resplay-report:
    DIR/<test file>/<test name>.html, named like the test's cassette."""
    directory = config.getoption("--resplay-report")
    if not directory:
        return None
    module = Path(str(item.fspath)).stem
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name).strip("_") or "test"
    path = Path(directory).resolve() / module / f"{name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    config.stash[_REPORTS_KEY].append(str(path))
    return str(path)


def _prunes(config: pytest.Config) -> bool:
    return bool(config.getoption("--resplay-prune"))


def _pruned_path(cassette: Path) -> Path:
    """Where resplay writes a test's pruned cassette before it replaces the
    cassette: beside it, `.pruned` before the extensions (`t.pruned.jsonl.zst`),
    so that a compressed cassette's is compressed too."""
    stem, dot, rest = cassette.name.partition(".")
    return cassette.with_name(f"{stem}.pruned{dot}{rest}")


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()


def pytest_report_header(config: pytest.Config) -> List[str]:
    upstream = _upstream(config)
    try:
        binary = find_binary()
    except ResplayError:
        binary = "(not found)"
    return [
        f"resplay: mode {_mode(config)}, upstream "
        f"{_without_password(upstream) if upstream else '(none: replay only)'}",
        f"resplay: plugin {os.path.dirname(__file__)}, binary {binary}",
    ]


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    server = config.stash.get(_SERVER_KEY, None)
    switches = sorted(config.stash.get(_SWITCHES_KEY, []))
    if server is None or not switches:
        return
    reports = config.stash.get(_REPORTS_KEY, [])
    if reports:
        terminalreporter.write_line(
            f"resplay: {len(reports)} replay report(s) in {config.getoption('--resplay-report')}"
        )
    median = switches[len(switches) // 2]
    terminalreporter.write_line(
        f"resplay: one process for {len(switches)} test cassette(s): started in "
        f"{server.start_seconds * 1000:.1f} ms; switching to a test's cassette took "
        f"{median * 1000:.1f} ms (median), {switches[-1] * 1000:.1f} ms (max)"
    )
