"""The partial-result protocol: what every shardable measure implements.

A measure that can run over customer shards (the signature scan, purchase
unicity, itemset supports, attribute classes) reduces a shard to a *partial*
with three members, as datashader's reductions do (create / append / combine
/ finalize), so that one runner drives them all, locally or on Dask:

- ``merge_key``: the parameters two partials must share to merge (a compiled
  library, point kind and seed, itemset size and item coding, attribute
  dictionaries). :func:`merge_all` checks it before merging, so partials of
  different runs never mix silently.
- ``merge(other)``: the exact combination of two partials of *disjoint*
  shards; associative, so any grouping of shards gives the same result.
- ``finalize(**options)``: the result (estimates with intervals, findings).

Exactness is each measure's promise, tested by running it over shards of
every count against the in-memory run (``tests/engine/runner``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, Protocol, TypeVar, runtime_checkable

from basketguard.engine.errors import ConfigError


@runtime_checkable
class Partial(Protocol):
    """A mergeable partial result of one shard."""

    @property
    def merge_key(self) -> Hashable:
        """What two partials must share to merge (compared with ``==``)."""

    def merge(self, other: Any) -> Any:
        """Exact combination with the partial of a disjoint shard."""

    def finalize(self, **options: Any) -> Any:
        """The result of everything merged so far."""


P = TypeVar("P", bound=Partial)


def check_mergeable(a: Partial, b: Partial) -> None:
    """Raise :class:`ConfigError` unless ``a`` and ``b`` are the same kind of partial
    with the same ``merge_key``."""
    if type(a) is not type(b):
        raise ConfigError(f"cannot merge a {type(b).__name__} into a {type(a).__name__}: "
                          "partials of one run are all of one kind")
    if a.merge_key != b.merge_key:
        raise ConfigError(f"cannot merge {type(a).__name__} partials computed with different "
                          f"parameters ({b.merge_key!r} into {a.merge_key!r}); every shard must "
                          "be computed by the same run")


def merge_all(parts: Iterable[P]) -> P:
    """Merge partials left to right after checking they belong together.

    Parameters
    ----------
    parts : iterable of Partial
        At least one.

    Returns
    -------
    Partial
        The merged partial (call ``finalize`` for the result).

    Raises
    ------
    ConfigError
        No partials, or partials of different kinds or parameters.
    """
    it = iter(parts)
    try:
        out = next(it)
    except StopIteration:
        raise ConfigError("nothing to merge: no partial results were given") from None
    for part in it:
        check_mergeable(out, part)
        out = out.merge(part)
    return out
