"""Generate the provisioned Grafana dashboards (JSON) from one compact description.

Run ``python deploy/grafana/generate.py`` after editing; a test checks the committed
JSON is current and that every query uses metrics the agent and adapter expose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "streetsense-prometheus"}

# (title, unit, [(expr, legend)]) per panel; one list per dashboard.
Panel = tuple[str, str, list[tuple[str, str]]]

DASHBOARDS: dict[str, tuple[str, list[Panel]]] = {
    "fleet-overview": (
        "StreetSense / Fleet overview",
        [
            ("Agents online", "short", [("sum(streetsense_adapter_agent_online)", "online")]),
            (
                "Agents offline",
                "short",
                [("count(streetsense_adapter_agent_online == 0) or vector(0)", "offline")],
            ),
            (
                "Cameras up",
                "short",
                [
                    ("sum(streetsense_camera_up)", "up"),
                    ("count(streetsense_camera_up == 0) or vector(0)", "down"),
                ],
            ),
            (
                "Events per minute by category",
                "short",
                [("sum by (category) (rate(streetsense_events_total[5m])) * 60", "{{category}}")],
            ),
            (
                "Analysis gaps (drops/s)",
                "short",
                [
                    (
                        "sum by (instance, reason) (rate(streetsense_drops_total[5m]))",
                        "{{instance}} {{reason}}",
                    )
                ],
            ),
            ("Outbox backlog", "short", [("streetsense_outbox_backlog", "{{instance}}")]),
            ("Broker connected", "short", [("streetsense_broker_connected", "{{instance}}")]),
        ],
    ),
    "cameras": (
        "StreetSense / Cameras",
        [
            ("Camera up", "short", [("streetsense_camera_up", "{{instance}} {{camera}}")]),
            ("Frames in (fps)", "short", [("streetsense_camera_fps", "{{camera}}")]),
            (
                "Decoded frames/s",
                "short",
                [("sum by (camera) (rate(streetsense_frames_decoded_total[1m]))", "{{camera}}")],
            ),
            (
                "Analysed frames/s",
                "short",
                [("sum by (camera) (rate(streetsense_frames_analysed_total[1m]))", "{{camera}}")],
            ),
            (
                "Clips analysed/s",
                "short",
                [("sum by (camera) (rate(streetsense_clips_analysed_total[1m]))", "{{camera}}")],
            ),
            (
                "Age of last frame",
                "s",
                [("streetsense_camera_last_frame_age_seconds", "{{camera}}")],
            ),
            (
                "Decode errors/s",
                "short",
                [("sum by (camera) (rate(streetsense_decode_errors_total[5m]))", "{{camera}}")],
            ),
            (
                "Reconnects",
                "short",
                [
                    (
                        "sum by (camera) (increase(streetsense_camera_reconnects_total[1h]))",
                        "{{camera}}",
                    )
                ],
            ),
        ],
    ),
    "inference": (
        "StreetSense / Inference",
        [
            (
                "Inference latency p50/p95/p99",
                "s",
                [
                    (
                        f"histogram_quantile({q}, sum by (stage, le) (rate(streetsense_inference_seconds_bucket[5m])))",
                        f"p{int(q * 100)} {{{{stage}}}}",
                    )
                    for q in (0.5, 0.95, 0.99)
                ],
            ),
            (
                "Mean batch size",
                "short",
                [
                    (
                        "sum by (stage) (rate(streetsense_inference_batch_size_sum[5m])) / sum by (stage) (rate(streetsense_inference_batch_size_count[5m]))",
                        "{{stage}}",
                    )
                ],
            ),
            ("Queue depth", "short", [("streetsense_queue_depth", "{{instance}} {{queue}}")]),
            (
                "Drops by stage and reason",
                "short",
                [
                    (
                        "sum by (stage, reason) (rate(streetsense_drops_total[5m]))",
                        "{{stage}} {{reason}}",
                    )
                ],
            ),
            (
                "Event latency p95 (capture to broker)",
                "s",
                [
                    (
                        "histogram_quantile(0.95, sum by (le) (rate(streetsense_event_latency_seconds_bucket[5m])))",
                        "capture to broker",
                    ),
                    (
                        "histogram_quantile(0.95, sum by (le) (rate(streetsense_classification_latency_seconds_bucket[5m])))",
                        "capture to classified",
                    ),
                ],
            ),
        ],
    ),
    "events-deliveries": (
        "StreetSense / Events and deliveries",
        [
            (
                "Events into the adapter by category",
                "short",
                [
                    (
                        "sum by (category) (rate(streetsense_adapter_events_in_total[5m]))",
                        "{{category}}",
                    )
                ],
            ),
            (
                "Rejected payloads by reason",
                "short",
                [
                    (
                        "sum by (source, reason) (rate(streetsense_adapter_rejected_total[5m]))",
                        "{{source}} {{reason}}",
                    )
                ],
            ),
            (
                "Deliveries by output and result",
                "short",
                [
                    (
                        "sum by (output, result) (rate(streetsense_adapter_deliveries_total[5m]))",
                        "{{output}} {{result}}",
                    )
                ],
            ),
            (
                "Delivery latency p95",
                "s",
                [
                    (
                        "histogram_quantile(0.95, sum by (output, le) (rate(streetsense_adapter_delivery_latency_seconds_bucket[5m])))",
                        "{{output}}",
                    )
                ],
            ),
            ("Output up", "short", [("streetsense_adapter_output_up", "{{output}}")]),
            (
                "Operator actions",
                "short",
                [
                    (
                        "sum by (action, channel) (increase(streetsense_adapter_operator_actions_total[1h]))",
                        "{{action}} via {{channel}}",
                    )
                ],
            ),
            (
                "Duplicates dropped/s",
                "short",
                [("rate(streetsense_adapter_duplicates_total[5m])", "duplicates")],
            ),
        ],
    ),
    "queues": (
        "StreetSense / Queues",
        [
            ("Output queue depth", "short", [("streetsense_adapter_queue_depth", "{{output}}")]),
            (
                "Oldest queued delivery",
                "s",
                [("streetsense_adapter_queue_oldest_age_seconds", "{{output}}")],
            ),
            (
                "Dead letters (1h)",
                "short",
                [
                    (
                        "sum by (output) (increase(streetsense_adapter_dead_letters_total[1h]))",
                        "{{output}}",
                    )
                ],
            ),
            ("Agent outbox backlog", "short", [("streetsense_outbox_backlog", "{{instance}}")]),
            (
                "Agent outbox oldest age",
                "s",
                [("streetsense_outbox_oldest_age_seconds", "{{instance}}")],
            ),
        ],
    ),
}


def _panel(index: int, title: str, unit: str, targets: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + n),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
            }
            for n, (expr, legend) in enumerate(targets)
        ],
    }


def build(uid: str) -> dict[str, Any]:
    """The dashboard JSON model for ``uid``."""
    title, panels = DASHBOARDS[uid]
    return {
        "uid": f"streetsense-{uid}",
        "title": title,
        "tags": ["streetsense"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": []},
        "panels": [_panel(i, *panel) for i, panel in enumerate(panels)],
    }


def render(uid: str) -> str:
    """The committed file text for ``uid``."""
    return json.dumps(build(uid), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    for name in DASHBOARDS:
        (OUT / f"{name}.json").write_text(render(name), encoding="utf-8")
