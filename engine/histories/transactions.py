"""Transactions: item sets as a CSR, read from basket files or built from histories.

A :class:`Transactions` holds ``offsets`` (int64, ``n + 1``) and ``items``
(int32 codes), each transaction's items distinct and ascending, plus
``item_names`` (the original id or name of each code, ascending) and the
``unit`` a transaction stands for (``"baskets"`` or ``"members"``). It is the
input of the k^m-anonymity analysis (``engine.kmanonymity``).

Sources:

- **basket files** (:func:`read_transactions`), one transaction per line:

  - ``.dat`` / ``.txt`` (optionally ``.gz``), the FIMI format: item ids as
    integers separated by white space (e.g. ``retail.dat``);
  - ``.csv`` (optionally ``.gz``): item names separated by commas (CSV quoting
    is honoured), each name stripped of surrounding white space (the arules
    ``groceries.csv`` has names such as ``"cream cheese "``).

  A blank line is an empty transaction (counted, holds no items); the final
  newline does not start one. Repeated items within a line count once. A
  token that is not an integer (``.dat``) or an empty name (``.csv``) stops
  with a :class:`~basketguard.engine.errors.SourceError` naming the file, the
  line and the token's position; the message never echoes the file's content
  (a file that is not a basket file may hold anything, customer ids included).
- **histories** (:func:`transactions_from_histories`): one transaction per
  member (their distinct items over the whole history) or per basket.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basketguard.engine.errors import InternalError, SourceError
from basketguard.engine.histories.build import Histories
from basketguard.kernels.itemsets import normalize_transactions

UNITS = ("baskets", "members")
FORMATS = ("dat", "csv")


@dataclass(frozen=True, eq=False)
class Transactions:
    """Item sets in CSR form (each transaction's codes distinct and ascending).

    Attributes
    ----------
    offsets : numpy.ndarray of int64, shape (n_transactions + 1,)
    items : numpy.ndarray of int32, shape (offsets[-1],)
    item_names : numpy.ndarray, shape (n_items,)
        Original id (int64) or name (str) of each item code, ascending.
    unit : str
        What one transaction is: ``"baskets"`` or ``"members"``.
    source : str
        Where the transactions came from (a path, ``"histories"``), for messages.
    """

    offsets: np.ndarray
    items: np.ndarray
    item_names: np.ndarray
    unit: str = "baskets"
    source: str = ""

    @classmethod
    def from_csr(cls, offsets: np.ndarray, items: np.ndarray, item_names: np.ndarray,
                 unit: str = "baskets", source: str = "") -> Transactions:
        """Transactions from a raw CSR (items in any order, repeats allowed).

        Parameters
        ----------
        offsets : array of int64, shape (n + 1,)
        items : array of int32
            Codes into ``item_names``.
        item_names : numpy.ndarray
            Name or id of each code.
        unit, source : str
            See the class attributes.

        Returns
        -------
        Transactions
            Normalized (sorted, distinct items per transaction).
        """
        offsets = np.ascontiguousarray(offsets, np.int64)
        items = np.ascontiguousarray(items, np.int32)
        if items.shape[0] and items.max() >= len(item_names):
            raise InternalError("transactions: item code out of range of item_names")
        offsets, items = normalize_transactions(offsets, items)
        out = cls(offsets, items, np.asarray(item_names), unit, source)
        out.validate()
        return out

    @property
    def n_transactions(self) -> int:
        return self.offsets.shape[0] - 1

    @property
    def n_items(self) -> int:
        return len(self.item_names)

    def __len__(self) -> int:
        return self.n_transactions

    def validate(self) -> None:
        """Check the CSR invariants; raise :class:`InternalError` if broken."""
        o, it = self.offsets, self.items
        if o.dtype != np.int64 or o.ndim != 1 or o.shape[0] < 1 or o[0] != 0:
            raise InternalError("transactions: offsets must be int64 starting at 0")
        if it.dtype != np.int32 or it.shape != (int(o[-1]),):
            raise InternalError("transactions: items must be int32 of length offsets[-1]")
        if self.unit not in UNITS:
            raise InternalError(f"transactions: unit must be one of {UNITS}, got {self.unit!r}")
        if it.shape[0] and (it.min() < 0 or it.max() >= self.n_items):
            raise InternalError("transactions: item code out of range")

    def take(self, start: int, stop: int) -> Transactions:
        """Transactions ``start:stop`` with the same item coding (a shard).

        Parameters
        ----------
        start, stop : int
            Transaction range, ``0 <= start <= stop <= n_transactions``.

        Returns
        -------
        Transactions
        """
        if not 0 <= start <= stop <= self.n_transactions:
            raise ValueError(f"bad range {start}:{stop} of {self.n_transactions}")
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        return Transactions(self.offsets[start:stop + 1] - lo, self.items[lo:hi],
                            self.item_names, self.unit, self.source)

    def as_lists(self) -> list[list[object]]:
        """Each transaction as a list of item names (for tests and peers)."""
        names = self.item_names.tolist()
        return [[names[c] for c in self.items[self.offsets[t]:self.offsets[t + 1]]]
                for t in range(self.n_transactions)]


# ------------------------------------------------------------------ basket files
def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise SourceError(f"{path}: unknown transaction format {fmt!r}; "
                              f"use one of {', '.join(FORMATS)}")
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".dat", ".txt"):
        return "dat"
    if ext == ".csv":
        return "csv"
    raise SourceError(f"{path}: cannot tell the transaction format from the file name; "
                      "name it .dat, .txt or .csv (optionally .gz) or pass format='dat' "
                      "or format='csv'")


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8")
    except (OSError, EOFError) as exc:
        raise SourceError(f"{path}: cannot read the file ({exc})") from exc
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SourceError(f"{path}, line {line}: not UTF-8 text ({exc.reason}); "
                          "convert the file to UTF-8") from exc


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline does not start a transaction
    return [s[:-1] if s.endswith("\r") else s for s in lines]


def _parse_dat(path: Path, lines: list[str]) -> tuple[np.ndarray, list[str]]:
    sizes = np.empty(len(lines), np.int64)
    tokens: list[str] = []
    for i, line in enumerate(lines):
        parts = line.split()
        sizes[i] = len(parts)
        tokens.extend(parts)
    try:
        ids = np.array(tokens, dtype=np.str_).astype(np.int64) if tokens else \
            np.empty(0, np.int64)
    except (ValueError, OverflowError) as exc:
        for i, line in enumerate(lines):
            for j, tok in enumerate(line.split()):
                try:
                    v = int(tok)
                except ValueError:
                    v = None
                if v is None or not -(2**63) <= v < 2**63:
                    what = "is not an integer" if v is None else "is beyond 64 bits"
                    raise SourceError(
                        f"{path}, line {i + 1}: token {j + 1} {what}; a .dat file holds "
                        "integer item ids separated by spaces (use .csv for names)"
                    ) from None
        raise InternalError(f"{path}: item ids failed to parse but no bad token was "
                            "found") from exc
    return sizes, ids


def _parse_csv(path: Path, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.zeros(len(lines), np.int64)
    names: list[str] = []
    n_rows = 0
    try:
        rows = csv.reader(io.StringIO("\n".join(lines) + "\n"), strict=True)
        for i, row in enumerate(rows):
            if rows.line_num != i + 1:
                raise SourceError(f"{path}, line {i + 1}: a quoted field spans lines; put "
                                  "one basket per line")
            n_rows += 1
            clean = [f.strip() for f in row]
            if any(not f for f in clean):
                raise SourceError(f"{path}, line {i + 1}: empty item name (two commas in a "
                                  "row or a trailing comma); remove the empty field")
            sizes[i] = len(clean)
            names.extend(clean)
    except csv.Error as exc:
        raise SourceError(f"{path}: malformed CSV ({exc}); a field with a comma, quote or "
                          "line break must be quoted") from exc
    if n_rows != len(lines):
        raise InternalError(f"{path}: {n_rows} CSV rows from {len(lines)} lines")
    return sizes, np.array(names, dtype=np.str_)


def read_transactions(path: str | Path, format: str | None = None,
                      unit: str = "baskets") -> Transactions:
    """Read a basket file: one transaction per line.

    Parameters
    ----------
    path : str or Path
        ``.dat`` / ``.txt`` (integer ids separated by white space) or ``.csv``
        (names separated by commas), optionally gzip-compressed (``.gz``).
    format : {"dat", "csv"}, optional
        Overrides the format told by the file name.
    unit : {"baskets", "members"}
        What one line stands for.

    Returns
    -------
    Transactions
        Item codes ordered as the sorted distinct ids or names.

    Raises
    ------
    SourceError
        Missing or unreadable file, unknown format, or a bad line (the message
        names the file and the line).
    """
    path = Path(path)
    if unit not in UNITS:
        raise SourceError(f"unit must be one of {UNITS}, got {unit!r}")
    fmt = _format_of(path, format)
    lines = _lines(_read_text(path))
    sizes, values = (_parse_dat if fmt == "dat" else _parse_csv)(path, lines)
    names, codes = np.unique(values, return_inverse=True)
    offsets = np.zeros(len(lines) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return Transactions.from_csr(offsets, codes.astype(np.int32).reshape(-1), names, unit,
                                 str(path))


# -------------------------------------------------------------------- histories
def transactions_from_histories(histories: Histories, unit: str = "members") -> Transactions:
    """Transactions from customer histories.

    Parameters
    ----------
    histories : Histories
        CSR of basket lines.
    unit : {"members", "baskets"}
        ``"members"``: one transaction per customer, their distinct items over
        the whole history (customer order). ``"baskets"``: one per distinct
        (customer, basket code), in customer then basket-code order.

    Returns
    -------
    Transactions
        Item codes are the histories' item codes; ``item_names`` its item ids.
    """
    names = histories.item_ids.to_numpy(zero_copy_only=False)
    if unit == "members":
        return Transactions.from_csr(histories.offsets, histories.item, names, unit,
                                     "histories")
    if unit != "baskets":
        raise SourceError(f"unit must be one of {UNITS}, got {unit!r}")
    n = histories.n_lines
    customer = np.repeat(np.arange(histories.n_customers, dtype=np.int64),
                         np.diff(histories.offsets))
    basket = histories.basket
    order = np.lexsort((basket, customer))
    cs, bs = customer[order], basket[order]
    starts = np.flatnonzero(np.r_[True, (cs[1:] != cs[:-1]) | (bs[1:] != bs[:-1])]) if n else \
        np.empty(0, np.int64)
    offsets = np.append(starts, n).astype(np.int64)
    return Transactions.from_csr(offsets, histories.item[order], names, unit, "histories")
