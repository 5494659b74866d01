"""One registry version per content: two ``facealign promote`` processes started at once
register a new aligner once, and a writer that lost a race with another machine deletes
its duplicate."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml
from tiny_faces import NAME, mean_shape_dir

from facealign.registry.register import aligner_hash
from facealign.registry.versions import create_version, versions_with_hash

# waits for the parent's "go" after the imports, so both processes race from the same instant
PROMOTE_AT_THE_SIGNAL = """
import sys, time
from pathlib import Path
from commands.cli import main
root, me = Path(sys.argv[1]), sys.argv[2]
(root / f"ready-{me}").touch()
while not (root / "go").exists():
    time.sleep(0.01)
output = str(root / f"promotion-{me}.json")
sys.exit(main(["promote", "--params", str(root / "params.yaml"), "--output", output]))
"""


def test_two_promote_runs_at_once_register_a_new_aligner_once(registry, test_set, tmp_path: Path) -> None:
    from facealign.evaluation import evaluate
    from facealign.registry.loading import load_aligner

    new = mean_shape_dir(tmp_path / "models" / "new", 0.01, seed=5)
    evaluate(load_aligner(str(new)), test_set, tmp_path / "metrics" / "new.json", n_overlays=0,
             progress=False)
    cfg = {**registry["cfg"], "presets": {"default": {}}}
    cfg["paths"] = {**cfg["paths"], "data": str(test_set.parent), "metrics": str(tmp_path / "metrics")}
    cfg["registry"] = {**cfg["registry"], "candidates": {"new": str(new)}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(cfg))

    procs = [subprocess.Popen([sys.executable, "-c", PROMOTE_AT_THE_SIGNAL, str(tmp_path), me],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for me in ("a", "b")]
    deadline = time.monotonic() + 300
    while not all((tmp_path / f"ready-{me}").exists() for me in ("a", "b")):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), procs[0].stdout.read()
        time.sleep(0.05)
    (tmp_path / "go").touch()
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    records = [json.loads((tmp_path / f"promotion-{me}.json").read_text())["registered"]["new"]
               for me in ("a", "b")]
    assert records[0]["version"] == records[1]["version"]
    assert sorted(r["status"] for r in records) == ["already registered", "registered"]
    same = versions_with_hash(registry["client"], NAME, aligner_hash(new))
    assert [str(v.version) for v in same] == [records[0]["version"]]


def test_a_writer_that_lost_a_race_keeps_the_older_version_and_deletes_its_own(registry) -> None:
    import mlflow

    client, good = registry["client"], registry["versions"]["good"]
    source = client.get_model_version(NAME, good).source
    digest = "f" * 32
    # another machine registered the content first (its lock is not ours)
    first = mlflow.register_model(source, NAME, tags={"aligner_hash": digest}).version
    version, created = create_version(client, NAME, source, digest, {"family": "mean_shape"})
    assert (version, created) == (str(first), False)
    assert [str(v.version) for v in versions_with_hash(client, NAME, digest)] == [str(first)]
