"""Ray Serve: the app as a deployment on a local Ray instance that the test starts and stops."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest

from ortkit.runtime import Runtime
from ortkit.serve import ServeError, ServeOptions

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")
httpclient = pytest.importorskip("tritonclient.http")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_deployment_serves_the_protocol(model_files: dict[str, Path], tmp_path: Path) -> None:
    from ortkit.serve.ray import build_app, deployment, replica_cpus

    assert replica_cpus(ServeOptions(threads=2, instances=1), models=2) == 4.0
    with pytest.raises(ServeError, match="models is required"):
        build_app({"replica": "2"})
    # What `serve run ortkit.serve.ray:build_app models=... threads=1` builds.
    assert isinstance(build_app({"models": str(model_files["mlp"]), "threads": "1"}), serve.Application)

    port = _free_port()
    # Short and fixed: Ray puts Unix sockets under it, whose paths may not exceed 107 bytes.
    temp = Path(tempfile.gettempdir()) / f"ortkit-ray-{os.getpid()}"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=str(temp))
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        application = deployment([model_files["mlp"]], ServeOptions(threads=1, max_batch=8), replicas=2, num_cpus=0.5)
        serve.run(application, name="ortkit", route_prefix="/", blocking=False)
        client = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
        x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
        given = httpclient.InferInput("x", list(x.shape), "FP32")
        given.set_data_from_numpy(x)
        for _ in range(4):  # requests spread over both replicas
            result = client.infer("mlp", [given])
            np.testing.assert_allclose(result.as_numpy("y"), Runtime(str(model_files["mlp"]), "cpu").run(x)["y"], rtol=1e-6)
        assert client.get_model_metadata("mlp")["inputs"][0]["shape"] == [-1, 4]
        status = serve.status().applications["ortkit"]
        assert status.status == "RUNNING"
        assert status.deployments["ortkit"].replica_states.get("RUNNING") == 2
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
