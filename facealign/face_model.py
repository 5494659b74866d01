"""Choose the morphable model from the ``face_model`` section of ``params.yaml``.

``kind`` is ``procedural`` (the embedded default, built from code), ``bfm`` (a Basel
Face Model ``.mat`` in the face3d/3DDFA layout), ``sfm`` (Surrey Face Model ``.bin`` or
``.npz``), ``3ddfa`` (the 3DDFA dense mean mesh, without bases) or ``3ddfa_68`` (the
3DDFA pieces' 68-point bases, 40 identity + 10 expression, as a subdivided landmark mesh:
:func:`facegeom.landmark_mesh.landmark_mesh`; 300W-LP / AFLW2000-3D labels are then
truncated to its components, 3DDFA's 62-d convention).
"""

from __future__ import annotations

from pathlib import Path

from facegeom.morphable_model import MorphableModel


def build_face_model(section: dict) -> MorphableModel:
    """The model described by ``section`` (keys: kind, path, n_id, n_exp, resolution, seed).

    ``n_id`` / ``n_exp`` truncate a loaded real model to its first components.
    """
    kind = section.get("kind", "procedural")
    if kind == "procedural":
        from facegeom.procedural_face import build_procedural_model

        return build_procedural_model(
            n_id=int(section["n_id"]), n_exp=int(section["n_exp"]),
            resolution=int(section["resolution"]), seed=int(section["seed"]),
        )
    path = section.get("path")
    if not path or not Path(path).exists():
        raise FileNotFoundError(f"face_model.path: {path!r} does not exist (needed for kind {kind!r})")
    from facegeom import model_files
    from facegeom.landmark_mesh import landmark_mesh

    loaders = {"bfm": model_files.load_bfm_mat, "sfm": model_files.load_sfm,
               "3ddfa": model_files.load_3ddfa_dense,
               "3ddfa_68": lambda folder: landmark_mesh(model_files.load_3ddfa_landmark_model(folder))}
    if kind not in loaders:
        raise ValueError(f"face_model.kind: unknown kind {kind!r} (procedural, {', '.join(loaders)})")
    model = loaders[kind](path)
    n_id = min(model.n_id, int(section["n_id"]))
    return model.truncated(n_id, min(model.n_exp, int(section["n_exp"])))
