"""A workload replayer: traces of notebook sessions through npuhub's real admission core, policy by policy.

``python -m benchmarks.replay`` runs every policy on the synthetic trace and on
the workshop day and writes the table and plots (see benchmarks/README.md).
Modules: ``trace`` (the session record and file format), ``synthetic`` (the
generators), ``loaders`` (public cluster traces), ``policies``, ``replayer``
(the event loop around ``Admission``), ``metrics``, ``report`` (table, plots).
"""
