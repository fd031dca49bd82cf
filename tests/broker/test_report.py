"""The transparency report against a scripted history, on both backends, via CLI and API."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from broker import audit, retention
from broker.api import OutputView, create_app
from broker.audit_prune import prune_audit
from broker.config import RetentionConfig, RetryPolicy, RouteRule
from broker.core import AdapterCore
from broker.errors import AlertStateError
from broker.intake import EventIn
from broker.outputs.base import DeliveryResult, Outcome, OutputHealth
from broker.queue.sql import SqlDeliveryQueue
from broker.queue.worker import DeliveryWorker
from broker.report import NOT_DONE, TransparencyReport, build_report
from broker.report_render import report_dict, report_json, report_markdown
from broker.routing import Router
from broker.storage import Database
from broker.storage.sqlite import SqliteDatabase
from events import ActionKind, Event, ModelRef, Phase, Source, SourceKind, encode
from streetsense.cli import main
from tests.broker.helpers import make_event

DAY = 86_400.0
TOKEN = "token-alice-123456"
FIGHT = ModelRef(name="fight-mobilenet", version="1.2.0")
FALL = ModelRef(name="fall-net", version="0.3")
ROUTES = [
    RouteRule.model_validate({"name": "all", "outputs": ["hook"], "continue": True}),
    RouteRule(name="fights", categories=["fight"], outputs=["arc"]),
]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class ScriptedOutput:
    """An OutputTransport answering attempts from a script, then delivering."""

    def __init__(self, name: str, script: Iterable[Outcome] = ()) -> None:
        self._name = name
        self._script = list(script)

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        pass

    async def deliver(self, event: Event) -> DeliveryResult:
        step = self._script.pop(0) if self._script else Outcome.DELIVERED
        return DeliveryResult(step, f"scripted {step.value}")

    def health(self) -> OutputHealth:
        return OutputHealth(connected=True)

    async def close(self) -> None:
        pass


@dataclass
class RecordingPublisher:
    """Stands in for MQTT where only the audit of inbound events matters."""

    sent: list[str] = field(default_factory=list)

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self.sent.append(topic)


async def drain(output: ScriptedOutput, database: Database) -> None:
    clock = Clock()
    worker = DeliveryWorker(
        transport=output, queue=SqlDeliveryQueue(database), database=database,
        policy=RetryPolicy(base_s=1, cap_s=2, max_attempts=3), clock=clock,
        rng=random.Random(3),
    )  # fmt: skip
    for _ in range(100):
        wait = await worker.step()
        if wait == worker._poll:
            return
        clock.now += wait
    raise AssertionError("worker did not go idle")


def core_for(database: Database, clock: Clock) -> AdapterCore:
    return AdapterCore(database=database, queue=SqlDeliveryQueue(database), router=Router(ROUTES),
                       publisher=RecordingPublisher(), clock=clock, instance="i1")  # fmt: skip


def accept(core: AdapterCore, *events: Event) -> None:
    core.accept([EventIn(event, encode(event).decode()) for event in events])


@dataclass
class History:
    fights: list[Event]
    falls: list[Event]
    scream: Event
    base: float


async def script_history(database: Database) -> History:
    """Events, operator answers, deliveries, inbound events and a purge."""
    clock = Clock()
    core = core_for(database, clock)
    fights = [make_event(model=FIGHT) for _ in range(3)]
    update = make_event(incident_id=fights[0].incident_id, phase=Phase.UPDATE, model=FIGHT)
    falls = [make_event(site="s2", category="fall", model=FALL) for _ in range(2)]
    scream = make_event(site="s2", category="scream",
                        source=Source(kind=SourceKind.SENSOR, id="mic1"))  # fmt: skip
    tamper = make_event(category="tamper", requires_review=False)
    accept(core, *fights, update, *falls, scream, tamper)
    accept(core, fights[1])  # a duplicate: not counted again
    base = clock.now
    answers = [
        (10, fights[0], ActionKind.ACKNOWLEDGE, "api"),
        (20, fights[0], ActionKind.CONFIRM, "api"),
        (30, fights[1], ActionKind.DISMISS, "tetra"),
        (50, falls[0], ActionKind.DISMISS, "dc09"),
        (70, falls[1], ActionKind.ACKNOWLEDGE, "api"),
    ]
    for offset, event, action, channel in answers:
        clock.now = base + offset
        await core.act(event.event_id, action, operator="alice", channel=channel)
    with pytest.raises(AlertStateError):
        await core.act(fights[0].incident_id, ActionKind.DISMISS, operator="bob", channel="api")
    await drain(ScriptedOutput("hook", [Outcome.RETRY, Outcome.RETRY]), database)
    await drain(ScriptedOutput("arc", [Outcome.REJECTED, Outcome.REJECTED]), database)
    dead = core.queue.dead_letters("arc", 10, 0)
    assert len(dead) == 2
    core.requeue([dead[0].seq], operator="alice")
    for agent in ("dc09-panel", "dc09-panel", "onvif-cam"):
        await core.publish_event(make_event(agent=agent, category="intrusion"))
    purged = retention.purge_dead_letters(database, 30, now=time.time() + 31 * DAY)
    assert purged is not None and purged.count == 1
    return History(fights, falls, scream, base)


def around_now() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(hours=1)


async def test_report_matches_the_scripted_history(database: Database) -> None:
    await script_history(database)
    report = build_report(database, *around_now())

    assert report.events == {"fight": {"s1": 4}, "fall": {"s2": 2}, "scream": {"s2": 1},
                             "tamper": {"s1": 1}}  # fmt: skip
    assert report.events_total == 8
    assert report.alerts_opened == 6
    by_category = {o.category: o for o in report.outcomes}
    fight, fall, scream = by_category["fight"], by_category["fall"], by_category["scream"]
    assert (fight.alerts, fight.confirmed, fight.dismissed, fight.acknowledged_only,
            fight.unanswered, fight.false_alarm_share) == (3, 1, 1, 0, 1, 0.5)  # fmt: skip
    assert (fall.alerts, fall.confirmed, fall.dismissed, fall.acknowledged_only,
            fall.unanswered, fall.false_alarm_share) == (2, 0, 1, 1, 0, 1.0)  # fmt: skip
    assert (scream.alerts, scream.unanswered, scream.false_alarm_share) == (1, 1, None)
    assert set(by_category) == {"fight", "fall", "scream"}  # tamper needed no review
    assert report.response.answered == 4
    assert report.response.median_s == pytest.approx(40.0)  # 10, 30, 50, 70
    assert report.response.p90_s == pytest.approx(70.0)
    assert report.answers == {
        "api": {"acknowledge": 2, "confirm": 1, "refused": 1},
        "dc09": {"dismiss": 1},
        "tetra": {"dismiss": 1},
    }
    deliveries = {(d.output): d for d in report.deliveries}
    hook, arc = deliveries["hook"], deliveries["arc"]
    assert (hook.delivered, hook.delivered_after_retry, hook.retry_attempts,
            hook.dead_lettered, hook.requeued) == (8, 1, 2, 0, 0)  # fmt: skip
    assert (arc.delivered, arc.delivered_after_retry, arc.retry_attempts,
            arc.dead_lettered, arc.requeued) == (2, 0, 0, 2, 1)  # fmt: skip
    assert report.inbound == {"dc09-panel": 2, "onvif-cam": 1}
    assert [(m.name, m.version, m.events, m.alerts) for m in report.models] == [
        ("", "", 1, 1), ("fall-net", "0.3", 2, 2), ("fight-mobilenet", "1.2.0", 4, 3),
    ]  # fmt: skip
    assert [(p.kind, p.count, p.actor) for p in report.purges] == [("dead_letters", 1, "adapter")]
    assert report.chain.verified and report.chain.anchor_seq is None
    with database.transaction() as tx:
        assert report.chain.rows == int(tx.query("SELECT COUNT(*) FROM audit")[0][0])
    assert report.coverage == ()
    assert report.not_done == NOT_DONE


async def test_a_period_before_the_history_counts_nothing(database: Database) -> None:
    await script_history(database)
    now = datetime.now(UTC)
    report = build_report(database, now - timedelta(days=2), now - timedelta(days=1))
    assert (report.events, report.alerts_opened, report.outcomes, report.answers,
            report.deliveries, report.inbound, report.models, report.purges) == (
        {}, 0, (), {}, (), {}, (), ())  # fmt: skip
    assert report.response.answered == 0 and report.response.median_s is None
    assert report.chain.verified
    with pytest.raises(ValueError, match="period is empty"):
        build_report(database, now, now)


def check_forms(report: TransparencyReport) -> None:
    data = json.loads(report_json(report))
    assert data == json.loads(json.dumps(report_dict(report)))
    assert data["report_version"] == 1 and data["events_total"] == 8
    assert data["events"]["fight"]["s1"] == 4 and data["alerts_opened"] == 6
    fight = next(o for o in data["outcomes"] if o["category"] == "fight")
    assert fight == {"category": "fight", "alerts": 3, "confirmed": 1, "dismissed": 1,
                     "acknowledged_only": 0, "unanswered": 1, "false_alarm_share": 0.5}  # fmt: skip
    assert data["response"] == {"answered": 4, "median_s": 40.0, "p90_s": 70.0}
    assert data["chain"]["verified"] is True
    assert data["not_done"] == list(NOT_DONE)
    text = report_markdown(report)
    assert text.startswith("# StreetSense transparency report")
    assert "| fight | 3 | 1 | 1 | 0 | 1 | 50.0% |" in text
    assert "| scream | 1 | 0 | 0 | 0 | 1 | n/a |" in text
    assert "| fight | s1 | 4 |" in text and "## Events received: 8" in text
    assert "median 40.0 s, 90th percentile 70.0 s" in text
    assert "| api | 2 | 1 | 0 | 1 |" in text
    assert "| hook | 8 | 1 | 2 | 0 | 0 |" in text and "| arc | 2 | 0 | 0 | 2 | 1 |" in text
    assert "| dc09-panel | 2 |" in text and "| fight-mobilenet | 1.2.0 | 4 | 3 |" in text
    assert "| none (sensor, panel or external) | - | 1 | 1 |" in text
    assert "No biometric identification" in text and "chain intact from seq 1" in text


async def test_json_and_markdown_forms(database: Database) -> None:
    await script_history(database)
    check_forms(build_report(database, *around_now()))


async def test_coverage_names_what_retention_removed(database: Database) -> None:
    clock = Clock()
    core = core_for(database, clock)
    old = make_event()
    accept(core, old)
    await core.act(old.event_id, ActionKind.CONFIRM, operator="alice", channel="api")
    await asyncio.sleep(0.01)  # the purge row gets a later millisecond than the rows before it
    result = retention.sweep(database, RetentionConfig(), now=time.time() + 91 * DAY)
    assert result.count("alerts") == 1 and result.count("audit") == 0
    purge_row = audit.page(database, after=0, limit=100)[-1]
    assert purge_row.action == retention.PURGED
    pruned = prune_audit(database, datetime.fromisoformat(purge_row.at), actor="adapter")
    assert pruned and pruned[0].rows > 0
    now = datetime.now(UTC)
    report = build_report(database, now - timedelta(days=1), now + timedelta(days=1))
    assert len(report.coverage) == 2
    assert report.coverage[0].startswith("Audit rows before")
    assert report.coverage[1].startswith("Closed alerts last changed before")
    assert report.chain.verified and report.chain.anchor_seq is not None
    assert {p.kind for p in report.purges} == {"alerts", "audit"}
    assert "## Coverage" in report_markdown(report)
    assert f"from anchor seq {report.chain.anchor_seq}" in report_markdown(report)


class _Status:
    def outputs(self) -> list[OutputView]:
        return []

    def ready(self) -> tuple[bool, list[str]]:
        return True, []


@pytest.fixture
async def api_client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    database = SqliteDatabase(tmp_path / "adapter.db")
    core = core_for(database, Clock())
    app = create_app(core, _Status(), {TOKEN: "alice"})
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://adapter") as client:
            yield client, database
    finally:
        database.close()


async def test_api_endpoint_needs_a_token_and_serves_both_forms(
    api_client: tuple[httpx.AsyncClient, Database],
) -> None:
    client, database = api_client
    await script_history(database)
    url = "/v1/reports/transparency"
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers={"Authorization": "Bearer wrong-token-xx"})
            ).status_code == 403  # fmt: skip
    auth = {"Authorization": f"Bearer {TOKEN}"}
    event = make_event(category="fall", site="s2", model=FALL)
    accept(core_for(database, Clock()), event)
    answered = await client.post(f"/v1/alerts/{event.incident_id}/confirm", headers=auth)
    assert answered.status_code == 200
    since, until = around_now()
    params = {"since": since.isoformat(), "until": until.isoformat()}
    data = (await client.get(url, params=params, headers=auth)).json()
    assert data["events_total"] == 9 and data["alerts_opened"] == 7
    assert data["answers"]["api"] == {"acknowledge": 2, "confirm": 2, "refused": 1}
    fall = next(o for o in data["outcomes"] if o["category"] == "fall")
    assert (fall["alerts"], fall["confirmed"], fall["false_alarm_share"]) == (3, 1, 0.5)
    naive = {k: v.replace("+00:00", "") for k, v in params.items()}  # naive times are UTC
    assert (await client.get(url, params=naive, headers=auth)).json()["events_total"] == 9
    text = await client.get(url, params={**params, "format": "markdown"}, headers=auth)
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/markdown")
    assert "| fall | 3 | 1 | 1 | 1 | 0 | 50.0% |" in text.text
    empty = await client.get(url, params={"since": until.isoformat(), "until": since.isoformat()},
                             headers=auth)  # fmt: skip
    assert empty.status_code == 422 and "period is empty" in empty.text


async def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "adapter.db"
    database = SqliteDatabase(path)
    try:
        await script_history(database)
    finally:
        database.close()
    config = tmp_path / "adapter.yaml"
    config.write_text(f"storage: {{kind: sqlite, path: {path}}}\n", encoding="utf-8")
    since, until = around_now()
    period = ["--since", since.isoformat(), "--until", until.isoformat()]
    assert main(["broker", "report", "--config", str(config), *period, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["events_total"] == 8 and data["inbound"] == {"dc09-panel": 2, "onvif-cam": 1}
    assert main(["broker", "report", "--config", str(config), *period]) == 0
    assert "| fight | 3 | 1 | 1 | 0 | 1 | 50.0% |" in capsys.readouterr().out
    assert main(["broker", "report", "--config", str(config), "--since", "yesterday"]) == 2
    assert "report:" in capsys.readouterr().err
    missing = tmp_path / "missing.yaml"
    missing.write_text(f"storage: {{kind: sqlite, path: {tmp_path / 'none.db'}}}\n",
                       encoding="utf-8")  # fmt: skip
    assert main(["broker", "report", "--config", str(missing)]) == 2
    assert "no such database file" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
