"""Provisioned Grafana dashboards: valid, current, and querying metrics that exist."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
from prometheus_client import REGISTRY

import broker.metrics
import edge.metrics
from tests.conftest import ROOT

GRAFANA = ROOT / "deploy" / "grafana"
METRIC = re.compile(r"\bstreetsense_[a-z0-9_]+")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exposed_sample_names() -> set[str]:
    """Every sample name the agent's and adapter's metric catalogues can expose."""
    assert edge.metrics.CAMERA_UP and broker.metrics.EVENTS_IN  # both catalogues registered
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def dashboard_files() -> list[Path]:
    return sorted((GRAFANA / "dashboards").glob("*.json"))


def test_every_dashboard_is_committed_and_current() -> None:
    generator = _generator()
    assert {path.stem for path in dashboard_files()} == set(generator.DASHBOARDS)
    for path in dashboard_files():
        assert path.read_text() == generator.render(path.stem), "run deploy/grafana/generate.py"


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.stem)
def test_dashboard_queries_use_exposed_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"].startswith("streetsense-")
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert exprs, "a dashboard without queries"
    known = exposed_sample_names()
    for expr in exprs:
        used = set(METRIC.findall(expr))
        assert used, f"query uses no StreetSense metric: {expr}"
        assert used <= known, f"unknown metrics {sorted(used - known)} in {expr}"


def test_panels_do_not_overlap_and_ids_are_unique() -> None:
    for path in dashboard_files():
        panels = json.loads(path.read_text())["panels"]
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids))
        cells = {(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels}
        assert len(cells) == len(panels)


def test_provisioning_points_at_the_datasource_the_panels_use() -> None:
    datasource = (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    assert "uid: streetsense-prometheus" in datasource
