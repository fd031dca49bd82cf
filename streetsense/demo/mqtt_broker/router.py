"""Message routing: retained messages, subscriber matching, shared subscriptions, flow control."""

from __future__ import annotations

from collections import defaultdict

from streetsense.demo.mqtt_broker import metrics
from streetsense.demo.mqtt_broker.codec import encode
from streetsense.demo.mqtt_broker.connection import Connection
from streetsense.demo.mqtt_broker.packets import Publish
from streetsense.demo.mqtt_broker.session import Delivery, Message, Session, Subscription
from streetsense.demo.mqtt_broker.topics import matches
from streetsense.demo.mqtt_broker.wire import NO_PROPERTIES


class Router:
    """Owns the sessions and retained messages; decides who gets each message, and when."""

    def __init__(self, *, max_write_buffer: int, max_inflight: int) -> None:
        self.sessions: dict[str, Session] = {}
        self.retained: dict[str, Message] = {}
        self._round_robin: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._max_write_buffer = max_write_buffer
        self._max_inflight = max_inflight

    def discard(self, session: Session) -> None:
        """Forget an offline session; its shared-subscription messages go to other members."""
        if self.sessions.get(session.client_id) is session and session.connection is None:
            del self.sessions[session.client_id]
            for delivery in session.take_shared():
                if not self.deliver_shared(delivery):
                    metrics.DROPPED.labels("no_subscriber").inc()

    def publish(self, message: Message, sender: str) -> bool:
        """Retain and route one message; whether any subscriber matched."""
        if message.retain:
            if message.payload:
                self.retained[message.topic] = message
            else:
                self.retained.pop(message.topic, None)
        direct: dict[str, tuple[Session, Delivery]] = {}
        shared: set[tuple[str, str]] = set()
        for session in self.sessions.values():
            for sub in session.subscriptions.values():
                if not matches(sub.topic_filter.pattern, message.topic):
                    continue
                if sub.topic_filter.group is not None:
                    shared.add((sub.topic_filter.group, sub.topic_filter.pattern))
                elif not (sub.no_local and session.client_id == sender):
                    qos = min(sub.qos, message.qos)
                    known = direct.get(session.client_id)
                    if known is None or known[1].qos < qos:
                        delivery = Delivery(
                            message, qos, message.retain and sub.retain_as_published
                        )
                        direct[session.client_id] = (session, delivery)
        for session, delivery in direct.values():
            self.dispatch(session, delivery)
        for key in shared:
            self.deliver_shared(Delivery(message, message.qos, retain=False, share=key))
        return bool(direct or shared)

    def members(self, key: tuple[str, str]) -> list[tuple[Session, Subscription]]:
        """The (session, subscription) pairs of one shared subscription, in a stable order."""
        group, pattern = key
        return [
            (session, sub)
            for session in self.sessions.values()
            for sub in session.subscriptions.values()
            if sub.topic_filter.group == group and sub.topic_filter.pattern == pattern
        ]

    def deliver_shared(self, delivery: Delivery, exclude: Session | None = None) -> bool:
        """Give a shared-subscription message to one member, round-robin; False if none can take it."""
        assert delivery.share is not None
        members = [m for m in self.members(delivery.share) if m[0] is not exclude]
        online = [m for m in members if m[0].connection is not None]
        candidates = online or [m for m in members if m[0].expiry_s and delivery.qos]
        if not candidates:
            return False
        turn = self._round_robin[delivery.share]
        self._round_robin[delivery.share] = turn + 1
        session, sub = candidates[turn % len(candidates)]
        qos = min(sub.qos, delivery.message.qos)
        self.dispatch(session, Delivery(delivery.message, qos, delivery.retain, delivery.share))
        return True

    def rebalance(self) -> None:
        """Move shared-subscription messages held by offline members to online members."""
        for session in list(self.sessions.values()):
            if session.connection is not None or not session.shares():
                continue
            online = {
                key for key in session.shares() if any(m[0].connection for m in self.members(key))
            }
            if not online:
                continue
            for delivery in session.take_shared():
                if delivery.share not in online or not self.deliver_shared(delivery, session):
                    session.enqueue(delivery)

    def dispatch(self, session: Session, delivery: Delivery) -> None:
        """Send now, queue (offline or flow-controlled QoS 1) or drop (offline QoS 0)."""
        conn = session.connection
        if conn is None:
            if delivery.qos:
                session.enqueue(delivery)
        elif delivery.qos == 0:
            self.write_publish(conn, session, delivery, None)
        elif session.queue or len(session.inflight) >= min(
            conn.receive_maximum, self._max_inflight
        ):
            session.enqueue(delivery)
        else:
            self.write_publish(conn, session, delivery, session.next_packet_id())

    def pump(self, session: Session) -> None:
        """Send queued QoS 1 deliveries while the client's receive maximum allows."""
        conn = session.connection
        while (
            conn is not None
            and session.queue
            and len(session.inflight) < min(conn.receive_maximum, self._max_inflight)
        ):
            delivery = session.queue.popleft()
            self.write_publish(conn, session, delivery, session.next_packet_id())

    def write_publish(
        self,
        conn: Connection,
        session: Session,
        delivery: Delivery,
        packet_id: int | None,
        *,
        dup: bool = False,
    ) -> None:
        """Write one PUBLISH (QoS 1: recorded in flight until PUBACK)."""
        message = delivery.message
        props = message.properties if conn.v5 else NO_PROPERTIES
        packet = Publish(
            message.topic, message.payload, delivery.qos, delivery.retain, dup, packet_id, props
        )
        data = encode(packet, conn.protocol_level)
        if conn.max_packet_size is not None and len(data) > conn.max_packet_size:
            metrics.DROPPED.labels("too_large_for_client").inc()
            session.inflight.pop(packet_id or 0, None)
            return
        if (
            delivery.qos == 0
            and conn.writer.transport.get_write_buffer_size() > self._max_write_buffer
        ):
            metrics.DROPPED.labels("slow_consumer").inc()
            return
        if packet_id is not None:
            session.inflight[packet_id] = delivery
        if not conn.writer.is_closing():
            conn.writer.write(data)
