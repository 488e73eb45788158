"""One module per CLI verb.

Each module exposes ``NAME`` (the verb), ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int`` (an :class:`ExitCode`).
``basketguard.engine.cli.main`` lists them in ``COMMANDS`` with their ``HELP`` (so
that ``--help`` imports none of them); only the verb that runs is imported.
"""
