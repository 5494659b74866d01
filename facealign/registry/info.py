"""What a model specification points at now: registry name, alias, version and tags.

``models:/NAME@ALIAS`` resolves to the version holding the alias at the time of the call;
``models:/NAME/VERSION`` to that version; anything else (``runs:/...``, an aligner
directory, ``mean-shape``) has no registry version.  Loading the *pinned* URI of a
resolution (``models:/NAME/VERSION``) avoids racing an alias move between resolving and
loading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from facealign.manifest import is_aligner_dir, read_manifest

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))/?$")


@dataclass(frozen=True)
class ModelRef:
    """A resolved model specification."""

    spec: str
    name: str | None = None
    alias: str | None = None
    version: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def pinned(self) -> str:
        """The URI that loads exactly this version (the spec itself outside the registry)."""
        return f"models:/{self.name}/{self.version}" if self.name and self.version else self.spec

    def describe(self) -> dict[str, Any]:
        """``GET /v1/model``: name, version, alias, family, ``nme_mean``, test data hash."""
        nme = self.tags.get("nme_mean")
        try:
            nme_value = float(nme) if nme is not None else None
        except ValueError:
            nme_value = None
        return {"spec": self.spec, "name": self.name, "version": self.version, "alias": self.alias,
                "family": self.tags.get("family"), "nme_mean": nme_value,
                "test_data_hash": self.tags.get("test_data_hash"),
                "git_commit": self.tags.get("git_commit"), "source_run": self.tags.get("source_run")}


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None] | None:
    """``models:/name@alias`` -> (name, alias, None); ``models:/name/3`` -> (name, None, "3")."""
    match = _MODELS_URI.match(uri)
    return None if match is None else (match["name"], match["alias"], match["version"])


def resolve(spec: str, client: Any = None) -> ModelRef:
    """Resolve ``spec`` now (one registry round trip for ``models:/`` URIs)."""
    parsed = parse_models_uri(spec)
    if parsed is None:
        tags = {}
        if is_aligner_dir(spec):
            tags = {"family": str(read_manifest(spec)["family"])}
        elif spec == "mean-shape":
            tags = {"family": "mean_shape"}
        return ModelRef(spec, tags=tags)
    name, alias, version = parsed
    if client is None:
        from mlflow import MlflowClient

        client = MlflowClient()
    mv = _lookup(client, spec, name, alias, version)
    return ModelRef(spec, name, alias, str(mv.version), dict(mv.tags))


class ModelNotFoundError(ValueError):
    """A ``models:/`` URI whose model, alias or version the registry does not hold; the
    message is one line naming it and the registry."""


def store_uri(client: Any = None) -> str:
    """The registry URI ``client`` (default: MLflow's configured one) talks to, for messages."""
    uri = getattr(client, "_registry_uri", None)  # MlflowClient keeps it; no public accessor
    if uri:
        return str(uri)
    import mlflow

    return str(mlflow.get_registry_uri())


def _lookup(client: Any, spec: str, name: str, alias: str | None, version: str | None) -> Any:
    """The model version ``spec`` names; :class:`ModelNotFoundError` when there is none."""
    from mlflow.exceptions import MlflowException

    where = f"registry {store_uri(client)}"
    try:
        if alias:
            return client.get_model_version_by_alias(name, alias)
        return client.get_model_version(name, version)
    except MlflowException:
        pass  # which part is missing (sqlite and REST stores report it differently): ask below
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise ModelNotFoundError(f"{spec}: no registered model {name!r} in the {where}") from None
    if alias:
        known = ", ".join(sorted(model.aliases)) or "none"
        raise ModelNotFoundError(f"{spec}: model {name!r} has no alias {alias!r} in the {where} "
                                 f"(aliases: {known})")
    raise ModelNotFoundError(f"{spec}: model {name!r} has no version {version} in the {where}")
