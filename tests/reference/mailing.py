"""Plain reference of a mailing's inference risk, written from engine/mitigate/inference.py's docstring.

Every customer gets a weight: the chance that they received every one of ``T``
mailings (1 for a target, ``r**T`` for a member of the fresh-decoy pool, 0 for
anyone else); the observer's posterior is the weighted mean of ``p``, and the
likelihood ratio compares the weighted shares of customers with and without the
event. One mailing with the decoys fixed is the case ``T = 1`` with the pool
equal to the decoys and ``r = 1``.
"""

from __future__ import annotations

import math


def risk(p: list[float], weight: list[float]) -> dict[str, float]:
    """Posterior, base rate, q1, q0 and epsilon for receipt weights ``weight``."""
    n_all = len(p)
    s_all = sum(p)
    s_r = sum(w * pi for w, pi in zip(weight, p, strict=True))
    n_r = sum(weight)
    post = s_r / n_r if n_r > 0 else math.nan
    base = s_all / n_all if n_all else math.nan
    q1 = s_r / s_all if s_all > 0 else 0.0
    q0 = (n_r - s_r) / (n_all - s_all) if n_all - s_all > 0 else 0.0
    q0 = max(q0, 0.0)
    if n_r <= 0:
        eps = math.nan  # nobody receives it: nothing is measured
    elif q1 <= 0 and q0 <= 0:
        eps = 0.0
    elif q0 <= 0:
        eps = math.inf
    elif q1 <= 0:
        eps = -math.inf
    else:
        eps = math.log(q1 / q0)
    return {"posterior": post, "base": base, "q1": q1, "q0": q0, "epsilon": eps}


def weights(n: int, targets: set[int], pool: set[int], rate: float, mailings: int) -> list[float]:
    """Chance of having received all ``mailings`` mailings, per customer."""
    return [1.0 if i in targets else (rate ** mailings if i in pool else 0.0) for i in range(n)]
