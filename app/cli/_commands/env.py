from __future__ import annotations

import json

import click


@click.command("env")
@click.option("--json", "as_json", is_flag=True, help="Print the environment as JSON.")
def command(as_json: bool) -> None:
    """Show the software, hardware and execution providers ortkit sees."""
    from ortkit.profiler import collect_environment

    env = collect_environment()
    if as_json:
        click.echo(json.dumps(env.to_dict(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None)
    memory = f"{env.memory_bytes / 2**30:.1f} GiB" if env.memory_bytes else "unknown"
    ort = (
        f"{env.onnxruntime_distribution} {env.onnxruntime}"
        if env.onnxruntime_distribution
        else "not installed (pip install 'ortkit[cpu]', 'ortkit[gpu]' or 'ortkit[openvino]')"
    )
    rows = [
        ("python", env.python), ("ortkit", env.ortkit), ("numpy", env.numpy or "not installed"),
        ("onnx", env.onnx or "not installed"), ("onnxruntime", ort),
        ("torch", env.torch or "not installed (pip install 'ortkit[torch]')"),
        ("os", f"{env.os} ({env.machine})"),
        ("cpu", f"{env.cpu_model}, {env.cpu_cores_logical} logical / {env.cpu_cores_physical or '?'} physical cores"),
        ("memory", memory),
        ("execution providers", ", ".join(env.execution_providers) or "none"),
        ("plugin/EP devices", ", ".join(env.ep_devices) or "none"),
        ("EP libraries", ", ".join(f"{k} {v}" for k, v in env.ep_versions) or "-"),
        ("gpus", ", ".join(env.gpus) + (f" (driver {env.gpu_driver})" if env.gpu_driver else "") if env.gpus else "none"),
        ("git revision", env.git_revision or "-"), ("environment key", env.key),
    ]
    for name, value in rows:
        table.add_row(f"[bold]{name}[/bold]", str(value))
    Console().print(table)
