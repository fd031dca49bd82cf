"""The adapter's HTTP API (FastAPI).

Open: ``/healthz``, ``/readyz``, ``/metrics``. Everything under ``/v1`` (including
``/v1/reports/transparency``) needs
``Authorization: Bearer <token>``; the token names the operator (401 without
a token, 403 for an unknown one), and actions are audited under that name.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from broker import alerts, audit, report_render
from broker.alerts import AlertState
from broker.core import AdapterCore
from broker.errors import AlertNotFoundError, AlertStateError, AmbiguousAlertError
from broker.report import build_report
from events import ActionKind


class OutputView(BaseModel):
    """Health and queue of one output."""

    name: str
    type: str
    connected: bool
    detail: str
    last_success_at: float | None
    last_error: str | None
    depth: int
    oldest_age_s: float | None
    dead_letters: int
    active: bool = Field(description="This instance delivers the output (holds its lock).")


class Status(Protocol):
    """What the API needs to know about the running adapter."""

    def outputs(self) -> list[OutputView]:
        """Every output with health and queue figures."""
        ...

    def ready(self) -> tuple[bool, list[str]]:
        """Readiness and the reasons it is not ready (may block: called in a thread)."""
        ...


class ActionBody(BaseModel):
    """Body of an operator action."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2048, description="Free text kept in the history.")


class RequeueBody(BaseModel):
    """Dead letters to put back in their queues."""

    model_config = ConfigDict(extra="forbid")
    seqs: list[int] = Field(min_length=1, max_length=10_000)


def _alert_json(alert: alerts.Alert) -> dict[str, Any]:
    return {
        "id": alert.incident_id,
        "incident_id": alert.incident_id,
        "site": alert.site,
        "agent": alert.agent,
        "category": alert.category,
        "severity": alert.severity.value,
        "state": alert.state.value,
        "ended": alert.ended,
        "opened_at": alert.opened_at,
        "updated_at": alert.updated_at,
        "last_event_id": alert.last_event_id,
        "summary": alert.summary,
    }


def current_operator(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> str:
    """The operator named by the request's bearer token (401 without, 403 unknown)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    tokens: dict[str, str] = request.app.state.operator_tokens
    found = None
    for known, name in tokens.items():
        if hmac.compare_digest(known.encode(), token.strip().encode()):
            found = name
    if found is None:
        raise HTTPException(403, "unknown token")
    return found


Operator = Annotated[str, Depends(current_operator)]


def create_app(core: AdapterCore, status: Status, tokens: dict[str, str]) -> FastAPI:
    """Build the API app over a running adapter."""
    app = FastAPI(title="StreetSense adapter", version="1")
    app.state.operator_tokens = dict(tokens)
    db = core.database

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict[str, Any]:
        ok, reasons = await asyncio.to_thread(status.ready)
        if not ok:
            response.status_code = 503
        return {"ready": ok, "reasons": reasons}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/alerts")
    async def list_alerts(
        operator: Operator,
        state: AlertState | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        found = await asyncio.to_thread(alerts.list_alerts, db, state, limit, offset)
        return {"alerts": [_alert_json(alert) for alert in found]}

    @app.get("/v1/alerts/{alert_id}")
    async def get_alert(alert_id: str, operator: Operator) -> dict[str, Any]:
        try:
            found = await asyncio.to_thread(alerts.detail, db, alert_id)
        except AlertNotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        return {
            **_alert_json(found.alert),
            "events": found.events,
            "history": [
                {"at": h.at, "kind": h.kind, "actor": h.actor, "channel": h.channel,
                 "detail": h.detail}
                for h in found.history
            ],
        }  # fmt: skip

    @app.post("/v1/alerts/{alert_id}/{verb}")
    async def act(
        alert_id: str,
        verb: Literal["acknowledge", "confirm", "dismiss"],
        operator: Operator,
        body: ActionBody | None = None,
    ) -> dict[str, Any]:
        note = body.note if body is not None else ""
        try:
            outcome = await core.act(
                alert_id, ActionKind(verb), operator=operator, channel="api", note=note
            )
        except AlertNotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except (AlertStateError, AmbiguousAlertError) as exc:
            raise HTTPException(409, str(exc)) from exc
        return {"alert": _alert_json(outcome.alert), "action_id": outcome.action.action_id}

    @app.get("/v1/outputs")
    async def outputs(operator: Operator) -> list[OutputView]:
        return await asyncio.to_thread(status.outputs)

    @app.get("/v1/dead-letters")
    async def dead_letters(
        operator: Operator,
        output: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        items = await asyncio.to_thread(core.queue.dead_letters, output, limit, offset)
        return {
            "dead_letters": [
                {"seq": i.seq, "output": i.output, "event_id": i.event_id, "attempts": i.attempts,
                 "last_error": i.last_error, "enqueued_at": i.enqueued_at, "dead_at": i.dead_at}
                for i in items
            ]
        }  # fmt: skip

    @app.post("/v1/dead-letters/requeue")
    async def requeue(body: RequeueBody, operator: Operator) -> dict[str, Any]:
        items = await asyncio.to_thread(core.requeue, body.seqs, operator=operator)
        return {"requeued": [item.seq for item in items]}

    @app.get("/v1/audit")
    async def audit_log(
        operator: Operator,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        rows = await asyncio.to_thread(audit.page, db, after=after, limit=limit)
        return {
            "entries": [
                {"seq": r.seq, "at": r.at, "actor": r.actor, "channel": r.channel,
                 "action": r.action, "subject": r.subject, "details": r.details_dict(),
                 "prev_hash": r.prev_hash, "hash": r.hash}
                for r in rows
            ],
            "next_after": rows[-1].seq if rows else after,
        }  # fmt: skip

    @app.get("/v1/reports/transparency", response_model=None)
    async def transparency(
        operator: Operator,
        since: datetime | None = None,
        until: datetime | None = None,
        format: Literal["json", "markdown"] = "json",  # noqa: A002 - the query parameter's name
    ) -> dict[str, Any] | PlainTextResponse:
        try:
            report = await asyncio.to_thread(build_report, db, since, until)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        if format == "markdown":
            return PlainTextResponse(
                report_render.report_markdown(report), media_type="text/markdown; charset=utf-8"
            )
        return report_render.report_dict(report)

    return app
