"""Admission: who gets the next slice. Quotas, a fair queue with positions and estimates, reservations.

Plain logic over a clock and the pool; it imports no HTTP framework, no
JupyterHub and no spawner. The npuhub service drives it over HTTP; the
workload replayer and the property tests drive it directly with a simulated
clock.
"""
