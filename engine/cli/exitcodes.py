"""Exit codes of every ``basketguard`` command, and the one map from severities to them.

| code | meaning |
|---|---|
| 0 | success (a gate passed) |
| 1 | a gate failed: policy violated |
| 2 | a gate passed with warnings only |
| 3 | error: bad input, bad configuration, internal error (never a pass) |

The library returns typed results with severities; only the CLI turns them
into a process status, here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from basketguard.engine.findings import Finding, Severity, worst


class ExitCode(enum.IntEnum):
    """Process exit status of every ``basketguard`` command."""

    OK = 0  #: success / gate passed
    FAIL = 1  #: gate failed: policy violated
    WARN = 2  #: gate passed with warnings only
    ERROR = 3  #: bad input, bad configuration or internal error


_OF_SEVERITY = {Severity.FAIL: ExitCode.FAIL, Severity.WARN: ExitCode.WARN,
                Severity.PASS: ExitCode.OK, Severity.INFO: ExitCode.OK}


def exit_code(severity: Severity) -> ExitCode:
    """Exit code of an overall severity: fail 1, warn 2, pass or info 0."""
    return _OF_SEVERITY[severity]


def exit_code_of(findings: Iterable[Finding]) -> ExitCode:
    """Exit code of the worst of some findings."""
    return exit_code(worst(f.severity for f in findings))
