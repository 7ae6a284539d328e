"""The batch layer: many run plans on one server with a warm pool of runtimes, one report.

A sweep (one notebook, many parameter sets) and a suite (many notebooks, ``runt-automate
test``) are both a list of :class:`~.run.Entry`; :func:`~.run.run_batch` executes them K at a
time. It imports the orchestrator's pieces (plan, execution, session), never its ``main``.
"""
