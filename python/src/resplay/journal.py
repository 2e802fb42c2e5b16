"""What a test's code said to Redis, read from resplay's call journal
(``GET /journal``): ``resplay.calls(pattern)`` and
``resplay.assert_called(pattern, times=N)``."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .server import ResplayError, Server

#: How many close calls a failed assertion lists at most.
SHOWN = 10


@dataclass(frozen=True)
class Call:
    """One command the server received, as the journal lists it."""

    #: Increasing over the resplay process's life.
    id: int
    #: resplay's id for the client connection (as ``CLIENT ID`` shows it).
    conn: int
    #: The database it ran in.
    db: int
    #: Its arguments, the command name first, as sent (passwords redacted).
    args: Tuple[str, ...]
    #: The command as ``resplay show`` displays it: ``SET user:1 ada EX 60``.
    cmd: str
    #: The reply the client got, as redis-cli prints it: ``OK``, ``"ada"``,
    #: ``(error) LOADING …``, ``(nil)``.
    reply: str
    #: The reply is an error.
    error: bool
    #: When it was received, in milliseconds since the Unix epoch.
    at: int
    #: The request was too large to keep whole: each argument is cut.
    cut: bool = False

    @classmethod
    def of(cls, raw: Dict[str, Any]) -> "Call":
        return cls(
            id=raw["id"],
            conn=raw["conn"],
            db=raw["db"],
            args=tuple(raw["args"]),
            cmd=raw["cmd"],
            reply=raw["reply"],
            error=bool(raw.get("error")),
            at=raw.get("at", 0),
            cut=bool(raw.get("cut")),
        )

    def __str__(self) -> str:
        return f"{self.cmd} -> {self.reply}  (conn {self.conn}, db {self.db})"


class Resplay(str):
    """What the ``resplay`` fixture yields: the URL to give the Redis client
    (a ``str``: ``redis.Redis.from_url(resplay)`` works as before), with the
    test's calls to assert on."""

    _server: Optional[Server]
    _since: Optional[int]
    #: ``"record"`` (the test talks to the real Redis through resplay) or
    #: ``"replay"`` (its cassette and stubs answer).
    mode: str

    def __new__(
        cls, url: str, server: Optional[Server], since: Optional[int], mode: str
    ) -> "Resplay":
        self = super().__new__(cls, url)
        self._server = server
        self._since = since
        self.mode = mode
        return self

    @property
    def url(self) -> str:
        """The URL as a plain ``str``."""
        return str.__str__(self)

    @property
    def replaying(self) -> bool:
        return self.mode == "replay"

    def calls(self, pattern: Optional[str] = None) -> List[Call]:
        """The calls this test made that fit ``pattern``, oldest first.

        ``pattern`` is resplay's ``--ignore`` syntax: the command name (any
        case) then one token per argument, ``<any>`` for any one, a glob
        (``user:*``), ``...`` for the rest; a bare name means any arguments,
        ``*`` any command; none lists every call (handshakes included)."""
        if self._server is None or self._since is None:
            raise ResplayError(
                "the call journal is off (--resplay-journal-max 0): give it a size, "
                "e.g. --resplay-journal-max 10000 (the default)"
            )
        answer = self._server.journal(pattern, self._since)
        calls = [Call.of(c) for c in answer["calls"]]
        if answer.get("dropped"):
            # The cap dropped calls of this test: a count would be wrong.
            raise ResplayError(
                f"the call journal dropped {answer['dropped']} call(s) of this test "
                f"(it keeps {answer['max']}): raise --resplay-journal-max"
            )
        return calls

    def assert_called(self, pattern: str, times: Optional[int] = None) -> List[Call]:
        """Fails the test unless it made exactly ``times`` calls that fit
        ``pattern`` (at least one when ``times`` is None); returns them.
        The failure lists the calls that came close: the same command with
        other arguments, or else the nearest by their text."""
        __tracebackhide__ = True
        found = self.calls(pattern)
        if (len(found) > 0) if times is None else (len(found) == times):
            return found
        raise AssertionError(failure(pattern, times, found, self.calls()))


def failure(pattern: str, times: Optional[int], found: List[Call], every: List[Call]) -> str:
    """The message of a failed ``assert_called``: what was expected, what
    came, and the calls that came close."""
    wanted = "at least 1 call" if times is None else f"{times} call{'s' if times != 1 else ''}"
    lines = [
        f"resplay: expected {wanted} matching {pattern!r}, got {len(found)} "
        f"(this test made {len(every)} call{'s' if len(every) != 1 else ''})"
    ]
    if found:
        lines.append("  calls that matched:")
        lines += [f"    {c}" for c in found[:SHOWN]]
        if len(found) > SHOWN:
            lines.append(f"    … and {len(found) - SHOWN} more")
    matched = {c.id for c in found}
    close, how = close_calls(pattern, [c for c in every if c.id not in matched], bool(found))
    if close:
        lines.append(f"  close calls ({how}):")
        lines += [f"    {c}" for c in close[:SHOWN]]
        if len(close) > SHOWN:
            lines.append(f"    … and {len(close) - SHOWN} more")
    elif not found:
        lines.append("  no call came close")
    return "\n".join(lines)


def close_calls(pattern: str, calls: List[Call], some_matched: bool = False) -> Tuple[List[Call], str]:
    """The calls with the pattern's command name; when there are none (and
    none matched either), the three nearest by their text (difflib's ratio
    against the pattern)."""
    words = pattern.split()
    name = words[0].upper() if words else ""
    if name and name != "*":
        same = [c for c in calls if c.args and c.args[0].upper() == name]
        if same:
            return same, f"same command, {name}"
    if some_matched:
        return [], ""
    ranked = sorted(
        calls,
        key=lambda c: -difflib.SequenceMatcher(None, pattern.upper(), c.cmd.upper()).ratio(),
    )
    return ranked[:3], "nearest by text"
