"""The gate: a segment and its offer against the mailing policy, as a verdict.

:func:`~basketguard.engine.gate.gate.evaluate` turns the measures of a mailing
(:func:`basketguard.engine.mitigate.verify.measure`, the same ones ``recommend``
verifies with) into one check per policy limit and a verdict; the CLI verb
``basketguard gate`` turns the verdict into an exit status. See docs/gate.md.
"""

from basketguard.engine.gate.gate import (
    CHECK_KINDS,
    CheckNotMeasured,
    GateCheck,
    GateResult,
    evaluate,
    gate_checks,
)

__all__ = ["CHECK_KINDS", "CheckNotMeasured", "GateCheck", "GateResult", "evaluate",
           "gate_checks"]
