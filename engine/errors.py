"""Error classes: user mistakes apart from bugs.

User mistakes (a missing file, a wrong column, a malformed project file) raise
:class:`BasketguardError` or one of its subclasses; the message says what was
wrong, where (file, column, row or key) and what to do. Bugs in the engine
itself raise :class:`InternalError`. The CLI turns both into exit code 3
(``basketguard.engine.cli.exitcodes.ExitCode.ERROR``): an error never passes a gate.
"""

from __future__ import annotations


class BasketguardError(Exception):
    """A problem with the user's input or configuration.

    The message is a complete, one-paragraph explanation meant to be shown
    as-is to the user (no traceback needed).
    """


class ConfigError(BasketguardError):
    """The project file or a command-line option is malformed."""


class SourceError(BasketguardError):
    """A data source cannot be opened or read (missing file, bad format)."""


class SchemaError(BasketguardError):
    """A mapped column is missing or has a type that cannot serve its role."""


class DataError(BasketguardError):
    """Rows fail validation (nulls, unparseable times, returns, duplicates)
    under a policy that makes that an error (``--strict``), or nothing is
    left after filtering."""


class OutputError(BasketguardError):
    """A report or data file cannot be written where the user asked."""


class InternalError(Exception):
    """A bug in basketguard (an invariant did not hold). Please report it."""
