"""The Ray cluster as the driver sees it: connecting, node kinds, and version agreement."""

from __future__ import annotations

from typing import Any

from ortkit.base import OrtkitError

__all__ = ["FleetError", "connect", "nodes_of_kind", "check_versions", "KIND_LABEL"]

#: a node label that names its kind, for clusters that label nodes instead of giving them a
#: custom resource (``ray start --labels '{"ortkit-kind": "cpu-amd"}'``)
KIND_LABEL = "ortkit-kind"


class FleetError(OrtkitError):
    """A fleet sweep that cannot run as asked: no cluster, a version mismatch, a damaged transfer."""


def connect(address: str) -> bool:
    """Connect this process to the cluster at ``address``; True when this call connected (the
    caller then disconnects), False when it already was.

    Raises:
        FleetError: ray is not installed, or no cluster answers at ``address``.
    """
    try:
        import ray
    except ImportError:
        raise FleetError("--ray needs Ray: pip install 'ortkit[ray]'") from None
    if ray.is_initialized():
        return False
    _reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise FleetError(f"cannot reach a Ray cluster at {address!r}: {message} (start one with `ray start --head`)") from None
    return True


def _reachable(address: str) -> None:
    """A HOST:PORT that nothing listens on fails now: ray.init retries such an address for
    minutes before it gives up."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto", ray://...: Ray resolves and reports those itself
    try:
        with socket.create_connection((host, int(port)), timeout=10):
            pass
    except OSError as error:
        raise FleetError(f"cannot reach a Ray cluster at {address!r}: {error.strerror or error} (start one with `ray start --head`)") from None


def nodes_of_kind(kind: str) -> list[dict[str, Any]]:
    """The live nodes that carry ``kind`` as a custom resource or as the ``ortkit-kind`` label."""
    import ray

    out = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        labels = node.get("Labels") or {}
        if kind in (node.get("Resources") or {}) or labels.get(KIND_LABEL) == kind:
            out.append(node)
    return out


def check_versions(driver: Any, hello: Any) -> None:
    """A node must run the ortkit and onnxruntime of the driver: otherwise its numbers would be
    stored as if measured by this stack.

    Args:
        driver: the driver's `ortkit.profiler.Environment`.
        hello: the node's `NodeHello`.

    Raises:
        FleetError: naming both versions.
    """
    node = hello.environment
    theirs = (node.ortkit, node.onnxruntime_distribution, node.onnxruntime)
    ours = (driver.ortkit, driver.onnxruntime_distribution, driver.onnxruntime)
    if theirs != ours:
        raise FleetError(
            f"node {hello.node_id[:12]} ({hello.kind}, {hello.hostname}) runs ortkit {theirs[0]} with {theirs[1]} {theirs[2]}; "
            f"this driver runs ortkit {ours[0]} with {ours[1]} {ours[2]}: install the same versions on every node (docs/fleet.md)"
        )
