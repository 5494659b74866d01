"""Moving a registry alias with a record of every move, and the lock that serialises moves.

Each move appends an entry ``{"alias", "action", "version", "from_version", "by", "at",
"reason"}`` to the JSON list in tag ``alias_history`` of both the version that receives the
alias and the one that loses it (who = ``user@host``, when = ISO-8601 UTC).  The registered
model's tag ``<alias>_history`` is the stack of holders (oldest first) that ``--rollback``
pops.  Tag values are capped by MLflow (5000 characters), so lists keep their last entries.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

HISTORY_TAG = "alias_history"
MAX_TAG_CHARS = 5000


def actor() -> str:
    """``user@host`` of this process (``FACEALIGN_ACTOR`` overrides it, e.g. in CI)."""
    if os.environ.get("FACEALIGN_ACTOR"):
        return os.environ["FACEALIGN_ACTOR"]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def now() -> str:
    """The current time, ISO-8601 UTC, seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _json_list(value: str | None) -> list:
    try:
        out = json.loads(value) if value else []
    except json.JSONDecodeError:
        return []
    return out if isinstance(out, list) else []


def _capped(items: list) -> str:
    """JSON of the longest suffix of ``items`` that fits a tag value."""
    for start in range(len(items) + 1):
        text = json.dumps(items[start:], separators=(",", ":"))
        if len(text) <= MAX_TAG_CHARS:
            return text
    return "[]"


def holder(client: Any, name: str, alias: str) -> str | None:
    """The version that holds ``alias`` now, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def holder_stack(client: Any, name: str, alias: str) -> list[str]:
    """Past and present holders of ``alias``, oldest first (the rollback stack)."""
    tags = client.get_registered_model(name).tags
    return [str(v) for v in _json_list(tags.get(f"{alias}_history"))]


def _append_history(client: Any, name: str, version: str, entry: dict) -> None:
    tags = client.get_model_version(name, version).tags
    history = _json_list(tags.get(HISTORY_TAG)) + [entry]
    client.set_model_version_tag(name, version, HISTORY_TAG, _capped(history))


def move_alias(client: Any, name: str, alias: str, version: str, reason: str,
               action: str = "promote") -> dict:
    """Point ``alias`` at ``version`` and record the move; returns the history entry.

    ``action`` is ``promote`` (pushes ``version`` on the holder stack) or ``rollback``
    (pops the current holder off it).
    """
    previous = holder(client, name, alias)
    entry = {"alias": alias, "action": action, "version": str(version), "from_version": previous,
             "by": actor(), "at": now(), "reason": reason}
    client.set_registered_model_alias(name, alias, str(version))
    stack = holder_stack(client, name, alias)
    if action == "rollback":
        stack = stack[:-1] if stack and stack[-1] == previous else stack
        if not stack or stack[-1] != str(version):
            stack.append(str(version))
    else:
        stack.append(str(version))
    client.set_registered_model_tag(name, f"{alias}_history", _capped(stack))
    _append_history(client, name, str(version), entry)
    if previous is not None and previous != str(version):
        _append_history(client, name, previous, {**entry, "action": f"lost-by-{action}"})
    return entry


def lock_path(tracking_uri: str, name: str) -> Path:
    """A lock file shared by every process of this machine that moves ``name``'s aliases."""
    key = hashlib.md5(f"{tracking_uri}|{name}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"facealign-registry-{key}.lock"
