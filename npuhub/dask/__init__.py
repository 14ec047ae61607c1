"""Dask clusters across the pool, admitted like notebooks: ``cluster()``, ``list_clusters()``, ``connect()``.

In a notebook::

    from distributed import Client
    import npuhub.dask

    cluster = npuhub.dask.cluster(workers=4)          # workers of the site's default Dask flavor
    client = Client(cluster)
    print(cluster)                                    # "4 of 4 workers running" or where the rest wait
    cluster.dashboard_link                            # the dashboard through the hub, for you only
    cluster.close()

The service owns the cluster: it lives on after a kernel restart (``connect``) until it is closed, idle past
the site's limit, past its maximum lifetime, or its notebook server stops. Names are loaded lazily so that the
site file's reader can import ``npuhub.dask.site`` without ``distributed``.
"""

from __future__ import annotations

__all__ = ["NPUCluster", "NPUHubDaskError", "cluster", "connect", "list_clusters"]


def __getattr__(name: str):
    if name in __all__:
        from . import npucluster

        value = getattr(npucluster, name if name != "cluster" else "make_cluster")
        globals()[name] = value
        return value
    raise AttributeError(name)
