"""git-ml's helper for training scripts: log metrics, params and tags into the run.

    import gitml
    gitml.log_metric("loss", 0.31, step=1)
    gitml.log_metrics({"loss": 0.31, "acc": 0.9}, step=1)
    gitml.log_param("lr", 0.1)
    gitml.set_tag("team", "vision")
    path = gitml.outputs_dir()   # files written here become the run's outputs

`git ml run` puts this module on PYTHONPATH and sets GITML_RUN_ID, GITML_METRICS
and GITML_OUTPUTS. Outside a run the calls do nothing (outputs_dir() is
"outputs"), so a script behaves the same with or without git-ml.
Standard library only. Lines go to a JSON-lines file; see docs/formats.md.
"""
import json
import os
import threading
import time

__all__ = ["log_metric", "log_metrics", "log_param", "log_params", "set_tag", "run_id", "outputs_dir", "active"]

_lock = threading.Lock()
_file = None
_steps = {}


def active():
    """True inside a `git ml run`."""
    return bool(os.environ.get("GITML_METRICS"))


def run_id():
    """The id of the git-ml run this process belongs to, or None."""
    return os.environ.get("GITML_RUN_ID")


def outputs_dir():
    """The folder whose contents become the run's outputs (created if needed)."""
    path = os.environ.get("GITML_OUTPUTS", "outputs")
    os.makedirs(path, exist_ok=True)
    return path


def _write(record):
    global _file
    path = os.environ.get("GITML_METRICS")
    if not path:
        return
    line = json.dumps(record, separators=(",", ":")) + "\n"
    with _lock:
        if _file is None:
            _file = open(path, "a", encoding="utf-8", buffering=1)
        _file.write(line)


def log_metric(key, value, step=None, timestamp=None):
    """Logs one value of a metric. `step` defaults to 0, 1, 2... per key."""
    key = str(key)
    if step is None:
        step = _steps.get(key, 0)
    _steps[key] = int(step) + 1
    if timestamp is None:
        timestamp = int(time.time() * 1000)
    _write({"key": key, "value": float(value), "step": int(step), "timestamp": int(timestamp)})


def log_metrics(metrics, step=None, timestamp=None):
    """Logs several metrics at the same step."""
    for key, value in metrics.items():
        log_metric(key, value, step=step, timestamp=timestamp)


def log_param(key, value):
    """Records a parameter (kept as text, as MLflow does)."""
    _write({"param": str(key), "value": str(value)})


def log_params(params):
    for key, value in params.items():
        log_param(key, value)


def set_tag(key, value):
    _write({"tag": str(key), "value": str(value)})
