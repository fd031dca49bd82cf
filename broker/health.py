"""Per-output health: transport state, queue depth and age, kept in the gauges too."""

from __future__ import annotations

import time
from collections.abc import Mapping

from broker import metrics
from broker.api import OutputView
from broker.outputs.base import OutputTransport
from broker.queue.base import DeliveryQueue
from broker.storage import Database


def output_views(
    transports: Mapping[str, tuple[str, OutputTransport]],
    queue: DeliveryQueue,
    database: Database,
    now: float | None = None,
) -> list[OutputView]:
    """Health of every output; updates QUEUE_DEPTH, QUEUE_OLDEST_AGE and OUTPUT_UP."""
    moment = time.time() if now is None else now
    views = []
    for stats in queue.stats(list(transports)):
        type_name, transport = transports[stats.output]
        health = transport.health()
        age = (
            None
            if stats.oldest_enqueued_at is None
            else max(0.0, moment - stats.oldest_enqueued_at)
        )
        metrics.QUEUE_DEPTH.labels(stats.output).set(stats.depth)
        metrics.QUEUE_OLDEST_AGE.labels(stats.output).set(age or 0.0)
        metrics.OUTPUT_UP.labels(stats.output).set(1.0 if health.connected else 0.0)
        views.append(
            OutputView(
                name=stats.output,
                type=type_name,
                connected=health.connected,
                detail=health.detail,
                last_success_at=health.last_success_at,
                last_error=health.last_error,
                depth=stats.depth,
                oldest_age_s=age,
                dead_letters=stats.dead,
                active=database.leads(stats.output),
            )
        )
    return views
