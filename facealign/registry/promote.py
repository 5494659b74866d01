"""NME-based promotion of registry versions to an alias (``champion``), and rollback.

Every version compared is measured on the same test data: a version's NME tags count only
when its ``test_data_hash`` tag equals the current test set's hash; otherwise the version
is loaded from the registry and evaluated now (and its tags updated).  The alias moves to
the candidate with the lowest ``nme_mean`` only when that is strictly lower than the
current holder's; ties and worse keep the holder.

Concurrency: the read-compare-set runs under a file lock shared by the processes of this
machine, and the set is a compare-and-set: the holder is re-read right before and right
after moving the alias; if another writer moved it meanwhile, its choice is measured and
kept when it is at least as good, so racing promotions cannot leave the worse model.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facealign.registry import alias as aliases
from facealign.registry.register import NME_KEYS

LOCK_TIMEOUT_S = 600.0


@dataclass
class Measured:
    """A version's NMEs (percent) on the test data ``test_data_hash``."""

    version: str
    family: str
    nme: dict[str, float | None]
    test_data_hash: str
    source: str  # "tags" (measured earlier on the same data) or "evaluated" (now)
    error: str | None = None

    @property
    def score(self) -> float:
        """``nme_mean``; +inf when it is unknown or the version failed to load (never wins)."""
        value = self.nme.get("nme_mean")
        if self.error is not None or value is None or not math.isfinite(value):
            return math.inf
        return float(value)

    def to_json(self, role: str) -> dict:
        out = {"role": role, "family": self.family, **self.nme, "source": self.source}
        return out if self.error is None else {**out, "error": self.error}


def _tag_float(value: str | None) -> float | None:
    try:
        f = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return f if math.isfinite(f) else None


@dataclass
class Judge:
    """Measures versions of ``name`` on one test set (cached per version)."""

    client: Any
    name: str
    test_dir: Path
    test_hash: str
    reevaluate: bool = False
    _cache: dict[str, Measured] = field(default_factory=dict)

    def measure(self, version: str) -> Measured:
        version = str(version)
        if version not in self._cache:
            self._cache[version] = self._measure(version)
        return self._cache[version]

    def _measure(self, version: str) -> Measured:
        tags = self.client.get_model_version(self.name, version).tags
        family = tags.get("family", "unknown")
        if not self.reevaluate and tags.get("test_data_hash") == self.test_hash:
            return Measured(version, family, {k: _tag_float(tags.get(k)) for k in NME_KEYS},
                            self.test_hash, "tags", error=smoke_test(self.name, version, self.test_dir))
        try:
            metrics = evaluate_version(self.name, version, self.test_dir)
        except Exception as exc:  # noqa: BLE001 - a version that cannot run cannot win
            return Measured(version, family, dict.fromkeys(NME_KEYS), self.test_hash, "evaluated",
                            error=f"{type(exc).__name__}: {exc}")
        nme = {k: metrics.get(k) for k in NME_KEYS}
        old = {k: tags.get(k) for k in (*NME_KEYS, "test_data_hash")}
        for key, value in nme.items():
            self.client.set_model_version_tag(self.name, version, key,
                                              "nan" if value is None else f"{value:.6g}")
        self.client.set_model_version_tag(self.name, version, "test_data_hash", self.test_hash)
        self.client.set_model_version_tag(self.name, version, "previous_measurement", json.dumps(old))
        return Measured(version, family, nme, self.test_hash, "evaluated")


def smoke_test(name: str, version: str, test_dir: Path) -> str | None:
    """Load ``models:/name/version`` with the current code and align one test image;
    the error, or None.  A version measured earlier may no longer load (e.g. after a
    format change of its family), and then it can neither serve nor stay champion."""
    import numpy as np

    from facealign.data.readers import load_image
    from facealign.registry.pyfunc import load_aligner_from_uri

    try:
        aligner = load_aligner_from_uri(f"models:/{name}/{version}")
        image = load_image(next(iter(sorted(Path(test_dir).glob("*.jpg")))))
        h, w = image.shape[:2]
        aligner.align([image], np.array([[0.2 * w, 0.2 * h, 0.8 * w, 0.8 * h]]))
    except Exception as exc:  # noqa: BLE001 - any failure disqualifies the version
        return f"failed to load or run: {type(exc).__name__}: {exc}"
    return None


def evaluate_version(name: str, version: str, test_dir: Path) -> dict:
    """Load ``models:/name/version`` and evaluate it on ``test_dir``; the metrics dict."""
    from facealign.evaluation import evaluate
    from facealign.registry.pyfunc import load_aligner_from_uri

    aligner = load_aligner_from_uri(f"models:/{name}/{version}")
    with tempfile.TemporaryDirectory(prefix="facealign-promote-") as tmp:
        return evaluate(aligner, test_dir, Path(tmp) / "metrics.json", n_overlays=0, progress=False)


def compare_and_set(judge: Judge, alias: str, expected: str | None, best: Measured, reason: str,
                    rounds: int = 3) -> tuple[str | None, str]:
    """Move ``alias`` to ``best`` unless another writer's holder is at least as good.

    Returns:
        (the holder afterwards, what happened).
    """
    client, name = judge.client, judge.name
    for _ in range(rounds):
        current = aliases.holder(client, name, alias)
        if current != expected and current is not None:
            theirs = judge.measure(current)
            if theirs.score <= best.score:
                return current, (f"another promotion moved {alias} to v{current} "
                                 f"(NME {theirs.score:.4f}), kept")
            expected = current
        aliases.move_alias(client, name, alias, best.version, reason)
        after = aliases.holder(client, name, alias)
        if after == best.version:
            return after, reason
        expected = after  # someone wrote in between: judge their choice next round
    return aliases.holder(client, name, alias), f"gave up after {rounds} contested rounds"


def promote(judge: Judge, alias: str, candidates: list[str], tracking_uri: str,
            note: str | None = None) -> dict:
    """Compare ``candidates`` with the holder of ``alias``; move it to a strictly better one.

    ``note`` (the user's why) is appended to the reason recorded with an alias move.

    Returns:
        The decision record of ``metrics/promotion.json`` (see the command's docs).
    """
    from filelock import FileLock

    with FileLock(str(aliases.lock_path(tracking_uri, judge.name)), timeout=LOCK_TIMEOUT_S):
        previous = aliases.holder(judge.client, judge.name, alias)
        pool = [judge.measure(v) for v in dict.fromkeys(str(c) for c in candidates)]
        compared = {m.version: m.to_json("candidate") for m in pool}
        champ = judge.measure(previous) if previous is not None else None
        if champ is not None:
            compared[champ.version] = champ.to_json("champion")
        ranked = sorted((m for m in pool if math.isfinite(m.score)), key=lambda m: (m.score, -int(m.version)))
        record = {"previous_version": previous,
                  "nme_previous": None if champ is None else champ.nme["nme_mean"],
                  "compared": compared, "test_data_hash": judge.test_hash, "model": judge.name,
                  "alias": alias}
        if not ranked:
            return {**record, "decision": "kept", "champion_version": previous,
                    "reason": "no candidate has a finite nme_mean on this test set"}
        best = ranked[0]
        record["best_candidate"], record["nme_best_candidate"] = best.version, best.nme["nme_mean"]
        if champ is not None and best.version == champ.version:
            return {**record, "decision": "kept", "champion_version": previous,
                    "reason": f"v{previous} holds {alias} and is the best (NME {best.score:.4f})"}
        if champ is not None and not best.score < champ.score:
            return {**record, "decision": "kept", "champion_version": previous,
                    "reason": (f"best candidate v{best.version} (NME {best.score:.4f}) is not strictly "
                               f"better than {alias} v{previous} (NME {champ.score:.4f}) "
                               "on the same test data")}
        if champ is None:
            why = f"no version held {alias}"
        elif champ.error:
            why = f"{alias} v{previous} {champ.error}; v{best.version} NME {best.score:.4f}"
        else:
            why = f"v{best.version} NME {best.score:.4f} < v{previous} NME {champ.score:.4f}"
        reason = f"{why} on test data {judge.test_hash}" + (f"; {note}" if note else "")
        holder, what = compare_and_set(judge, alias, previous, best, reason)
        decision = "promoted" if holder == best.version else "kept"
        return {**record, "decision": decision, "champion_version": holder, "reason": what}


def rollback(client: Any, name: str, alias: str, tracking_uri: str, reason: str = "rollback") -> dict:
    """Move ``alias`` back to its previous holder (the rollback stack, else the last move)."""
    from filelock import FileLock

    with FileLock(str(aliases.lock_path(tracking_uri, name)), timeout=LOCK_TIMEOUT_S):
        current = aliases.holder(client, name, alias)
        if current is None:
            raise ValueError(f"{name}@{alias}: no version holds the alias, nothing to roll back")
        stack = aliases.holder_stack(client, name, alias)
        target = stack[-2] if len(stack) >= 2 and stack[-1] == current else None
        if target is None:
            history = json.loads(client.get_model_version(name, current).tags.get(aliases.HISTORY_TAG, "[]"))
            moves = [e for e in history if e.get("version") == current and e.get("action") == "promote"
                     and e.get("from_version")]
            target = moves[-1]["from_version"] if moves else None
        if target is None:
            raise ValueError(f"{name}@{alias}: v{current} has no previous holder to roll back to")
        entry = aliases.move_alias(client, name, alias, target, reason, action="rollback")
        return {"decision": "rolled_back", "previous_version": current, "champion_version": target,
                "reason": reason, "model": name, "alias": alias, "by": entry["by"], "at": entry["at"]}
