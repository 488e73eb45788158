"""Python API: the same jobs as the CLI, returning data instead of printing.

>>> from basketguard.engine.api import load_histories, profile
>>> hist = load_histories("examples/online_retail.toml")      # doctest: +SKIP
>>> profile("examples/online_retail.toml")["lines"]            # doctest: +SKIP
397924
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from basketguard.engine.config.project import Project, load_project
from basketguard.engine.histories import cache
from basketguard.engine.histories.build import Histories, histories_from_project
from basketguard.engine.histories.profile import profile_histories
from basketguard.engine.io.sources import open_source
from basketguard.engine.io.tables import catalog_coverage, read_role


def _project(project: Project | str | Path) -> Project:
    return project if isinstance(project, Project) else load_project(project)


def load_histories(project: Project | str | Path, *, strict: bool = False,
                   use_cache: bool = True, cache_dir: str | Path | None = None,
                   progress: Callable[[int, int | None], None] | None = None) -> Histories:
    """Histories of a project's basket lines, from the cache when valid.

    Parameters
    ----------
    project : Project, str or Path
        A loaded project or the path of a project file.
    strict : bool
        Every row that fails validation is an error instead of being dropped.
    use_cache : bool
        Reuse and store histories in the cache (``--no-cache`` turns it off).
    cache_dir : str or Path, optional
        Cache folder; :func:`~basketguard.engine.histories.cache.default_cache_dir` if omitted.
    progress : callable, optional
        Called as ``progress(rows_read, total_or_None)`` while reading.

    Returns
    -------
    Histories
        ``info["cache"]`` says ``"hit"``, ``"stored"``, ``"off"`` or
        ``"not stored: <reason>"``. When the entry under this key was damaged,
        truncated or unreadable, the histories are rebuilt from the source and
        ``info["cache_note"]`` names the file and what was wrong (the CLI shows
        it on stderr).
    """
    proj = _project(project)
    policy = proj.validation.strict() if strict else proj.validation
    if not use_cache:
        hist = histories_from_project(proj, strict=strict, progress=progress)
        hist.info["cache"] = "off"
        return hist
    folder = Path(cache_dir).expanduser() if cache_dir else cache.default_cache_dir()
    source = open_source(proj.lines)
    key = cache.fingerprint(proj.lines, source, policy)
    if key is None:  # a source that cannot tell a change (a PostgreSQL query)
        hist = histories_from_project(proj, strict=strict, progress=progress, source=source)
        hist.info["cache"] = f"off: {source.uncached_reason}"
        return hist
    hit, note = cache.lookup(folder, key)
    if hit is not None:
        hit.info["cache"] = "hit"
        hit.info["cache_dir"] = str(folder)  # the concept resolution is cached beside
        return hit
    hist = histories_from_project(proj, strict=strict, progress=progress, source=source)
    try:
        cache.save(hist, folder, key)
        hist.info["cache"] = "stored"
        hist.info["cache_dir"] = str(folder)
    except OSError as exc:  # a read-only or full cache folder must not fail the run
        hist.info["cache"] = f"not stored: {exc.strerror or exc}"
    if note is not None:  # after saving: the note belongs to this run, not to the entry
        hist.info["cache_note"] = f"{note}; rebuilt the histories from the source"
    return hist


def profile(project: Project | str | Path, *, timings: bool = False,
            **kwargs: Any) -> dict[str, Any]:
    """Profile of a project's basket lines (see :func:`load_histories` for options).

    Parameters
    ----------
    project : Project, str or Path
    timings : bool
        Add the cache state and seconds of this run (``--timings``).
    **kwargs
        Options of :func:`load_histories`.

    Returns
    -------
    dict
        Aggregates only: counts, time span, percentiles, dropped rows by reason.
    """
    proj = _project(project)
    return profile_project(proj, load_histories(proj, **kwargs), timings=timings)


def profile_project(project: Project, hist: Histories, *,
                    timings: bool = False) -> dict[str, Any]:
    """Profile of already loaded histories, plus catalog coverage when mapped.

    ``timings`` adds the cache state and seconds of this run (see
    :func:`~basketguard.engine.histories.profile.profile_histories`).
    """
    prof = profile_histories(hist, project_name=project.name, timings=timings)
    if project.source("catalog") is not None:
        catalog = read_role(project, "catalog")
        prof["catalog"] = catalog_coverage(catalog, hist.item_ids,
                                           where=project.source("catalog").origin)
    return prof


def scan(project: Project | str | Path, *, signatures: Any = None,
         as_of: str | None = None, memory_limit: int | str | None = None,
         shards: int | None = None, **kwargs: Any):
    """Scan a project's purchases for sensitive inferences (``basketguard scan``).

    Parameters
    ----------
    project : Project, str or Path
        A loaded project or the path of a project file.
    signatures : tuple of Signature, optional
        From :func:`basketguard.models.signatures.schema.load_library` (default: built-ins).
    as_of : str, optional
        ISO reference date for event stages (default: the last day in the data).
    memory_limit : int or str, optional
        Budget of the histories in bytes (or ``"16G"``); histories that would
        exceed it are built and scanned as customer-hash shards on disk
        (:mod:`basketguard.engine.runner.shards`), with the same result.
        Default: :func:`~basketguard.engine.runner.shards.default_memory_limit`.
    shards : int, optional
        Always use this many shards.
    **kwargs
        Options of :func:`load_histories`.

    Returns
    -------
    basketguard.engine.detect.scan.ScanResult
        ``.summary()`` holds aggregates; ``.scores_table()`` per-customer scores.
    """
    from basketguard.engine.detect.scan import scan as _scan
    from basketguard.engine.detect.scan import scan_shards
    from basketguard.engine.runner.shards import parse_memory, shard_histories

    proj = _project(project)
    limit = parse_memory(memory_limit, "memory_limit") if isinstance(memory_limit, str) \
        else memory_limit
    sharded = shard_histories(proj, n_shards=shards, memory_limit=limit,
                              strict=kwargs.get("strict", False),
                              use_cache=kwargs.get("use_cache", True),
                              cache_dir=kwargs.get("cache_dir"), progress=kwargs.get("progress"),
                              lazy=True)
    if sharded is not None:
        try:
            return scan_shards(proj, sharded, signatures, as_of=as_of)
        finally:
            sharded.close()
    return _scan(proj, load_histories(proj, **kwargs), signatures, as_of=as_of)


def assess(project: Project | str | Path, *, segment_file: str | None = None,
           segment_signature: str | None = None, segment_column: str = "customer",
           options: Any = None, **kwargs: Any):
    """Re-identification risk of a segment (``basketguard assess``).

    Parameters
    ----------
    project : Project, str or Path
        A loaded project or the path of a project file.
    segment_file : str, optional
        Parquet / CSV / Arrow file of customer ids (relative to the working directory).
    segment_signature : str, optional
        Use the customers this signature flags as the segment.
        With neither, the project's ``[segment]`` table is used.
    segment_column : str
        The id column of ``segment_file`` (``--segment-column``).
    options : basketguard.engine.reid.assess.AssessOptions, optional
        Measures and thresholds (defaults as the CLI).
    **kwargs
        Options of :func:`load_histories`.

    Returns
    -------
    basketguard.engine.reid.assess.AssessResult
        ``.findings`` (aggregates only), ``.severity`` (the worst finding).
    """
    from basketguard.engine.reid.assess import AssessOptions, segment_members
    from basketguard.engine.reid.assess import assess as _assess

    proj = _project(project)
    hist = load_histories(proj, **kwargs)
    members, info = segment_members(proj, hist, segment_file=segment_file,
                                    signature=segment_signature, segment_column=segment_column)
    return _assess(proj, hist, members, options or AssessOptions(), info)


def recommend(project: Project | str | Path, *, policy: str | Path | None = None,
              segment_file: str | None = None, segment_signature: str | None = None,
              segment_column: str = "customer", opt_out_file: str | None = None,
              offer_file: str | None = None, options: Any = None, seed: int = 0,
              mailings: int = 6, **kwargs: Any):
    """A verified plan that makes a mailing safe (``basketguard recommend``).

    Parameters
    ----------
    project : Project, str or Path
        A loaded project or the path of a project file.
    policy : str or Path, optional
        A policy TOML file (default: the project's ``[policy]`` table).
    segment_file, segment_signature, segment_column
        The segment, as for :func:`assess`.
    opt_out_file : str, optional
        Customers who opted out (default: the project's ``[opt_out]`` table).
    offer_file : str, optional
        The items the mailing promotes (default: the project's ``[offer]`` table).
    options : basketguard.engine.mitigate.plan.RecommendOptions, optional
        Which mitigations may be used.
    seed, mailings : int
        Seed of the decoy choice and unicity draws; repeated mailings to tabulate.
    **kwargs
        Options of :func:`load_histories`.

    Returns
    -------
    basketguard.engine.mitigate.plan.Plan
        ``.verified``, ``.to_dict()`` (aggregates only), ``.recipients`` (codes);
        write the amended segment with
        :func:`basketguard.engine.mitigate.export.write_amended_segment`.
    """
    from basketguard.engine.mitigate.inputs import mailing_context, offer_codes, resolve_policy
    from basketguard.engine.mitigate.plan import recommend as _recommend
    from basketguard.engine.reid.assess import segment_members

    proj = _project(project)
    hist = load_histories(proj, **kwargs)
    pol = resolve_policy(proj, None if policy is None else str(policy))
    members, info = segment_members(proj, hist, segment_file=segment_file,
                                    signature=segment_signature, segment_column=segment_column)
    ctx = mailing_context(proj, hist, pol, opt_out_file=opt_out_file, mailings=mailings,
                          seed=seed)
    offer = offer_codes(proj, hist, ctx.view, ctx.library, offer_file)
    return _recommend(ctx, members, offer=offer, options=options, segment_info=info)
