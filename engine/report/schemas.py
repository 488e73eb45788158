"""The JSON Schema of basketguard's reports, and validation against it.

``schema/report.schema.json`` (JSON Schema draft 2020-12, shipped as package
data) describes every document the engine writes: the gate report (the
schema's root, ``$defs/gate``; ``$defs/gate_with_ids`` when it was written
with ``--include-ids``) and the plan, assess, scan and profile documents, and
the measurement of a mailing they hold (``$defs/<kind>``). The schema's
``$id`` carries :data:`SCHEMA_VERSION`, which is also the gate report's
``report_version``: a change that breaks readers of a report is a new version.

:func:`validate` checks a document as it is written: it is first turned into
its JSON text (so NaN or infinite numbers, which strict JSON cannot hold, are
reported with their path), then validated against its kind's definition. For a
gate report it also checks what a schema cannot say: the ``counts`` are the
tally of the ``checks`` and the ``verdict`` is their worst status (``fail``
for a warning with ``fail_on = "warn"``).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from basketguard.engine.errors import BasketguardError, InternalError
from basketguard.engine.report.json import dumps

#: Version of the report schema (the gate report's ``report_version``, the ``$id``'s suffix).
SCHEMA_VERSION = "1.0"

#: The schema's ``$id``; a kind's definition is ``SCHEMA_ID + "#/$defs/" + kind``.
SCHEMA_ID = f"urn:basketguard:report-schema:{SCHEMA_VERSION}"

#: Document kinds the schema defines (``gate_with_ids`` is ``gate`` with ``include_ids``).
KINDS = ("gate", "plan", "assess", "scan", "profile", "measurement")

#: Problems named in a :class:`ReportValidationError` message (all are in ``problems``).
_SHOWN = 5
#: Longest rendering of a value inside a message (a report can hold large tables).
_VALUE_CHARS = 80

_STATUS_RANK = {"pass": 0, "warn": 1, "fail": 2}


class ReportValidationError(BasketguardError, ValueError):
    """A document does not match the report schema.

    Attributes
    ----------
    kind : str or None
        The kind it was validated as (``"gate"``, ``"plan"``, ...); None when it
        could not be told.
    problems : list of str
        Every problem, each ``"<JSON path>: <what is wrong>"``, in path order.
    """

    def __init__(self, kind: str | None, problems: list[str]) -> None:
        self.kind = kind
        self.problems = list(problems)
        shown = "; ".join(self.problems[:_SHOWN])
        more = len(self.problems) - _SHOWN
        where = f"the {kind} report" if kind else "the report"
        ref = f" ({SCHEMA_ID}#/$defs/{kind})" if kind in KINDS else ""
        super().__init__(
            f"{where} does not match the basketguard report schema {SCHEMA_VERSION}{ref}: {shown}"
            + (f"; and {more} more problem(s)" if more > 0 else "")
            + ". A report written by basketguard that fails here is a bug: please report it.")


@functools.cache
def schema_text() -> str:
    """The schema file's text, read once from the package data.

    Returns
    -------
    str
        ``schema/report.schema.json`` of the ``basketguard.engine.report`` package.
    """
    return (resources.files("basketguard.engine.report")
            .joinpath("schema", "report.schema.json").read_text(encoding="utf-8"))


def schema() -> dict[str, Any]:
    """The report schema as a (fresh) dict.

    Returns
    -------
    dict
        The JSON Schema document; its ``$defs`` hold one definition per kind.
    """
    return json.loads(schema_text())


def _definition(kind: str, include_ids: bool = False) -> str:
    return "gate_with_ids" if kind == "gate" and include_ids else kind


@functools.cache
def _validator(definition: str):
    """A draft 2020-12 validator of one ``$defs`` entry (references resolve in the schema)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    root = schema()
    if definition not in root["$defs"]:
        raise InternalError(f"the report schema has no definition {definition!r}")
    registry = Registry().with_resource(SCHEMA_ID, Resource.from_contents(root))
    return Draft202012Validator({"$ref": f"{SCHEMA_ID}#/$defs/{definition}"}, registry=registry)


def kind_of(doc: dict[str, Any]) -> str | None:
    """Which report a document is, from its keys.

    Parameters
    ----------
    doc : dict
        A report document.

    Returns
    -------
    str or None
        Its ``kind`` when it has one (the gate report), else ``"plan"``,
        ``"scan"``, ``"profile"``, ``"assess"`` or ``"measurement"`` by the
        keys only that kind holds; None when no kind fits.
    """
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("kind"), str):
        return doc["kind"]
    for kind, keys in (("plan", ("verification", "before")), ("scan", ("signatures", "as_of")),
                       ("profile", ("rows_read", "basket_size")),
                       ("assess", ("findings", "skipped")),
                       ("measurement", ("findings", "events", "passes"))):
        if all(k in doc for k in keys):
            return kind
    return None


def _as_json(doc: Any, kind: str | None) -> Any:
    """The document as a reader of its JSON text sees it (string keys, lists, no NaN)."""
    if isinstance(doc, bytes | str):
        def refuse(name: str) -> None:
            raise ReportValidationError(kind, [f"$: {name} is not JSON (strict JSON has finite "
                                               "numbers and null)"])
        try:
            return json.loads(doc, parse_constant=refuse)
        except json.JSONDecodeError as exc:
            raise ReportValidationError(kind, [f"$: not JSON: {exc}"]) from None
    try:
        return json.loads(dumps(doc))
    except InternalError as exc:
        raise ReportValidationError(kind, [str(exc)]) from exc


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS - 3] + "..."


_JSON_TYPES = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
               (list, "a list"), (dict, "a table"), (type(None), "null"))


def _json_type(value: Any) -> str:
    return next(name for cls, name in _JSON_TYPES if isinstance(value, cls))


def _message(error) -> str:
    """What is wrong, in words, without repeating a large instance (nor the ids it holds)."""
    if error.context:  # a combinator: say what its closest branch says
        from jsonschema.exceptions import best_match

        return _message(best_match(error.context))
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    v, inst = error.validator, error.instance
    if custom:
        key = "propertyNames" in error.absolute_schema_path
        return f"key {inst!r}: {custom}" if key else custom
    if v == "required":
        missing = [k for k in error.validator_value if isinstance(inst, dict) and k not in inst]
        return f"missing key {missing[0]!r}" if len(missing) == 1 else error.message
    if v == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"is {_json_type(inst)} ({_short(inst)}), not {want}"
    if v in ("enum", "const"):
        allowed = error.validator_value if v == "enum" else [error.validator_value]
        return f"{_short(inst)} is not one of {', '.join(json.dumps(a) for a in allowed)}"
    if v in ("additionalProperties", "unevaluatedProperties"):
        return (error.message.replace("Unevaluated properties", "unexpected keys")
                .replace("Additional properties", "unexpected keys"))
    if v in ("minimum", "maximum", "minLength", "minItems", "maxItems", "pattern"):
        return error.message
    return f"{_short(inst)}: fails {v} ({error.message[:_VALUE_CHARS]})"


def _gate_consistency(doc: dict[str, Any]) -> list[str]:
    """What the schema cannot say of a (schema-valid) gate report."""
    statuses = [c["status"] for c in doc["checks"]]
    out = []
    tally = {"checks": len(statuses), **{s: statuses.count(s) for s in ("pass", "warn", "fail")}}
    for key, n in tally.items():
        if doc["counts"][key] != n:
            out.append(f"$.counts.{key}: is {doc['counts'][key]}, but the checks hold {n}")
    worst = max(statuses, key=_STATUS_RANK.__getitem__, default="pass")
    verdict = "fail" if worst == "warn" and doc["fail_on"] == "warn" else worst
    if doc["verdict"] != verdict:
        rule = " (fail_on = warn)" if verdict != worst else ""
        out.append(f"$.verdict: is {doc['verdict']!r}, but the worst check status is {worst!r}, "
                   f"so the verdict is {verdict!r}{rule}")
    return out


def problems(doc: Any, kind: str | None = None, *, include_ids: bool = False) -> list[str]:
    """Every way a document departs from the report schema (empty when it matches).

    Parameters
    ----------
    doc : dict, str or bytes
        A report document, or its JSON text.
    kind : str, optional
        One of :data:`KINDS`; default: :func:`kind_of` the document.
    include_ids : bool
        The gate report was written with ``--include-ids`` (``members_ids`` allowed).

    Returns
    -------
    list of str
        ``"<JSON path>: <what is wrong>"`` per problem, in path order.

    Raises
    ------
    ReportValidationError
        The document is not strict JSON, or its kind cannot be told.
    """
    return _check(doc, kind, include_ids)[1]


def _check(doc: Any, kind: str | None, include_ids: bool) -> tuple[str, list[str]]:
    kind = kind or kind_of(doc)
    data = _as_json(doc, kind)
    kind = kind or kind_of(data)
    if kind is None:
        raise ReportValidationError(None, [
            "$: cannot tell which report this is (no \"kind\" key, nor the keys of a plan, "
            f"scan, profile or assessment); pass kind= one of {', '.join(KINDS)}"])
    if kind not in KINDS:
        raise ReportValidationError(kind, [f"$.kind: {kind!r} is not one of {', '.join(KINDS)}"])
    errors = sorted(_validator(_definition(kind, include_ids)).iter_errors(data), key=_order)
    found = [f"{e.json_path}: {_message(e)}" for e in errors]
    if not found and kind == "gate":
        found = _gate_consistency(data)
    return kind, found


def _order(error) -> tuple:
    """Problems in document order ([2] before [10]), then by message."""
    return (tuple(f"{p:09d}" if isinstance(p, int) else p for p in error.absolute_path),
            error.message)


def validate(doc: Any, kind: str | None = None, *, include_ids: bool = False) -> None:
    """Raise unless a document matches the report schema.

    Parameters
    ----------
    doc : dict, str or bytes
        A report document (as a result's ``to_dict`` / ``summary`` gives it), or its
        JSON text.
    kind : str, optional
        One of :data:`KINDS`; default: the document's ``kind``, else told from its keys
        (:func:`kind_of`).
    include_ids : bool
        The gate report was written with ``--include-ids``: ``members_ids`` is allowed.
        Without it a gate report holding ``members_ids`` fails.

    Raises
    ------
    ReportValidationError
        The document is not strict JSON, its kind cannot be told, or it does not match;
        the message names each problem's JSON path (``$.checks[2].status``).
    """
    kind, found = _check(doc, kind, include_ids)
    if found:
        raise ReportValidationError(kind, found)
