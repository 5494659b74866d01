"""Closed-form ridge regression and the cascade of SDM descent maps.

One descent map per iteration: ``delta = F @ matrix + bias`` maps the concatenated
descriptors ``F`` (B, D) to the update of the state (B, M) - the 2L landmark offsets
followed by the 6 camera offsets.  All outputs share one ridge problem, solved in its
primal form (D x D system) or dual form (N x N system), whichever is smaller; both give
the same solution.  :func:`select_ridge_blocks` instead solves one ridge problem per output
block (landmarks, camera) with its own strength, the DFF paper's eqs. 9-10.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

from faceio.atomic import atomic_path


@dataclass(frozen=True)
class DescentMap:
    """One linear update. ``matrix`` (D, M) float32, ``bias`` (M,) float64."""

    matrix: np.ndarray
    bias: np.ndarray

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(B, D) -> (B, M) float64."""
        return (np.asarray(features, np.float32) @ self.matrix).astype(np.float64) + self.bias


def _penalty(fc: np.ndarray, strength: float) -> float:
    """Absolute ridge penalty: ``strength`` times the summed per-feature variance (sum Fc^2 / D)."""
    return max(strength * float(np.einsum("ij,ij->", fc, fc, dtype=np.float64)) / fc.shape[1], 1e-12)


def _spd_solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``matrix^-1 rhs`` for a symmetric positive definite matrix, by Cholesky.

    (``scipy.linalg.solve(assume_a="pos")`` also estimates the condition number and checks
    finiteness, several times slower on the SDM's ridge systems.)  The factorisation runs on
    one BLAS thread: for these sizes (N <= a few thousand) multithreaded ``potrf`` gains
    little on an idle machine and stalls for 10-50x longer when the cores are shared.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        factor = scipy.linalg.cho_factor(matrix, check_finite=False)
    return scipy.linalg.cho_solve(factor, rhs, check_finite=False)


def _solve(fc: np.ndarray, yc: np.ndarray, lam: float, gram: np.ndarray | None = None,
           dual: bool | None = None) -> np.ndarray:
    """Ridge weights (D, M) for centred ``fc`` (N, D) float32 and ``yc`` (N, M).

    ``gram`` is ``fc @ fc.T`` (dual form, default when N <= D) or ``fc.T @ fc`` (primal),
    computed when None.
    """
    n, d = fc.shape
    dual = n <= d if dual is None else dual
    if gram is None:
        gram = (fc @ fc.T if dual else fc.T @ fc).astype(np.float64)
    system = gram + lam * np.eye(len(gram))
    if dual:
        alpha = _spd_solve(system, yc)
        return fc.T @ alpha.astype(np.float32)
    rhs = (fc.T @ yc.astype(np.float32)).astype(np.float64)
    return _spd_solve(system, rhs).astype(np.float32)


def ridge(features: np.ndarray, targets: np.ndarray, strength: float) -> DescentMap:
    """Fit ``targets ~ features @ W + b`` by ridge regression (intercept unpenalised).

    The penalty is ``lam * ||W||^2`` with ``lam = strength * sum(Fc**2) / D`` (``Fc`` the
    centred features), i.e. ``strength`` times the summed per-feature variance over the
    samples, which makes ``strength`` independent of the descriptor's scale and length.

    Args:
        features: (N, D) samples.
        targets: (N, M) regression targets.
        strength: relative ridge strength, > 0.
    """
    return select_ridge(features, targets, (strength,), folds=0).descent


@dataclass(frozen=True)
class RidgeFit:
    """A descent map fitted on all samples, with its cross-validation.

    Attributes:
        descent: the map fitted on all samples with the chosen strength.
        strength: the chosen relative strength.
        scores: ``{strength: out-of-fold mean squared error}`` of the scored outputs (empty
            without cross-validation).
        predictions: (N, M) out-of-fold predictions of the chosen strength (every sample
            predicted by a map that did not see it), or the in-sample ones without folds.
    """

    descent: DescentMap
    strength: float
    scores: dict[float, float]
    predictions: np.ndarray


@dataclass(frozen=True)
class Design:
    """The feature side of a ridge problem, shared by every output block fitted on it.

    Attributes:
        fc: (N, D') float32 features: centred (D' = D), or with a constant 1 appended and
            not centred when the bias is penalised (D' = D + 1, the last weight is the bias).
        f_mean: (D,) float64 feature means subtracted (zeros when the bias is penalised).
        gram: ``fc @ fc.T`` (dual form, N <= D') or ``fc.T @ fc`` (primal), float64.
        dual: which form ``gram`` is.
        penalise_bias: whether the bias is part of the penalised weights.
    """

    fc: np.ndarray
    f_mean: np.ndarray
    gram: np.ndarray
    dual: bool
    penalise_bias: bool

    @classmethod
    def of(cls, features: np.ndarray, penalise_bias: bool = False) -> Design:
        f = np.asarray(features, np.float32)
        if penalise_bias:
            f_mean = np.zeros(f.shape[1])
            fc = np.concatenate([f, np.ones((len(f), 1), np.float32)], 1)
        else:
            f_mean = f.mean(0, dtype=np.float64)
            fc = f - f_mean.astype(np.float32)
        dual = fc.shape[0] <= fc.shape[1]
        gram = (fc @ fc.T if dual else fc.T @ fc).astype(np.float64)
        return cls(fc, f_mean, gram, dual, penalise_bias)


def select_ridge(features: np.ndarray, targets: np.ndarray, strengths: tuple[float, ...],
                 folds: int = 3, score_outputs: slice = slice(None), seed: int = 0,
                 penalise_bias: bool = False, design: Design | None = None) -> RidgeFit:
    """:func:`ridge` with its strength chosen by ``folds``-fold cross-validation.

    Every strength is fitted ``folds`` times on all but one fold (reusing one Gram matrix)
    and scored by the mean squared error of the ``score_outputs`` columns on the left-out
    folds; the best is refitted on all samples.  The out-of-fold predictions are kept: a
    cascade that moves its training estimates with them trains the next iteration on
    estimates as good (or bad) as those it will meet at test time.  With one strength and
    ``folds < 2`` this is plain :func:`ridge`.

    Args:
        features: (N, D) samples.
        targets: (N, M) regression targets.
        strengths: relative strengths to try, > 0.
        folds: cross-validation folds (< 2: none).
        score_outputs: the target columns that the choice is scored on.
        seed: seed of the fold assignment.
        penalise_bias: penalise the bias with the matrix, ``lam ||[W; b]||^2`` (the DFF
            paper's eqs. 9-10 as written) instead of an unpenalised intercept.
        design: :meth:`Design.of` ``(features, penalise_bias)`` when already built (several
            output blocks fitted on the same features share its Gram matrix).
    """
    if not strengths or min(strengths) <= 0:
        raise ValueError(f"ridge strengths must be positive, got {strengths}")
    design = design if design is not None else Design.of(features, penalise_bias)
    fc, gram, dual = design.fc, design.gram, design.dual
    centred = not design.penalise_bias
    y = np.asarray(targets, np.float64)
    n, d = fc.shape
    y_mean = y.mean(0) if centred else np.zeros(y.shape[1])
    yc = y - y_mean
    scores: dict[float, float] = {}
    oof: dict[float, np.ndarray] = {}
    if folds >= 2 and n >= 2 * folds:
        fold_of = np.random.default_rng(seed).permutation(n) % folds
        preds = {float(s): np.empty_like(yc) for s in strengths}
        for k in range(folds):
            out, fit = np.flatnonzero(fold_of == k), np.flatnonzero(fold_of != k)
            sub = gram[np.ix_(fit, fit)] if dual else gram - (fc[out].T @ fc[out]).astype(np.float64)
            for strength, pred in preds.items():
                if dual:  # everything from the Gram matrix: no (D, M) weights per fold
                    lam = max(strength * float(np.trace(sub)) / d, 1e-12)
                    alpha = _spd_solve(sub + lam * np.eye(len(sub)), yc[fit])
                    bias = yc[fit].mean(0) - (sub @ alpha).mean(0) if centred else 0.0
                    pred[out] = gram[np.ix_(out, fit)] @ alpha + bias
                else:
                    w = _solve(fc[fit], yc[fit], _penalty(fc[fit], strength), sub, dual=False)
                    bias = (yc[fit].mean(0) - fc[fit].mean(0, dtype=np.float64) @ w.astype(np.float64)
                            if centred else 0.0)
                    pred[out] = (fc[out] @ w).astype(np.float64) + bias
        for strength, pred in preds.items():
            scores[strength] = float(np.mean((yc - pred)[:, score_outputs] ** 2))
            oof[strength] = pred + y_mean
        best = min(scores, key=scores.get)
    else:
        best = float(strengths[0])
    w = _solve(fc, yc, _penalty(fc, best), gram, dual)
    if centred:
        descent = DescentMap(w, y_mean - design.f_mean @ w.astype(np.float64))
    else:
        descent = DescentMap(np.ascontiguousarray(w[:-1]), w[-1].astype(np.float64))
    f = np.asarray(features, np.float32)
    return RidgeFit(descent, best, scores, oof[best] if oof else descent(f))


def select_ridge_blocks(features: np.ndarray, targets: np.ndarray,
                        blocks: tuple[tuple[slice, tuple[float, ...]], ...], folds: int = 3,
                        seed: int = 0, penalise_bias: bool = True) -> tuple[RidgeFit, tuple[float, ...]]:
    """Separate ridge problems for column blocks of ``targets`` (the paper's eqs. 9-10).

    Each block ``(columns, strengths)`` is its own :func:`select_ridge`, scored on its own
    columns, on one shared :class:`Design`; the blocks must tile the M target columns.

    Returns:
        one :class:`RidgeFit` whose map and predictions join the blocks' column by column
        (``strength`` the first block's, ``scores`` empty), and the strength chosen for
        each block.
    """
    y = np.asarray(targets, np.float64)
    design = Design.of(features, penalise_bias)
    matrix = np.zeros((design.fc.shape[1] - penalise_bias, y.shape[1]), np.float32)
    bias, pred = np.zeros(y.shape[1]), np.zeros_like(y)
    chosen = []
    covered = np.zeros(y.shape[1], bool)
    for columns, strengths in blocks:
        fit = select_ridge(features, y[:, columns], strengths, folds, slice(None), seed, penalise_bias,
                           design)
        matrix[:, columns], bias[columns] = fit.descent.matrix, fit.descent.bias
        pred[:, columns] = fit.predictions
        covered[columns] = True
        chosen.append(fit.strength)
    if not covered.all():
        raise ValueError(f"ridge blocks cover {int(covered.sum())} of {y.shape[1]} target columns")
    return RidgeFit(DescentMap(matrix, bias), chosen[0], {}, pred), tuple(chosen)


@dataclass(frozen=True)
class Cascade:
    """The learned model: one :class:`DescentMap` per SDM iteration."""

    maps: tuple[DescentMap, ...]

    def __len__(self) -> int:
        return len(self.maps)

    def save(self, path: str | Path) -> None:
        """Write ``matrix_k`` / ``bias_k`` arrays to an ``.npz`` (temp file, then rename).

        Each matrix is stored as float16 times a per-matrix float32 scale (``scale_k``, its
        largest magnitude over 2^14), half the size of float32; relative error ~5e-4.
        """
        path = Path(path)
        arrays = {}
        for k, m in enumerate(self.maps):
            scale = np.float32(max(float(np.abs(m.matrix).max()), 1e-30) / 2.0**14)
            arrays[f"matrix_{k}"] = (m.matrix / scale).astype(np.float16)
            arrays[f"scale_{k}"], arrays[f"bias_{k}"] = np.array(scale), m.bias
        with atomic_path(path) as tmp:
            np.savez(tmp, n_maps=np.array(len(self.maps)), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Cascade:
        """Inverse of :meth:`save`; errors name the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: SDM cascade not found")
        data = np.load(path, allow_pickle=False)
        if "n_maps" not in data.files:
            raise ValueError(f"{path}: missing field 'n_maps'")
        maps = []
        for k in range(int(data["n_maps"])):
            if f"matrix_{k}" not in data.files or f"bias_{k}" not in data.files:
                raise ValueError(f"{path}: missing field 'matrix_{k}' or 'bias_{k}'")
            scale = np.float32(data[f"scale_{k}"]) if f"scale_{k}" in data.files else np.float32(1.0)
            maps.append(DescentMap(data[f"matrix_{k}"].astype(np.float32) * scale,
                                   data[f"bias_{k}"].astype(np.float64)))
        return cls(tuple(maps))
