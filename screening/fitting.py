"""Every dose-response curve of a run fitted at once: a batched, bound-constrained
Levenberg-Marquardt solver in NumPy for the four-parameter logistic with the bottom fixed at 0,
y(x) = top / (1 + 10^(slope (log_ic50 - x))) (docs/drug-sensitivity.md §5).

Why batched: a five-plate screen has hundreds of curves of five points and three parameters
each. Per curve, a general solver (scipy.optimize.least_squares) spends its time in Python
overhead, not arithmetic; here each iteration is a handful of array operations over all curves
that are still running, so the whole run costs about as much as a few per-curve fits.

The algorithm, per curve (all curves step together, each with its own damping):

- Levenberg-Marquardt (Moré 1978, "The Levenberg-Marquardt algorithm: implementation and
  theory", Lecture Notes in Mathematics 630:105-116, https://doi.org/10.1007/BFb0067700;
  Nocedal & Wright, Numerical Optimization, 2nd ed. 2006, §10.3): the step solves
  (J'J + lambda D'D) step = -J'r with D the column norms of the current J (Marquardt 1963,
  "An algorithm for least-squares estimation of nonlinear parameters", J SIAM 11:431,
  https://doi.org/10.1137/0111030), so the step does not depend on the units of the
  parameters. Moré's running maximum of D was tried and dropped: on a step-like curve the
  slope's column shrinks as the slope grows, the old maximum then damps that direction, and the
  slope crawls towards its bound for hundreds of iterations.
- The damping lambda is updated from the gain ratio rho = actual / predicted reduction of the
  cost, as Nielsen proposed (Madsen, Nielsen & Tingleff 2004, "Methods for non-linear least
  squares problems", IMM DTU, §3.2, https://www2.imm.dtu.dk/pubdb/pubs/3215-full.html):
  lambda *= max(1/3, 1 - (2 rho - 1)^3) after an accepted step, else lambda *= nu, nu *= 2.
- Bounds by projection with an active set (projected Gauss-Newton, Bertsekas 1982,
  "Projected Newton methods for optimization problems with simple constraints", SIAM J Control
  Optim 20:221, https://doi.org/10.1137/0320018): a parameter sitting on a bound whose gradient
  pushes it outward is held fixed for the step; the trial point is clipped into the box. A fit
  whose optimum is on a bound (a complete kill at top = 100, a step-like curve at slope = 10)
  therefore lands exactly on it in a few steps, where an interior-point solver (least_squares'
  'trf') only creeps towards it, which is what made single curves take seconds.
- Stopping as MINPACK's lmder does (Moré, Garbow & Hillstrom 1980, "User guide for MINPACK-1",
  ANL-80-74, https://doi.org/10.2172/6997568; the same tests as least_squares' ftol, xtol and
  gtol, https://docs.scipy.org/doc/scipy/reference/generated/scipy.optimize.least_squares.html):
  relative reduction of the cost, relative size of the step, or the cosine between the residual
  and every free column of J below tolerance. A curve that meets none within `max_iterations`
  (one residual and Jacobian evaluation each) is returned as not converged, with the best point
  it reached; the caller decides what to do with it (analysis.py refits it per curve with
  least_squares and flags it when that fails too).

The solver sees scaled parameters of similar size: top as a fraction (top / 100), log10 IC50 in
decades from the middle of the tested range, and the Hill slope; residuals are fractions. The
model's derivatives are analytic. Curves of different lengths share one array: missing points
carry weight 0. Deterministic: no randomness, and each curve's iterates do not depend on the
other curves in the batch."""

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

LN10 = float(np.log(10.0))
PARAMETERS = ("top", "log_ic50", "slope")


@dataclass
class BatchFit:
    params: np.ndarray  # (curves, 3): top in %, log10 IC50 in M, slope
    converged: np.ndarray  # (curves,) bool
    evaluations: np.ndarray  # (curves,) residual + Jacobian evaluations used
    cost: np.ndarray  # (curves,) half the sum of squared residuals, in %^2


def logistic(params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """top / (1 + 10^(slope (log_ic50 - x))) for each row of params (curves, 3) against
    x (curves, points), in % inhibition."""
    top, log_ic50, slope = params[:, 0:1], params[:, 1:2], params[:, 2:3]
    return top * expit(-slope * (log_ic50 - x) * LN10)


def jacobian(params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d y / d (top, log_ic50, slope), shape (curves, points, 3), in % per unit."""
    top, log_ic50, slope = params[:, 0:1], params[:, 1:2], params[:, 2:3]
    distance = log_ic50 - x
    s = expit(-slope * distance * LN10)
    ds = -LN10 * s * (1.0 - s)  # d s / d (slope * distance)
    return np.stack((s, top * ds * slope, top * ds * distance), axis=-1)


def _scaled(z, x, centre):
    """Model value and Jacobian in scaled units: z = (top / 100, log_ic50 - centre, slope)."""
    a, c, b = z[:, 0:1], z[:, 1:2] + centre[:, None], z[:, 2:3]
    distance = c - x
    s = expit(-b * distance * LN10)
    ds = -LN10 * s * (1.0 - s)
    return a * s, np.stack((s, a * ds * b, a * ds * distance), axis=-1)


def fit_batch(
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    start: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    max_iterations: int = 100,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    gtol: float = 1e-10,
    damping: float = 1e-3,
) -> BatchFit:
    """x, y, weight: (curves, points), x in log10 M, y in % inhibition, weight 1 for a point and
    0 for padding. start, lower, upper: (curves, 3) in (top %, log10 IC50, slope). damping:
    the starting lambda relative to D'D (Madsen, Nielsen & Tingleff's tau = 1e-3)."""
    n = x.shape[0]
    centre = 0.5 * (
        np.max(np.where(weight > 0, x, -np.inf), axis=1)
        + np.min(np.where(weight > 0, x, np.inf), axis=1)
    )
    unit = np.array([0.01, 1.0, 1.0])
    shift = np.stack((np.zeros(n), centre, np.zeros(n)), axis=1)
    lo, hi = (lower - shift) * unit, (upper - shift) * unit
    z = np.clip((start - shift) * unit, lo, hi)
    target = y / 100.0
    w = weight.astype(float)
    result_evaluations = np.zeros(n, dtype=int)

    def evaluate(z, x, target, w, centre):
        value, jac = _scaled(z, x, centre)
        residual = (value - target) * w
        return residual, jac * w[..., None], 0.5 * np.add.reduce(residual**2, axis=1)

    r, J, cost = evaluate(z, x, target, w, centre)
    scale = np.sqrt(np.add.reduce(J**2, axis=1))  # D: the column norms of J
    scale = np.where(scale > 0, scale, 1.0)
    lam = np.full(n, damping)
    nu = np.full(n, 2.0)
    evaluations = np.ones(n, dtype=int)
    # The working set: the curves still iterating, compacted whenever some finish, so an
    # iteration touches only their rows. Finished curves are written back to the results.
    result_z, result_cost, converged = z.copy(), cost.copy(), np.zeros(n, dtype=bool)
    index = np.arange(n)
    work = [z, r, J, cost, scale, lam, nu, evaluations, lo, hi, x, target, w, centre]
    eye = np.eye(3)
    tiny = np.finfo(float).tiny
    for _ in range(max_iterations):
        if index.size == 0:
            break
        z, r, J, cost, scale, lam, nu, evaluations, lo, hi, x, target, w, centre = work
        Jt = np.swapaxes(J, 1, 2)
        gradient = np.matmul(Jt, r[..., None])[..., 0]
        # Active set: a parameter on a bound whose descent direction leaves the box is fixed.
        blocked = ((z <= lo) & (gradient > 0)) | ((z >= hi) & (gradient < 0))
        free = ~blocked
        # Converged by gradient (MINPACK's gtol): every free column nearly orthogonal to r.
        normal = np.matmul(Jt, J)
        column_norm = np.sqrt(np.einsum("ckk->ck", normal))
        residual_norm = np.sqrt(2.0 * cost)
        cosine = np.abs(gradient) / np.maximum(column_norm * residual_norm[:, None], tiny)
        by_gradient = (residual_norm <= 1e-14) | np.all(
            (cosine <= gtol) | blocked | (column_norm == 0), axis=1
        )
        scale[:] = np.where(column_norm > 0, column_norm, scale)  # a zero column keeps its D
        system = normal + (lam[:, None] * scale**2)[:, :, None] * eye
        system = np.where(free[:, :, None] & free[:, None, :], system, eye)
        full_step = np.linalg.solve(system, -np.where(free, gradient, 0.0)[..., None])[..., 0]
        trial = np.minimum(np.maximum(z + full_step, lo), hi)
        # At top = 0 the curve is flat whatever the IC50 and slope, so their gradient vanishes
        # and a fit that jumped there would stay: approach top = 0 by tenths instead.
        onto_zero = (trial[:, 0] <= lo[:, 0]) & (z[:, 0] > lo[:, 0])
        trial[:, 0] = np.where(onto_zero, lo[:, 0] + 0.1 * (z[:, 0] - lo[:, 0]), trial[:, 0])
        step = trial - z
        predicted = -(
            np.einsum("ck,ck->c", gradient, step)
            + 0.5 * np.einsum("ck,ckl,cl->c", step, normal, step)
        )
        r_trial, J_trial, cost_trial = evaluate(trial, x, target, w, centre)
        evaluations += ~by_gradient
        actual = cost - cost_trial
        rho = np.where(predicted > 0, actual / np.where(predicted > 0, predicted, 1.0), -1.0)
        accept = (rho > 1e-4) & (actual > 0) & ~by_gradient
        # Stopping tests of MINPACK (ftol: relative reductions; xtol: relative step).
        by_cost = accept & (np.abs(actual) <= ftol * cost) & (predicted <= ftol * cost)
        by_cost &= rho <= 2.0
        # xtol on the unclipped step: a step cut to nothing by a bound is no sign of an optimum.
        step_norm = np.sqrt(np.add.reduce((scale * full_step) ** 2, axis=1))
        z_norm = np.sqrt(np.add.reduce((scale * z) ** 2, axis=1))
        by_step = step_norm <= xtol * (z_norm + xtol)
        z[accept], r[accept], J[accept], cost[accept] = (
            trial[accept],
            r_trial[accept],
            J_trial[accept],
            cost_trial[accept],
        )
        factor = np.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
        lam *= np.where(accept, factor, nu)
        nu[:] = np.where(accept, 2.0, nu * 2.0)
        done = by_gradient | by_cost | by_step
        if done.any():
            finished = index[done]
            result_z[finished], result_cost[finished] = z[done], cost[done]
            result_evaluations[finished] = evaluations[done]
            converged[finished] = True
            keep = ~done
            index = index[keep]
            work = [a[keep] for a in work]
    z, cost, evaluations = work[0], work[3], work[7]
    result_z[index], result_cost[index], result_evaluations[index] = z, cost, evaluations
    params = result_z / unit + shift
    return BatchFit(params, converged, result_evaluations, result_cost * 100.0**2)


def covariance(params: np.ndarray, x: np.ndarray, y: np.ndarray, weight: np.ndarray):
    """Covariance of the fitted parameters as scipy.optimize.curve_fit estimates it: the
    inverse of J'J from the SVD of J, times the residual variance SSE / (n - 3), per curve.
    One difference: where J is singular (a singular value below curve_fit's cut-off, e.g. an
    IC50 far outside the tested range, where no point depends on it), curve_fit drops that
    direction and reports a variance of 0; here the covariance is inf (the parameter is not
    determined), as it is when there are no more points than parameters."""
    J = jacobian(params, x) * weight[..., None]
    residual = (logistic(params, x) - y) * weight
    points = weight.sum(axis=1)
    _, s, vt = np.linalg.svd(J, full_matrices=False)
    threshold = np.finfo(float).eps * np.maximum(points, 3)[:, None] * s[:, :1]
    singular = np.any(s <= threshold, axis=1) | (points <= 3)
    inverse = 1.0 / np.where(s > threshold, s, 1.0) ** 2
    result = np.einsum("cki,ck,ckj->cij", vt, inverse, vt)
    variance = np.sum(residual**2, axis=1) / np.maximum(points - 3, 1)
    result *= variance[:, None, None]
    result[singular] = np.inf
    return result
