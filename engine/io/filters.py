"""Row filters written in the project file, as a small Python-like expression.

Grammar (a safe subset of Python expressions, parsed with :mod:`ast`, never
evaluated)::

    expr    := expr "and" expr | expr "or" expr | "not" expr | "(" expr ")"
             | operand CMP operand [CMP operand ...]    # CMP: == != < <= > >=
             | column "in" "[" literal, ... "]" | column "not in" [...]
             | column "is None" | column "is not None"
             | starts_with(column, "text") | ends_with(column, "text")
             | contains(column, "text") | is_null(column) | is_not_null(column)
    column  := NAME | col("name with spaces")
    literal := "text" | 123 | 1.5 | True | False | date("2011-01-31")
             | timestamp("2011-01-31T08:00:00")

Examples::

    Quantity > 0 and not starts_with(InvoiceNo, "C")
    Country in ["United Kingdom", "France"] or col("Unit Price") >= 10

A :class:`Filter` renders to a ``pyarrow.compute.Expression`` (pushed down into
``pyarrow.dataset`` scans, which prune Parquet row groups by statistics) and to
a SQL ``WHERE`` clause (pushed down into DuckDB). Comparisons with null are
null, so such rows are filtered out, as in SQL.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from basketguard.engine.errors import ConfigError

_CMP = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_STRING_FUNCS = ("starts_with", "ends_with", "contains")
_NULL_FUNCS = ("is_null", "is_not_null")


@dataclass(frozen=True)
class Col:
    name: str


@dataclass(frozen=True)
class Node:
    """One node of a parsed filter: ``op`` and its arguments."""

    op: str  # and, or, not, cmp, in, not_in, is_null, is_not_null, starts_with, ...
    args: tuple


@dataclass(frozen=True)
class Filter:
    """A parsed row filter.

    Attributes
    ----------
    text : str
        The expression as written.
    root : Node
        The parsed tree.
    """

    text: str
    root: Node

    @property
    def columns(self) -> tuple[str, ...]:
        """Source columns the filter reads, sorted."""
        found: set[str] = set()

        def walk(x):
            if isinstance(x, Col):
                found.add(x.name)
            elif isinstance(x, Node):
                for a in x.args:
                    walk(a)
            elif isinstance(x, tuple):
                for a in x:
                    walk(a)

        walk(self.root)
        return tuple(sorted(found))

    def to_arrow(self, schema=None):
        """The filter as a ``pyarrow.compute.Expression``.

        Parameters
        ----------
        schema : pyarrow.Schema, optional
            The source's schema; timestamp literals then follow each column's
            zone (naive literals are UTC against zoned columns, zoned literals
            are converted to UTC against naive ones).
        """
        return _to_arrow(self.root, schema)

    def to_sql(self, dialect: str = "duckdb", schema=None) -> str:
        """The filter as a SQL boolean expression.

        Parameters
        ----------
        dialect : {"duckdb", "postgresql"}
            PostgreSQL has ``starts_with`` but no ``ends_with`` or
            ``contains``; they render as ``right(...) =`` and ``strpos(...) > 0``,
            which are null on a null column, as the Arrow rendering is.
        schema : pyarrow.Schema, optional
            The columns as the engine reads them; in PostgreSQL, text columns
            compared with text compare by code point (``COLLATE "C"``), as in
            Arrow. Without a schema every column compared with text is.
        """
        if dialect not in _DIALECTS:
            raise ValueError(f"unknown SQL dialect {dialect!r}")
        return _to_sql(self.root, dialect, schema)


def parse_filter(text: str, origin: str = "filter") -> Filter:
    """Parse a filter expression.

    Parameters
    ----------
    text : str
        The expression (see the module docstring for the grammar).
    origin : str
        Where the expression came from, for error messages.

    Returns
    -------
    Filter

    Raises
    ------
    ConfigError
        The expression is not valid; the message quotes the offending part.
    """
    if not text or not text.strip():
        raise ConfigError(f"{origin}: the filter is empty; remove the key or write an expression.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(
            f"{origin}: cannot parse filter {text!r}: {exc.msg} at column {exc.offset}. "
            "Write e.g. `Quantity > 0 and not starts_with(InvoiceNo, \"C\")`."
        ) from None
    return Filter(text=text, root=_Parser(text, origin).expr(tree.body))


class _Parser:
    def __init__(self, text: str, origin: str) -> None:
        self.text = text
        self.origin = origin

    def fail(self, node: ast.AST, why: str):
        part = ast.get_source_segment(self.text.strip(), node) or ast.dump(node)
        raise ConfigError(f"{self.origin}: {why} in {part!r} (filter {self.text!r}).")

    def expr(self, node: ast.AST) -> Node:
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            return Node(op, tuple(self.expr(v) for v in node.values))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return Node("not", (self.expr(node.operand),))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            name = self.func_name(node)
            if name in _STRING_FUNCS:
                if len(node.args) != 2 or node.keywords:
                    self.fail(node, f"{name}() takes a column and a text")
                pattern = self.literal(node.args[1])
                if not isinstance(pattern, str):
                    self.fail(node, f"the second argument of {name}() must be a text")
                return Node(name, (self.column(node.args[0]), pattern))
            if name in _NULL_FUNCS:
                if len(node.args) != 1 or node.keywords:
                    self.fail(node, f"{name}() takes one column")
                return Node(name, (self.column(node.args[0]),))
            self.fail(node, f"unknown function {name!r} (known: "
                            f"{', '.join(_STRING_FUNCS + _NULL_FUNCS)})")
        self.fail(node, "expected a comparison, a test or and/or/not")
        raise AssertionError  # unreachable

    def func_name(self, node: ast.Call) -> str:
        if not isinstance(node.func, ast.Name):
            self.fail(node, "only plain function calls are allowed")
        return node.func.id

    def compare(self, node: ast.Compare) -> Node:
        parts = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                values = self.literal_list(right)
                parts.append(Node("in" if isinstance(op, ast.In) else "not_in",
                                  (self.column(left), values)))
            elif isinstance(op, (ast.Is, ast.IsNot)):
                if not (isinstance(right, ast.Constant) and right.value is None):
                    self.fail(node, "`is` / `is not` only compare with None")
                parts.append(Node("is_null" if isinstance(op, ast.Is) else "is_not_null",
                                  (self.column(left),)))
            elif type(op) in _CMP:
                sym = _CMP[type(op)]
                lcol, rcol = self.is_column(left), self.is_column(right)
                if lcol and not rcol:
                    parts.append(Node("cmp", (sym, self.column(left), self.literal(right))))
                elif rcol and not lcol:
                    parts.append(Node("cmp", (_FLIP[sym], self.column(right), self.literal(left))))
                elif lcol and rcol:
                    parts.append(Node("cmp", (sym, self.column(left), self.column(right))))
                else:
                    self.fail(node, "a comparison needs a column on one side")
            else:
                self.fail(node, "unsupported comparison operator")
            left = right
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    @staticmethod
    def is_column(node: ast.AST) -> bool:
        if isinstance(node, ast.Name) and node.id not in ("True", "False", "None"):
            return True
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "col")

    def column(self, node: ast.AST) -> Col:
        if isinstance(node, ast.Name):
            return Col(node.id)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "col" and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            return Col(node.args[0].value)
        self.fail(node, "expected a column name (or col(\"name with spaces\"))")
        raise AssertionError  # unreachable

    def literal(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bool)):
            return node.value
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return self.number(node, node.value)
        if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
                and isinstance(node.operand, ast.Constant)
                and isinstance(node.operand.value, (int, float))
                and not isinstance(node.operand.value, bool)):
            return self.number(node, -node.operand.value)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("date", "timestamp") and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            raw = node.args[0].value
            try:
                if node.func.id == "date":
                    return dt.date.fromisoformat(raw)
                value = dt.datetime.fromisoformat(raw)
                # Naive stays naive (compared as written with naive columns, as
                # UTC with zoned ones); zoned is normalized to UTC.
                return value if value.tzinfo is None else value.astimezone(dt.UTC)
            except ValueError:
                self.fail(node, f"{raw!r} is not an ISO {node.func.id}")
        self.fail(node, "expected a literal (text, number, True/False, date(...), timestamp(...))")
        raise AssertionError  # unreachable

    def number(self, node: ast.AST, value: int | float) -> int | float:
        if isinstance(value, int) and not isinstance(value, bool) and not (
                -(2**63) <= value < 2**63):
            self.fail(node, "integer literal outside the 64-bit range")
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(node, "number literal must be finite")
        return value

    def literal_list(self, node: ast.AST) -> tuple:
        if not isinstance(node, (ast.List, ast.Tuple, ast.Set)) or not node.elts:
            self.fail(node, "`in` needs a non-empty list of literals")
        values = tuple(self.literal(e) for e in node.elts)

        def kind(v: Any) -> str:
            if isinstance(v, bool):
                return "bool"
            if isinstance(v, (int, float)):
                return "number"
            return type(v).__name__

        if len({kind(v) for v in values}) > 1:
            self.fail(node, "the values of an `in` list must all be of one kind")
        return values


def _arrow_literal(value: Any, column_type=None):
    import pyarrow as pa

    if isinstance(value, dt.datetime):
        zoned_column = (column_type is not None and pa.types.is_timestamp(column_type)
                        and column_type.tz is not None)
        naive_column = (column_type is not None and pa.types.is_timestamp(column_type)
                        and column_type.tz is None)
        if naive_column:
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return pa.scalar(value, type=pa.timestamp("us"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        tz = column_type.tz if zoned_column else "UTC"
        return pa.scalar(value.astimezone(dt.UTC), type=pa.timestamp("us", tz=tz))
    return pa.scalar(value)


def _column_type(schema, name: str):
    if schema is None or name not in schema.names:
        return None
    return schema.field(name).type


def _to_arrow(node: Node, schema=None):
    import pyarrow as pa
    import pyarrow.compute as pc

    op, args = node.op, node.args
    if op == "and" or op == "or":
        out = _to_arrow(args[0], schema)
        for a in args[1:]:
            out = (out & _to_arrow(a, schema)) if op == "and" else (out | _to_arrow(a, schema))
        return out
    if op == "not":
        return ~_to_arrow(args[0], schema)
    if op == "cmp":
        sym, col, rhs = args
        left = pc.field(col.name)
        right = (pc.field(rhs.name) if isinstance(rhs, Col)
                 else _arrow_literal(rhs, _column_type(schema, col.name)))
        return {
            "==": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[sym]
    if op in ("in", "not_in"):
        col, values = args
        ctype = _column_type(schema, col.name)
        scalars = [_arrow_literal(v, ctype) for v in values]
        field = pc.field(col.name)
        # isin() is false for null; make it null, as SQL's IN, so that negating
        # it still filters the row out.
        expr = pc.if_else(field.is_valid(),
                          field.isin(pa.array([x.as_py() for x in scalars], scalars[0].type)),
                          pa.scalar(None, pa.bool_()))
        return expr if op == "in" else ~expr
    if op == "is_null":
        return pc.field(args[0].name).is_null()
    if op == "is_not_null":
        return pc.field(args[0].name).is_valid()
    if op == "starts_with":
        return pc.starts_with(pc.field(args[0].name), pattern=args[1])
    if op == "ends_with":
        return pc.ends_with(pc.field(args[0].name), pattern=args[1])
    if op == "contains":
        return pc.match_substring(pc.field(args[0].name), pattern=args[1])
    raise AssertionError(f"unknown filter node {op}")


def quote_ident(name: str) -> str:
    """Quote a SQL identifier (DuckDB / ANSI double quotes)."""
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dt.datetime):
        kind = "TIMESTAMP" if value.tzinfo is None else "TIMESTAMPTZ"
        return f"{kind} '{value.isoformat()}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


_DIALECTS = ("duckdb", "postgresql")


def _text_col(col: Col, literal: Any, dialect: str, schema) -> str:
    """The column, compared as bytes where it meets a text literal.

    Arrow compares text by code point; a PostgreSQL column compares by its
    collation (``en_US``: ``'a' < 'B'``; nondeterministic ICU collations even
    make ``=`` ignore case), so the PostgreSQL rendering asks for ``"C"``.
    """
    import pyarrow as pa

    name = quote_ident(col.name)
    if dialect != "postgresql" or not isinstance(literal, str):
        return name
    if schema is not None and col.name in schema.names:
        t = schema.field(col.name).type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            return name
    return f'({name} COLLATE "C")'


def _to_sql(node: Node, dialect: str, schema=None) -> str:
    op, args = node.op, node.args
    if op in ("and", "or"):
        return "(" + f" {op.upper()} ".join(_to_sql(a, dialect, schema) for a in args) + ")"
    if op == "not":
        return f"(NOT {_to_sql(args[0], dialect, schema)})"
    if op == "cmp":
        sym, col, rhs = args
        right = quote_ident(rhs.name) if isinstance(rhs, Col) else _sql_literal(rhs)
        sql_sym = "=" if sym == "==" else ("<>" if sym == "!=" else sym)
        return f"({_text_col(col, rhs, dialect, schema)} {sql_sym} {right})"
    if op in ("in", "not_in"):
        col, values = args
        neg = "NOT " if op == "not_in" else ""
        return (f"({_text_col(col, values[0], dialect, schema)} {neg}IN "
                f"({', '.join(_sql_literal(v) for v in values)}))")
    if op == "is_null":
        return f"({quote_ident(args[0].name)} IS NULL)"
    if op == "is_not_null":
        return f"({quote_ident(args[0].name)} IS NOT NULL)"
    if op in ("starts_with", "ends_with", "contains"):
        col = _text_col(args[0], args[1], dialect, schema)
        lit = _sql_literal(args[1])
        if dialect == "postgresql" and op == "ends_with":
            return f"(right({col}, {len(str(args[1]))}) = {lit})"
        if dialect == "postgresql" and op == "contains":
            return f"(strpos({col}, {lit}) > 0)"
        fn = {"starts_with": "starts_with", "ends_with": "ends_with", "contains": "contains"}[op]
        return f"{fn}({col}, {lit})"
    raise AssertionError(f"unknown filter node {op}")
