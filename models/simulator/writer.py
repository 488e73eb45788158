"""Parquet files written in fixed row groups, fed by a background writer thread.

The simulator generates customers in chunks; :class:`WriterThread` encodes
the previous chunk while the next one is generated. :meth:`WriterThread.cancel`
stops it cleanly (the table being appended is finished, the rest dropped), so
that the files can be closed without racing the thread.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class RowGroupFile:
    """A Parquet file written in row groups of exactly ``row_group_size`` rows.

    Row-group boundaries depend only on the row count, never on how rows
    arrived, so chunking does not change the bytes.

    Parameters
    ----------
    path : Path
        The file to write (inside the simulator's temporary folder).
    schema : pyarrow.Schema
    row_group_size : int
    compression : str
    delta_columns : tuple of str
        Sorted integer columns stored with ``DELTA_BINARY_PACKED``.
    """

    def __init__(self, path: Path, schema: pa.Schema, row_group_size: int, compression: str,
                 delta_columns: tuple[str, ...] = ()) -> None:
        self.path = path
        self.schema = schema
        self.size = row_group_size
        encoding = {c: "DELTA_BINARY_PACKED" for c in delta_columns}
        self.writer = pq.ParquetWriter(
            path, schema, compression=compression,
            use_dictionary=[f.name for f in schema if f.name not in delta_columns],
            column_encoding=encoding or None,
        )
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.rows = 0

    def append(self, table: pa.Table) -> None:
        """Buffer ``table``; write every full row group."""
        self.pending.append(table)
        self.pending_rows += table.num_rows
        while self.pending_rows >= self.size:
            self._emit(self.size)

    def _emit(self, n: int) -> None:
        table = pa.concat_tables(self.pending) if len(self.pending) > 1 else self.pending[0]
        self.writer.write_table(table.slice(0, n), row_group_size=n)
        rest = table.slice(n)
        self.pending = [rest] if rest.num_rows else []
        self.pending_rows = rest.num_rows
        self.rows += n

    def close(self) -> None:
        """Write the last (short) row group and the footer."""
        if self.pending_rows:
            self._emit(self.pending_rows)
        self.writer.close()

    def abort(self) -> None:
        """Close the writer without the buffered rows (the file is discarded after)."""
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001, S110 - the file is removed with its folder
            pass


class WriterThread:
    """Appends tables to files in submission order on a background thread, so
    Parquet encoding overlaps the generation of the next chunk."""

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.cancelled = False
        self.thread = threading.Thread(target=self._run, name="basketguard-synth-writer",
                                       daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            task = self.queue.get()
            if task is None:
                return
            if self.error is None and not self.cancelled:
                try:
                    for file, table in task:
                        file.append(table)
                except BaseException as exc:  # noqa: BLE001 - re-raised on the main thread
                    self.error = exc

    def submit(self, task: list[tuple[RowGroupFile, pa.Table]]) -> None:
        """Queue one chunk's tables (blocks while two chunks are waiting)."""
        if self.error is not None:
            raise self.error
        self.queue.put(task)

    def finish(self) -> None:
        """Wait until every queued table is written; re-raise the thread's error."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def cancel(self) -> None:
        """Drop the queued tables and wait for the thread to stop.

        The table being appended is finished first: closing a Parquet writer
        under a running ``write_table`` corrupts it. A second Ctrl-C does not
        interrupt this wait, which lasts at most one chunk's encoding.
        """
        self.cancelled = True
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        self.queue.put_nowait(None)
        while self.thread.is_alive():
            try:
                self.thread.join()
            except KeyboardInterrupt:
                continue
