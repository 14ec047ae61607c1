"""Where a person's Dask cluster runs: worker processes on this machine, or a DaskCluster in a cluster."""
