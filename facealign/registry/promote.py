"""NME-based promotion of registry versions to an alias (``champion``), and rollback.

A :class:`Judge` measures every compared version on one data set, the synthetic test set
(tags ``nme_*``, ``test_data_hash``) or the real folders of ``paths.real_data`` (tags
``real_nme_*``, ``real_data_hash``), by one code path.  A version's NME tags count only when
its hash tag equals the data's hash; otherwise (or when missing) the version is loaded from
the registry and evaluated now, and its tags updated.  The alias moves to the candidate with
the lowest ``nme_mean`` (percent) only when strictly lower than the holder's.

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

from facealign.evaluation import Folders, as_folders
from facealign.registry import alias as aliases
from facealign.registry.register import NME_KEYS, REAL_PREFIX, hash_tag, nme_tags

LOCK_TIMEOUT_S = 600.0


@dataclass
class Measured:
    """A version's NMEs (percent, keyed ``nme_*`` without the prefix) on the data ``data_hash``."""

    version: str
    family: str
    nme: dict[str, float | None]
    data_hash: str
    source: str  # "tags" (measured earlier on the same data) or "evaluated" (now)
    error: str | None = None
    prefix: str = ""  # "" synthetic test set, "real_" real faces: the keys of to_json

    @property
    def score(self) -> float:
        """``nme_mean``; +inf when it is unknown or the version failed to load (never wins)."""
        value = self.nme.get("nme_mean")
        if self.error is not None or value is None or not math.isfinite(value):
            return math.inf
        return float(value)

    def to_json(self, role: str) -> dict:
        nme = {f"{self.prefix}{k}": v for k, v in self.nme.items()}
        out = {"role": role, "family": self.family, **nme, "source": self.source}
        return out if self.error is None else {**out, "error": self.error}


def _tag_float(value: str | None) -> float | None:
    try:
        f = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return f if math.isfinite(f) else None


@dataclass
class Judge:
    """Measures versions of ``name`` on ``data`` (cached per version): the synthetic test
    folder (``prefix=""``: tags ``nme_*``, ``test_data_hash``) or the real folders, as their
    union (``prefix="real_"``: tags ``real_nme_*``, ``real_data_hash``).  ``data_hash`` is the
    data's :func:`~facealign.evaluation.folders_hash`."""

    client: Any
    name: str
    data: Folders
    data_hash: str
    reevaluate: bool = False
    prefix: str = ""
    _cache: dict[str, Measured] = field(default_factory=dict)

    @property
    def decided_by(self) -> str:
        """``"real"`` or ``"synthetic"``: the data this judge ranks by."""
        return "real" if self.prefix == REAL_PREFIX else "synthetic"

    @property
    def hash_key(self) -> str:
        """The version tag (and record key) of the data hash: test_data_hash / real_data_hash."""
        return hash_tag(self.prefix)

    def measure(self, version: str) -> Measured:
        version = str(version)
        if version not in self._cache:
            self._cache[version] = self._measure(version)
        return self._cache[version]

    def _measure(self, version: str) -> Measured:
        tags = self.client.get_model_version(self.name, version).tags
        family, p = tags.get("family", "unknown"), self.prefix
        if not self.reevaluate and tags.get(self.hash_key) == self.data_hash:
            nme = {k: _tag_float(tags.get(f"{p}{k}")) for k in NME_KEYS}
            return Measured(version, family, nme, self.data_hash, "tags",
                            error=smoke_test(self.name, version, self.data), prefix=p)
        try:
            metrics = evaluate_version(self.name, version, self.data)
        except Exception as exc:  # noqa: BLE001 - a version that cannot run cannot win
            return Measured(version, family, dict.fromkeys(NME_KEYS), self.data_hash, "evaluated",
                            error=f"{type(exc).__name__}: {exc}", prefix=p)
        nme = {k: metrics.get(k) for k in NME_KEYS}
        old = {k: tags.get(k) for k in (*(f"{p}{k}" for k in NME_KEYS), self.hash_key)}
        for key, value in {**nme_tags(nme, p), self.hash_key: self.data_hash}.items():
            self.client.set_model_version_tag(self.name, version, key, value)
        self.client.set_model_version_tag(self.name, version, f"{p}previous_measurement", json.dumps(old))
        return Measured(version, family, nme, self.data_hash, "evaluated", prefix=p)


def smoke_test(name: str, version: str, data: Folders) -> str | None:
    """Load ``models:/name/version`` with the current code and align one image of ``data``;
    the error, or None.  A version measured earlier may no longer load (e.g. after a
    format change of its family), and then it can neither serve nor stay champion."""
    import numpy as np

    from facealign.data.readers import load_image
    from facealign.registry.pyfunc import load_aligner_from_uri

    try:
        aligner = load_aligner_from_uri(f"models:/{name}/{version}")
        image = load_image([p for f in as_folders(data) for p in sorted(f.glob("*.jpg"))][0])
        h, w = image.shape[:2]
        aligner.align([image], np.array([[0.2 * w, 0.2 * h, 0.8 * w, 0.8 * h]]))
    except Exception as exc:  # noqa: BLE001 - any failure disqualifies the version
        return f"failed to load or run: {type(exc).__name__}: {exc}"
    return None


def evaluate_version(name: str, version: str, data: Folders) -> dict:
    """Load ``models:/name/version`` and evaluate it on ``data`` (one folder or several);
    the metrics dict (NMEs in percent)."""
    from facealign.evaluation import evaluate
    from facealign.registry.pyfunc import load_aligner_from_uri

    aligner = load_aligner_from_uri(f"models:/{name}/{version}")
    with tempfile.TemporaryDirectory(prefix="facealign-promote-") as tmp:
        return evaluate(aligner, data, Path(tmp) / "metrics.json", n_overlays=0, progress=False)


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


def _record(judge: Judge, alias: str, previous: str | None, champ: Measured | None,
            compared: dict) -> dict:
    """The fields of every decision record: what was compared, on which data."""
    record = {"previous_version": previous, "nme_previous": None if champ is None else champ.nme["nme_mean"],
              "compared": compared, "decided_by": judge.decided_by, judge.hash_key: judge.data_hash,
              "model": judge.name, "alias": alias}
    if judge.prefix:
        record[f"{judge.prefix}data"] = [str(f) for f in as_folders(judge.data)]
    return record


def promote(judge: Judge, alias: str, candidates: list[str], tracking_uri: str,
            note: str | None = None) -> dict:
    """Compare ``candidates`` with the holder of ``alias`` on the judge's data; move it to a
    strictly better one.  ``note`` (the user's why) is appended to the reason recorded.

    Returns:
        The decision record of ``metrics/promotion.json`` (see the command's docs):
        ``nme_previous`` / ``nme_best_candidate`` are ``nme_mean`` (percent) on the data that
        decided (``decided_by``: ``real`` or ``synthetic``, hash under ``judge.hash_key``).
    """
    from filelock import FileLock

    data = f"{'real' if judge.prefix else 'test'} data"
    with FileLock(str(aliases.lock_path(tracking_uri, judge.name)), timeout=LOCK_TIMEOUT_S):
        previous = aliases.holder(judge.client, judge.name, alias)
        pool = [judge.measure(v) for v in dict.fromkeys(str(c) for c in candidates)]
        compared = {m.version: m.to_json("candidate") for m in pool}
        champ = judge.measure(previous) if previous is not None else None
        if champ is not None:
            compared[champ.version] = champ.to_json("champion")
        ranked = sorted((m for m in pool if math.isfinite(m.score)), key=lambda m: (m.score, -int(m.version)))
        record = _record(judge, alias, previous, champ, compared)
        if ranked:
            record.update(best_candidate=ranked[0].version, nme_best_candidate=ranked[0].nme["nme_mean"])
        kept = {**record, "decision": "kept", "champion_version": previous}
        if not ranked:
            return {**kept, "reason": f"no candidate has a finite {judge.prefix}nme_mean on this {data}"}
        best = ranked[0]
        if champ is not None and best.version == champ.version:
            return {**kept, "reason": f"v{previous} holds {alias} and is the best (NME {best.score:.4f})"}
        if champ is not None and not best.score < champ.score:
            return {**kept, "reason": f"best candidate v{best.version} (NME {best.score:.4f}) is not "
                    f"strictly better than {alias} v{previous} (NME {champ.score:.4f}) on the same {data}"}
        if champ is None:
            why = f"no version held {alias}"
        elif champ.error:
            why = f"{alias} v{previous} {champ.error}; v{best.version} NME {best.score:.4f}"
        else:
            why = f"v{best.version} NME {best.score:.4f} < v{previous} NME {champ.score:.4f}"
        reason = f"{why} on {data} {judge.data_hash}" + (f"; {note}" if note else "")
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
