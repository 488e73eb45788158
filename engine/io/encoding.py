"""Incremental id encoders: original ids (int or text) -> dense int32 codes.

Codes are handed out in order of first appearance while batches stream in;
:meth:`IdEncoder.finish` then returns the sorted dictionary of original ids
and a remap from first-seen codes to ranks in it, so final codes do not
depend on the order rows arrive in.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.errors import SchemaError
from basketguard.engine.io.columns import IdColumn
from basketguard.kernels.encode import (
    build_direct,
    build_hash,
    encode_ascending,
    encode_direct,
    encode_hash,
    grow_hash,
    rank_remap,
)

#: Direct tables may span up to max(_DIRECT_MIN, _DIRECT_FACTOR * distinct ids).
_DIRECT_MIN = 1 << 22
_DIRECT_FACTOR = 8
_MAX_CODES = np.iinfo(np.int32).max
_I64_MIN, _I64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


class _IntTable:
    """int64 ids -> codes: counted while they ascend, then a direct table, switching
    to a hash when sparse."""

    def __init__(self) -> None:
        self.keys = np.empty(1024, np.int64)
        self.n = 0
        self.mode = "ascending"
        self.base = 0
        self.table = np.empty(0, np.int32)
        self.hkeys = self.hcodes = None

    def _reserve(self, extra: int) -> None:
        need = self.n + extra
        if need > self.keys.shape[0]:
            grown = np.empty(max(need, 2 * self.keys.shape[0]), np.int64)
            grown[: self.n] = self.keys[: self.n]
            self.keys = grown

    def encode(self, values: np.ndarray) -> np.ndarray:
        if values.shape[0] == 0:
            return np.empty(0, np.int32)
        if values.flags.writeable:
            # read-only like Arrow's buffers, so the kernels below compile for one
            # array type, not once more for computed ids (_encode_ascending: ~0.1 s)
            values = values.view()
            values.flags.writeable = False
        self._reserve(values.shape[0])
        if self.mode == "ascending":
            done = encode_ascending(values, self.keys, self.n)
            if done is not None:
                codes, self.n = done
                return codes
            self.mode = "direct"  # the keys so far are sorted: a table holds them
        if self.mode == "direct":
            lo, hi = int(values.min()), int(values.max())
            cur = self.table.shape[0]
            if cur:
                lo, hi = min(lo, self.base), max(hi, self.base + cur - 1)
            elif self.n:  # out of the ascending mode: its keys go in the table too
                lo, hi = min(lo, int(self.keys[0])), max(hi, int(self.keys[self.n - 1]))
            span = hi - lo + 1
            allowed = max(_DIRECT_MIN, _DIRECT_FACTOR * (self.n + values.shape[0]))
            if span <= allowed:
                if span > cur:  # not covered by the table (its room included)
                    self._grow(lo, hi, span, allowed)
                codes, self.n = encode_direct(values, self.base, self.table, self.keys, self.n)
                return codes
            self.mode = "hash"
            self.table = np.empty(0, np.int32)
            self.hkeys, self.hcodes = build_hash(self.keys, self.n, self._capacity(values.shape[0]))
        cap = self.hkeys.shape[0]
        if 2 * (self.n + values.shape[0]) > cap:
            self.hkeys, self.hcodes = grow_hash(self.hkeys, self.hcodes,
                                                self._capacity(values.shape[0]))
        codes, self.n = encode_hash(values, self.hkeys, self.hcodes, self.keys, self.n)
        return codes

    def _grow(self, lo: int, hi: int, span: int, allowed: int) -> None:
        """A direct table covering ``[lo, hi]``, with room to grow the way the ids went.

        Ids that rise batch by batch (surrogate keys) would otherwise rebuild the
        table for every batch: at least doubling it keeps the rebuilds to a
        logarithmic number. The room goes above the new range when the ids grew
        upward (or on the first batch), below it when they grew downward.
        """
        cur = self.table.shape[0]
        size = min(allowed, max(span, 2 * cur))
        room = size - span
        base = lo - room if cur and lo < self.base and hi == self.base + cur - 1 else lo
        base = max(base, _I64_MIN)
        size = min(size, _I64_MAX - base + 1)  # the table never reaches past the int64 ids
        self.table = build_direct(self.keys, self.n, base, size)
        self.base = base

    def _capacity(self, extra: int) -> int:
        need = 2 * (self.n + extra) + 1
        return 1 << max(need - 1, 1).bit_length()

    def dictionary(self) -> np.ndarray:
        return self.keys[: self.n]


class _StrTable:
    """Text ids -> codes: Arrow hashes each batch, a dict maps batch uniques."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def encode(self, values: pa.Array) -> np.ndarray:
        if len(values) == 0:
            return np.empty(0, np.int32)
        enc = pc.dictionary_encode(values)
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
        uniques = enc.dictionary.to_pylist()
        lookup = np.empty(len(uniques), np.int32)
        index = self.index
        for j, u in enumerate(uniques):
            code = index.get(u)
            if code is None:
                code = len(self.values)
                index[u] = code
                self.values.append(u)
            lookup[j] = code
        idx = enc.indices.to_numpy(zero_copy_only=False)
        return lookup[idx]

    @property
    def n(self) -> int:
        return len(self.values)

    def dictionary(self) -> pa.Array:
        return pa.array(self.values, pa.string())


class IdEncoder:
    """Encode one id role across batches.

    Parameters
    ----------
    role : str
        Canonical role (customer, item, basket, store), for messages.
    column : str
        Source column, for messages.
    """

    def __init__(self, role: str, column: str) -> None:
        self.role = role
        self.column = column
        self.kind: str | None = None
        self._table: _IntTable | _StrTable | None = None

    @property
    def n_codes(self) -> int:
        """Distinct ids seen so far."""
        return 0 if self._table is None else self._table.n

    def encode(self, col: IdColumn, where: str) -> np.ndarray:
        """Codes of a batch of (non-null) ids, first-seen order.

        Raises
        ------
        SchemaError
            A batch's id type (int or text) differs from earlier batches, or
            there are more than 2^31 - 1 distinct ids.
        """
        if self.kind is None:
            self.kind = col.kind
            self._table = _IntTable() if col.kind == "int" else _StrTable()
        elif col.kind != self.kind:
            raise SchemaError(
                f"{where}: column {self.column!r} ({self.role} id) is {col.kind} in one part of the "
                f"source and {self.kind} in another; make the files agree or read it as text "
                f"(types.{self.column} = \"string\")."
            )
        codes = self._table.encode(col.ints if col.kind == "int" else col.strings)
        if self._table.n > _MAX_CODES:
            raise SchemaError(f"{where}: more than 2^31-1 distinct {self.role} ids.")
        return codes

    def finish(self) -> tuple[pa.Array, np.ndarray]:
        """Sorted dictionary of original ids and the first-seen code -> rank remap.

        Returns
        -------
        dictionary : pyarrow.Array
            Original ids (int64 or string) in ascending order; final code i is
            ``dictionary[i]``.
        remap : numpy.ndarray of int32
            ``remap[first_seen_code]`` = final code.
        """
        if self._table is None:
            return pa.array([], pa.int64()), np.empty(0, np.int32)
        if self.kind == "int":
            keys = self._table.dictionary()
            if self._table.mode == "ascending":  # keys in ascending order already
                order = np.arange(keys.shape[0], dtype=np.int64)
            elif self._table.mode == "direct" and self._table.table.shape[0]:
                # The direct table is indexed by id: its codes, read in index
                # order, already are the codes in ascending id order (no sort).
                table = self._table.table
                order = table[table >= 0].astype(np.int64)
            else:
                order = np.argsort(keys, kind="stable")
            return pa.array(keys[order]), rank_remap(order)
        values = self._table.dictionary()
        order = pc.sort_indices(values).to_numpy()
        return values.take(pa.array(order)), rank_remap(order.astype(np.int64))
