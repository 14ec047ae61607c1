"""The pool inventory from a Kubernetes cluster: which nodes offer which accelerators, kept by one watch."""

from .config import DeviceModel, KubernetesPool
from .nodes import node_spec

__all__ = ["DeviceModel", "KubernetesPool", "node_spec"]
