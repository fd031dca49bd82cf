"""The real ONVIF client (onvif-zeep-async) against our event service over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiohttp import web
from lxml import etree
from onvif import ONVIFCamera
from zeep.exceptions import Fault

from broker.outputs.base import Outcome
from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.output import OnvifEventsOutput
from events import Phase, Severity
from tests.broker.protocols.onvif_support import (
    PASSWORD,
    USER,
    counter,
    envelope,
    make_event,
    rejected,
    running_output,
    security_header,
)
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.timeout(120)
PULLPOINT_NS = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"


@asynccontextmanager
async def camera(output: OnvifEventsOutput, password: str = PASSWORD) -> AsyncIterator[ONVIFCamera]:
    """The real client pointed at our service, closed afterwards."""
    client = ONVIFCamera("127.0.0.1", output.port, USER, password, adjust_time=True)
    try:
        yield client
    finally:
        await client.close()


def items(holder: Any) -> dict[str, str]:
    return {item.Name: item.Value for item in holder.SimpleItem}


def subcodes(fault: Fault) -> str:
    return " ".join(str(code) for code in (fault.subcodes or []))


async def pull_all(service: Any, want: int, timeout_s: float = 5.0) -> list[Any]:
    """Pull until ``want`` messages arrived (each pull long-polls)."""
    messages: list[Any] = []
    for _ in range(want + 3):
        result = await service.PullMessages(
            {"MessageLimit": 100, "Timeout": dt.timedelta(seconds=timeout_s)}
        )
        messages.extend(result.NotificationMessage)
        if len(messages) >= want:
            break
    return messages


async def test_client_discovers_device_and_event_service() -> None:
    async with (
        running_output("onvif-discover", hostname="streetsense-test") as output,
        camera(output) as client,
    ):
        await client.update_xaddrs()
        base = f"http://127.0.0.1:{output.port}"
        assert client.xaddrs[ns.TDS] == f"{base}/onvif/device_service"
        assert client.xaddrs[ns.TEV] == f"{base}/onvif/event_service"
        capabilities = await client.get_capabilities()
        assert capabilities is not None
        assert capabilities["Events"]["XAddr"] == f"{base}/onvif/event_service"
        assert capabilities["Events"]["WSPullPointSupport"] is True
        device = await client.create_devicemgmt_service()
        clock = await device.authless_GetSystemDateAndTime()
        utc = clock.UTCDateTime
        served = dt.datetime(
            utc.Date.Year,
            utc.Date.Month,
            utc.Date.Day,
            utc.Time.Hour,
            utc.Time.Minute,
            utc.Time.Second,
            tzinfo=dt.UTC,
        )
        assert abs((served - dt.datetime.now(dt.UTC)).total_seconds()) < 60
        info = await device.GetDeviceInformation()
        assert info.Manufacturer == "StreetSense"
        hostname = await device.authless_GetHostname()
        assert hostname.Name == "streetsense-test" and hostname.FromDHCP is False
        scopes = [scope.ScopeItem for scope in await device.GetScopes()]
        assert "onvif://www.onvif.org/type/event" in scopes
        assert "onvif://www.onvif.org/name/StreetSense%20Broker%20Adapter" in scopes
        events = await client.create_events_service()
        service_capabilities = await events.GetServiceCapabilities()
        assert service_capabilities.WSPullPointSupport is True
        assert service_capabilities.MaxPullPoints == 32


async def test_event_properties_describe_our_topics() -> None:
    async with running_output("onvif-props") as output, camera(output) as client:
        await client.update_xaddrs()
        events = await client.create_events_service()
        properties = await events.GetEventProperties()
        assert ns.DIALECT_CONCRETE_SET in properties.TopicExpressionDialect
        [rule_engine] = properties.TopicSet._value_1
        assert etree.QName(rule_engine).text == f"{{{ns.TNS1}}}RuleEngine"
        fight = rule_engine.find("StreetSense/Fight")
        assert fight is not None and rule_engine.find("StreetSense/Fall") is not None
        assert fight.get(f"{{{ns.WSTOP}}}topic") == "true"
        description = fight.find(f"{{{ns.TT}}}MessageDescription")
        assert description is not None and description.get("IsProperty") == "true"
        names = {
            part: [
                e.get("Name")
                for e in description.iterfind(f"{{{ns.TT}}}{part}/{{{ns.TT}}}SimpleItemDescription")
            ]
            for part in ("Source", "Data")
        }
        assert names["Source"] == ["VideoSourceToken", "Rule"]
        assert {"Category", "Confidence", "Severity", "IncidentId", "State"} <= set(names["Data"])


async def test_pull_point_receives_incident_phases_then_renews_and_unsubscribes() -> None:
    async with running_output("onvif-lifecycle") as output, camera(output) as client:
        await client.update_xaddrs()
        lost: list[int] = []
        manager = await client.create_pullpoint_manager(
            dt.timedelta(seconds=60), lambda: lost.append(1)
        )
        address = client.xaddrs[PULLPOINT_NS]
        assert address.startswith(f"http://127.0.0.1:{output.port}/onvif/subscription/")
        service = manager.get_service()
        start = make_event(Phase.START, confidence=0.87)
        update = make_event(Phase.UPDATE, incident_id=start.incident_id, confidence=0.93)
        end = make_event(Phase.END, incident_id=start.incident_id, confidence=0.5)
        for event in (start, update, end):
            assert (await output.deliver(event)).outcome is Outcome.DELIVERED
        redelivered = await output.deliver(update)  # the core retried after a crash, say
        assert redelivered.outcome is Outcome.DELIVERED and "already" in redelivered.detail
        gauge = {"output": "onvif-lifecycle"}
        assert counter("streetsense_adapter_onvif_subscriptions", gauge) == 1
        messages = await pull_all(service, 3)
        pulled = {"output": "onvif-lifecycle", "direction": "out", "kind": "notification_pulled"}
        assert counter("streetsense_adapter_protocol_messages_total", pulled) == 3
        assert [m.Message._value_1.PropertyOperation for m in messages] == [
            "Initialized",
            "Changed",
            "Deleted",
        ]
        first = messages[0]
        assert first.Topic._value_1 == "tns1:RuleEngine/StreetSense/Fight"
        assert first.SubscriptionReference.Address._value_1 == address
        assert items(first.Message._value_1.Source) == {
            "VideoSourceToken": "cam-north",
            "Rule": "fight",
        }
        data = items(first.Message._value_1.Data)
        assert data["Category"] == "fight"
        assert float(data["Confidence"]) == pytest.approx(0.87)
        assert data["Severity"] == "high"
        assert data["IncidentId"] == start.incident_id
        assert data["EventId"] == start.event_id
        assert data["State"] == "true"
        assert items(messages[2].Message._value_1.Data)["State"] == "false"
        assert first.Message._value_1.UtcTime == start.occurred_at

        renewed = await manager._subscription.Renew("PT600S")
        assert (renewed.TerminationTime - renewed.CurrentTime).total_seconds() == pytest.approx(
            600, abs=2
        )

        await manager.shutdown()
        assert output.manager.active == 0
        assert counter("streetsense_adapter_onvif_subscriptions", gauge) == 0
        with pytest.raises(Fault) as caught:
            await service.PullMessages({"MessageLimit": 1, "Timeout": dt.timedelta(seconds=1)})
        assert "ResourceUnknownFault" in subcodes(caught.value)
        assert not lost


async def test_long_poll_returns_when_an_event_arrives() -> None:
    async with running_output("onvif-longpoll") as output, camera(output) as client:
        await client.update_xaddrs()
        manager = await client.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
        service = manager.get_service()
        pending = asyncio.create_task(
            service.PullMessages({"MessageLimit": 10, "Timeout": dt.timedelta(seconds=60)})
        )
        await asyncio.sleep(0.2)  # let the request reach the server and wait
        event = make_event(category="fall")
        assert (await output.deliver(event)).outcome is Outcome.DELIVERED
        result = await asyncio.wait_for(pending, 30)
        assert [m.Topic._value_1 for m in result.NotificationMessage] == [
            "tns1:RuleEngine/StreetSense/Fall"
        ]
        await manager.shutdown()


async def test_synchronization_point_and_new_subscriptions_get_open_incidents() -> None:
    async with running_output("onvif-sync") as output, camera(output) as client:
        await client.update_xaddrs()
        manager = await client.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
        service = manager.get_service()
        open_incident = make_event(Phase.START)
        closed_start = make_event(Phase.START, category="fall")
        closed_end = make_event(Phase.END, incident_id=closed_start.incident_id, category="fall")
        for event in (open_incident, closed_start, closed_end):
            await output.deliver(event)
        assert len(await pull_all(service, 3)) == 3

        await service.SetSynchronizationPoint()
        result = await service.PullMessages(
            {"MessageLimit": 10, "Timeout": dt.timedelta(seconds=5)}
        )
        [resent] = result.NotificationMessage
        assert resent.Message._value_1.PropertyOperation == "Initialized"
        assert items(resent.Message._value_1.Data)["IncidentId"] == open_incident.incident_id

        events = await client.create_events_service()
        created = await events.CreatePullPointSubscription({"InitialTerminationTime": "PT60S"})
        assert created.SubscriptionReference.Address._value_1 != client.xaddrs[PULLPOINT_NS]
        assert output.manager.active == 2
        await manager.shutdown()


async def test_wrong_password_is_a_fault_in_the_client() -> None:
    async with (
        running_output("onvif-wrongpw") as output,
        camera(output, password="wrong") as client,
    ):
        before = rejected("bad_credentials")
        with pytest.raises(Fault) as caught:
            await client.update_xaddrs()
        assert "NotAuthorized" in subcodes(caught.value)
        assert rejected("bad_credentials") >= before + 1


async def test_missing_token_is_http_400_not_authorized() -> None:
    async with running_output("onvif-notoken") as output:
        url = f"http://127.0.0.1:{output.port}/onvif/event_service"
        body = envelope("<tev:CreatePullPointSubscription/>")
        before = rejected("missing_credentials")
        async with httpx.AsyncClient() as http:
            response = await http.post(
                url, content=body, headers={"Content-Type": "application/soap+xml"}
            )
            assert response.status_code == 400
            fault = etree.fromstring(response.content)
            value = fault.find(f".//{{{ns.SOAP_ENV}}}Subcode/{{{ns.SOAP_ENV}}}Value")
            assert value is not None and value.text is not None
            prefix, _, local = value.text.partition(":")
            assert (value.nsmap[prefix], local) == (ns.TER, "NotAuthorized")
            assert rejected("missing_credentials") == before + 1
            assert output.manager.active == 0

            header = security_header()
            accepted = await http.post(
                url, content=envelope("<tev:CreatePullPointSubscription/>", header)
            )
            assert accepted.status_code == 200
            replayed = await http.post(
                url, content=envelope("<tev:CreatePullPointSubscription/>", header)
            )
            assert replayed.status_code == 400
            stale = security_header(created=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30))
            old = await http.post(
                url, content=envelope("<tev:CreatePullPointSubscription/>", stale)
            )
            assert old.status_code == 400
            assert output.manager.active == 1


async def test_expired_subscription_is_removed_and_faults() -> None:
    async with (
        running_output("onvif-expiry", min_termination_s=1.0) as output,
        camera(output) as client,
    ):
        await client.update_xaddrs()
        events = await client.create_events_service()
        created = await events.CreatePullPointSubscription({"InitialTerminationTime": "PT1S"})
        client.xaddrs[PULLPOINT_NS] = created.SubscriptionReference.Address._value_1
        service = await client.create_pullpoint_service()
        assert output.manager.active == 1
        for _ in range(100):
            if output.manager.active == 0:
                break
            await asyncio.sleep(0.1)
        assert output.manager.active == 0
        with pytest.raises(Fault) as caught:
            await service.PullMessages({"MessageLimit": 1, "Timeout": dt.timedelta(seconds=0)})
        assert "ResourceUnknownFault" in subcodes(caught.value)
        manager_service = await client.create_subscription_service("PullPointSubscription")
        with pytest.raises(Fault) as renew_fault:
            await manager_service.Renew("PT60S")
        assert "ResourceUnknownFault" in subcodes(renew_fault.value)


async def test_topic_and_item_filters_select_messages() -> None:
    async with running_output("onvif-filter") as output:
        url = f"http://127.0.0.1:{output.port}/onvif/event_service"
        body = (
            f'<tev:CreatePullPointSubscription xmlns:tt="{ns.TT}"><tev:Filter>'
            f'<wsnt:TopicExpression Dialect="{ns.DIALECT_CONCRETE_SET}">'
            "tns1:RuleEngine/StreetSense/Fall</wsnt:TopicExpression>"
            f'<wsnt:MessageContent Dialect="{ns.DIALECT_ITEM_FILTER}">'
            'boolean(//tt:SimpleItem[@Name="Severity" and @Value="high"])</wsnt:MessageContent>'
            "</tev:Filter><tev:InitialTerminationTime>PT60S</tev:InitialTerminationTime>"
            "</tev:CreatePullPointSubscription>"
        )
        async with httpx.AsyncClient() as http:
            response = await http.post(url, content=envelope(body, security_header()))
        assert response.status_code == 200
        address = etree.fromstring(response.content).findtext(f".//{{{ns.WSA}}}Address")
        assert address is not None
        fight, fall = make_event(category="fight"), make_event(category="fall")
        quiet_fall = make_event(category="fall", severity=Severity.LOW)
        assert (await output.deliver(fight)).detail.startswith("no subscriber")
        assert (await output.deliver(quiet_fall)).detail.startswith("no subscriber")
        assert (await output.deliver(fall)).outcome is Outcome.DELIVERED
        async with camera(output) as client:
            await client.update_xaddrs()
            client.xaddrs[PULLPOINT_NS] = address
            service = await client.create_pullpoint_service()
            result = await service.PullMessages(
                {"MessageLimit": 10, "Timeout": dt.timedelta(seconds=2)}
            )
        assert [items(m.Message._value_1.Data)["EventId"] for m in result.NotificationMessage] == [
            fall.event_id
        ]


async def test_queue_is_bounded_and_drops_are_counted() -> None:
    async with running_output("onvif-bounded", queue_size=3) as output, camera(output) as client:
        await client.update_xaddrs()
        manager = await client.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
        service = manager.get_service()
        labels = {"output": "onvif-bounded", "reason": "queue_full"}
        before = counter("streetsense_adapter_onvif_dropped_total", labels)
        sent = [make_event(Phase.START) for _ in range(5)]
        for event in sent:
            await output.deliver(event)
        result = await service.PullMessages(
            {"MessageLimit": 100, "Timeout": dt.timedelta(seconds=2)}
        )
        got = [items(m.Message._value_1.Data)["EventId"] for m in result.NotificationMessage]
        assert got == [event.event_id for event in sent[2:]]
        assert counter("streetsense_adapter_onvif_dropped_total", labels) == before + 2
        await manager.shutdown()


async def test_pull_limits_above_maximum_are_a_fault() -> None:
    async with (
        running_output("onvif-limits", max_message_limit=50) as output,
        camera(output) as client,
    ):
        await client.update_xaddrs()
        manager = await client.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
        with pytest.raises(Fault) as caught:
            await manager.get_service().PullMessages(
                {"MessageLimit": 500, "Timeout": dt.timedelta(seconds=1)}
            )
        assert caught.value.detail is not None
        assert b"MaxMessageLimit>50<" in etree.tostring(caught.value.detail)
        await manager.shutdown()


async def test_without_subscriber_delivery_waits_in_the_durable_queue() -> None:
    async with running_output("onvif-nosub") as output, camera(output) as client:
        result = await output.deliver(make_event())
        assert result.outcome is Outcome.RETRY
        assert not output.health().connected
        await client.update_xaddrs()
        manager = await client.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
        assert output.health().connected
        assert (await output.deliver(make_event())).outcome is Outcome.DELIVERED
        await manager.shutdown()
    assert (await output.deliver(make_event())).outcome is Outcome.RETRY


async def test_repeated_failed_logins_lock_the_address_out_for_a_while() -> None:
    async with running_output("onvif-throttle", auth_max_failures=3, auth_lockout_s=1.0) as output:
        url = f"http://127.0.0.1:{output.port}/onvif/event_service"
        body = "<tev:GetEventProperties/>"
        before = rejected("throttled")
        async with httpx.AsyncClient() as http:
            for _ in range(3):
                wrong = await http.post(
                    url, content=envelope(body, security_header(password="guess"))
                )
                assert wrong.status_code == 400
            locked = await http.post(url, content=envelope(body, security_header()))
            assert locked.status_code == 400
            assert b"NotAuthorized" in locked.content
            assert rejected("throttled") == before + 1
            discovery = await http.post(url, content=envelope("<tds:GetServices/>"))
            assert discovery.status_code == 200
            for _ in range(100):
                accepted = await http.post(url, content=envelope(body, security_header()))
                if accepted.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert accepted.status_code == 200


async def test_push_subscription_notifies_the_consumer_and_retries_when_it_fails() -> None:
    bodies: list[bytes] = []
    refusals = [503]  # the consumer refuses the first Notify

    async def consumer(request: web.Request) -> web.Response:
        body = await request.read()
        if refusals:
            return web.Response(status=refusals.pop())
        bodies.append(body)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/streetsense/notify", consumer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    failed = {"output": "onvif-push", "direction": "out", "kind": "notify_failed"}
    before = counter("streetsense_adapter_protocol_messages_total", failed)
    try:
        async with running_output("onvif-push") as output, camera(output) as client:
            await client.update_xaddrs()
            manager = await client.create_notification_manager(
                f"http://127.0.0.1:{port}/streetsense/notify",
                dt.timedelta(seconds=60),
                lambda: None,
            )
            start = make_event(Phase.START)
            end = make_event(Phase.END, incident_id=start.incident_id)
            assert (await output.deliver(start)).outcome is Outcome.DELIVERED
            assert (await output.deliver(end)).outcome is Outcome.DELIVERED
            for _ in range(300):
                messages = [m for body in bodies for m in manager.process(body).NotificationMessage]
                if len(messages) >= 2:
                    break
                await asyncio.sleep(0.05)
            assert [items(m.Message._value_1.Data)["EventId"] for m in messages] == [
                start.event_id,
                end.event_id,
            ]
            assert messages[0].Topic._value_1 == "tns1:RuleEngine/StreetSense/Fight"
            assert counter("streetsense_adapter_protocol_messages_total", failed) == before + 1
            with pytest.raises(Fault):
                await manager._service.PullMessages(
                    {"MessageLimit": 1, "Timeout": dt.timedelta(seconds=0)}
                )
            renewed = await manager._subscription.Renew("PT120S")
            assert (renewed.TerminationTime - renewed.CurrentTime).total_seconds() == pytest.approx(
                120, abs=2
            )
            await manager.shutdown()
            assert output.manager.active == 0
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("allow_push", "consumer", "status", "marker"),
    [
        (True, "file:///etc/passwd", 400, b"InvalidArgVal"),
        (True, "http://127.0.0.1:9/x", 200, b"SubscribeResponse"),
        (False, "http://127.0.0.1:9/x", 500, b"ActionNotSupported"),
    ],
)
async def test_subscribe_checks_the_consumer_and_can_be_disabled(
    allow_push: bool, consumer: str, status: int, marker: bytes
) -> None:
    async with running_output("onvif-subscribe", allow_push=allow_push) as output:
        url = f"http://127.0.0.1:{output.port}/onvif/event_service"
        body = (
            f'<wsnt:Subscribe xmlns:wsa="{ns.WSA}"><wsnt:ConsumerReference>'
            f"<wsa:Address>{consumer}</wsa:Address></wsnt:ConsumerReference></wsnt:Subscribe>"
        )
        async with httpx.AsyncClient() as http:
            response = await http.post(url, content=envelope(body, security_header()))
        assert response.status_code == status
        assert marker in response.content
        assert output.manager.active == (1 if status == 200 else 0)
