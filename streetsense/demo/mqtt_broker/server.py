"""The embedded broker: the asyncio TCP listener, connection lifecycle and inbound packets."""

from __future__ import annotations

import asyncio
import logging
import uuid

from streetsense.demo.mqtt_broker import metrics, reasons
from streetsense.demo.mqtt_broker.codec import decode, decode_frame, encode
from streetsense.demo.mqtt_broker.connection import Connection
from streetsense.demo.mqtt_broker.errors import BrokerStartError, MalformedPacketError
from streetsense.demo.mqtt_broker.packets import (
    MQTT_5,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Puback,
    Publish,
    Suback,
    Subscribe,
    Unsuback,
    Unsubscribe,
    Will,
)
from streetsense.demo.mqtt_broker.router import Router
from streetsense.demo.mqtt_broker.session import (
    NEVER_EXPIRES,
    Delivery,
    Message,
    Session,
    Subscription,
)
from streetsense.demo.mqtt_broker.topics import matches, parse_filter, valid_topic_name
from streetsense.demo.mqtt_broker.wire import Prop, Properties

logger = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 2.0
_NOT_FORWARDED = (Prop.TOPIC_ALIAS, Prop.SUBSCRIPTION_IDENTIFIER)


class EmbeddedBroker:
    """A small MQTT 3.1.1/5.0 broker for the demo and tests (QoS 0 and 1, no TLS, no auth).

    ``await start()`` listens (port 0 picks a free one) and returns the port;
    ``await stop()`` closes every connection. All state lives in memory.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_queued: int = 100_000,
        max_packet_size: int = 16 * 1024 * 1024,
        connect_timeout_s: float = 10.0,
        max_write_buffer: int = 8 * 1024 * 1024,
        max_inflight: int = 100,
    ) -> None:
        self._host, self._port = host, port
        self._max_queued = max_queued
        self._max_packet_size = max_packet_size
        self._connect_timeout_s = connect_timeout_s
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.router = Router(max_write_buffer=max_write_buffer, max_inflight=max_inflight)

    @property
    def sessions(self) -> dict[str, Session]:
        """Sessions by client id (connected or not)."""
        return self.router.sessions

    @property
    def retained(self) -> dict[str, Message]:
        """Retained messages by topic."""
        return self.router.retained

    @property
    def port(self) -> int:
        """The port listened on (after ``start``)."""
        return self._port

    async def start(self) -> int:
        """Listen on host:port; returns the port."""
        try:
            self._server = await asyncio.start_server(self._accept, self._host, self._port)
        except OSError as exc:
            raise BrokerStartError(f"cannot listen on {self._host}:{self._port}: {exc}") from exc
        self._port = self._server.sockets[0].getsockname()[1]
        logger.info("embedded MQTT broker listening on %s:%s", self._host, self._port)
        return self._port

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
        # Connections accepted just before close() register their handler a few loop
        # iterations later: sweep until none is left (bounded).
        for _ in range(20):
            await asyncio.sleep(0.005)
            if not self._tasks:
                break
            for writer in list(self._writers):
                writer.transport.abort()  # close() would wait to flush to clients that do not read
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the aborted transports' connection_lost callbacks run
        for session in self.router.sessions.values():
            if session.expiry_timer is not None:
                session.expiry_timer.cancel()

    # -- connection lifecycle ------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception:
            logger.exception("embedded MQTT broker: connection handler failed")
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), _CLOSE_TIMEOUT_S)
            except TimeoutError:
                writer.transport.abort()  # a client that stopped reading
            except (ConnectionError, OSError):
                pass
            finally:
                self._writers.discard(writer)
                self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = bytearray()
        try:
            first = await asyncio.wait_for(
                self._read_packet(reader, buffer, None), self._connect_timeout_s
            )
        except MalformedPacketError as exc:
            self._reject(exc)
            if exc.reason_code == reasons.UNSUPPORTED_PROTOCOL_VERSION:
                writer.write(encode(Connack(False, reasons.V3_UNACCEPTABLE_PROTOCOL_VERSION), 4))
            return
        if first is None:
            return
        if not isinstance(first, Connect):
            metrics.REJECTED.labels("protocol_error").inc()
            return
        session = self._connect(writer, first)
        if session is None or session.connection is None:
            return
        conn = session.connection
        try:
            await self._packets(reader, buffer, conn, session, first.keepalive)
        except MalformedPacketError as exc:
            self._reject(exc)
            if conn.v5:
                conn.send(Disconnect(exc.reason_code))
        finally:
            self._closed(conn, session)

    async def _read_packet(
        self, reader: asyncio.StreamReader, buffer: bytearray, protocol_level: int | None
    ) -> Packet | None:
        """The next packet, or None at end of stream."""
        while (frame := decode_frame(bytes(buffer), self._max_packet_size)) is None:
            chunk = await reader.read(65536)
            if not chunk:
                return None
            buffer += chunk
        del buffer[: frame.size]
        if protocol_level is None and frame.header >> 4 != 1:
            raise MalformedPacketError("the first packet must be CONNECT", reasons.PROTOCOL_ERROR)
        return decode(frame.header, frame.body, protocol_level or MQTT_5)

    def _reject(self, exc: MalformedPacketError) -> None:
        metrics.REJECTED.labels(metrics.reject_reason(exc.reason_code)).inc()
        logger.warning("embedded MQTT broker refused a packet: %s", exc)

    def _connect(self, writer: asyncio.StreamWriter, connect: Connect) -> Session | None:
        """Answer a CONNECT; the client's session (now connected) unless refused."""
        conn = Connection(writer, connect)
        props = connect.properties
        refusal = self._refusal(connect)
        if refusal is not None:
            metrics.REJECTED.labels("connect_refused").inc()
            conn.send(Connack(False, refusal))
            return None
        client_id = connect.client_id or f"auto-{uuid.uuid4().hex}"
        conn.client_id = client_id
        if conn.v5:
            expiry = props.get_int(Prop.SESSION_EXPIRY_INTERVAL) or 0
        else:
            expiry = 0 if connect.clean_start else NEVER_EXPIRES
        session = self.router.sessions.get(client_id)
        if session is not None and session.connection is not None:
            self._take_over(session)
        if session is not None and session.expiry_timer is not None:
            session.expiry_timer.cancel()
            session.expiry_timer = None
        present = session is not None and not connect.clean_start
        if session is None or connect.clean_start:
            session = Session(client_id, self._max_queued)
            self.router.sessions[client_id] = session
        session.expiry_s = expiry
        session.connection = conn
        acked: list[tuple[int, int | str | bytes | tuple[str, str]]] = [
            (Prop.MAXIMUM_QOS, 1),
            (Prop.RETAIN_AVAILABLE, 1),
            (Prop.MAXIMUM_PACKET_SIZE, self._max_packet_size),
            (Prop.WILDCARD_SUBSCRIPTION_AVAILABLE, 1),
            (Prop.SUBSCRIPTION_IDENTIFIER_AVAILABLE, 0),
            (Prop.SHARED_SUBSCRIPTION_AVAILABLE, 1),
        ]
        if not connect.client_id:
            acked.append((Prop.ASSIGNED_CLIENT_IDENTIFIER, client_id))
        conn.send(Connack(present, reasons.SUCCESS, Properties(tuple(acked))))
        logger.debug("client %s connected (MQTT level %s)", client_id, conn.protocol_level)
        for packet_id, delivery in session.inflight.items():
            self.router.write_publish(conn, session, delivery, packet_id, dup=True)
        self.router.pump(session)
        self.router.rebalance()
        return session

    def _refusal(self, connect: Connect) -> int | None:
        """The CONNACK code refusing this CONNECT, or None to accept it."""
        props = connect.properties
        v5 = connect.protocol_level == MQTT_5
        if not connect.client_id and not connect.clean_start and not v5:
            return reasons.V3_IDENTIFIER_REJECTED
        if v5 and props.has(Prop.AUTHENTICATION_METHOD):
            return reasons.BAD_AUTHENTICATION_METHOD
        if v5 and (
            props.get_int(Prop.RECEIVE_MAXIMUM) == 0 or props.get_int(Prop.MAXIMUM_PACKET_SIZE) == 0
        ):
            return reasons.PROTOCOL_ERROR
        if v5 and connect.will is not None and connect.will.qos == 2:
            return reasons.QOS_NOT_SUPPORTED
        if connect.will is not None and not valid_topic_name(connect.will.topic):
            # MQTT 3.1.1 has no CONNACK code for this: 0x02 is the nearest refusal.
            return reasons.TOPIC_NAME_INVALID if v5 else reasons.V3_IDENTIFIER_REJECTED
        return None

    def _take_over(self, session: Session) -> None:
        old = session.connection
        assert old is not None
        if old.v5:
            old.send(Disconnect(reasons.SESSION_TAKEN_OVER))
        old.writer.close()
        session.connection = None

    def _closed(self, conn: Connection, session: Session) -> None:
        """After a connection ends: the will, then the session goes offline or away."""
        if not conn.clean_exit and conn.will is not None:
            self._publish_will(conn.will, conn.client_id)
        if session.connection is not conn:
            return  # taken over by a newer connection
        session.connection = None
        logger.debug("client %s disconnected", session.client_id)
        if session.expiry_s == 0:
            self.router.discard(session)
        elif session.expiry_s != NEVER_EXPIRES:
            loop = asyncio.get_running_loop()
            session.expiry_timer = loop.call_later(session.expiry_s, self.router.discard, session)
        self.router.rebalance()

    def _publish_will(self, will: Will, client_id: str) -> None:
        props = will.properties.without(Prop.WILL_DELAY_INTERVAL)
        self.router.publish(
            Message(will.topic, will.payload, min(will.qos, 1), will.retain, props), client_id
        )

    # -- inbound packets -----------------------------------------------------

    async def _packets(
        self,
        reader: asyncio.StreamReader,
        buffer: bytearray,
        conn: Connection,
        session: Session,
        keepalive: int,
    ) -> None:
        timeout = keepalive * 1.5 if keepalive else None  # spec 3.1.2.10
        while True:
            try:
                packet = await asyncio.wait_for(
                    self._read_packet(reader, buffer, conn.protocol_level), timeout
                )
            except TimeoutError:
                metrics.REJECTED.labels("keepalive_timeout").inc()
                if conn.v5:
                    conn.send(Disconnect(reasons.KEEP_ALIVE_TIMEOUT))
                return
            if packet is None or session.connection is not conn:
                return
            if not self._handle(packet, conn, session):
                return

    def _handle(self, packet: Packet, conn: Connection, session: Session) -> bool:
        """Act on one packet; False ends the connection."""
        match packet:
            case Publish():
                self._inbound_publish(packet, conn, session)
            case Puback():
                session.inflight.pop(packet.packet_id, None)
                self.router.pump(session)
            case Subscribe():
                self._subscribe(packet, conn, session)
            case Unsubscribe():
                codes = []
                for text in packet.topic_filters:
                    existed = session.subscriptions.pop(text, None) is not None
                    codes.append(reasons.SUCCESS if existed else reasons.NO_SUBSCRIPTION_EXISTED)
                conn.send(Unsuback(packet.packet_id, tuple(codes)))
            case Pingreq():
                conn.send(Pingresp())
            case Disconnect():
                conn.clean_exit = packet.reason_code != reasons.DISCONNECT_WITH_WILL
                expiry = packet.properties.get_int(Prop.SESSION_EXPIRY_INTERVAL)
                if expiry is not None and session.expiry_s:
                    session.expiry_s = expiry
                return False
            case _:
                raise MalformedPacketError(
                    f"unexpected {type(packet).__name__} from a client", reasons.PROTOCOL_ERROR
                )
        return True

    def _inbound_publish(self, packet: Publish, conn: Connection, session: Session) -> None:
        if packet.qos == 2:
            raise MalformedPacketError(
                "QoS 2 is not supported by the embedded broker", reasons.QOS_NOT_SUPPORTED
            )
        if packet.properties.has(Prop.TOPIC_ALIAS):
            raise MalformedPacketError(
                "topic aliases are not supported", reasons.TOPIC_ALIAS_INVALID
            )
        if not valid_topic_name(packet.topic):
            raise MalformedPacketError(
                f"invalid topic name {packet.topic!r}", reasons.TOPIC_NAME_INVALID
            )
        props = packet.properties.without(*_NOT_FORWARDED)
        message = Message(packet.topic, packet.payload, packet.qos, packet.retain, props)
        delivered = self.router.publish(message, session.client_id)
        if packet.qos == 1 and packet.packet_id is not None:
            code = reasons.SUCCESS if delivered else reasons.NO_MATCHING_SUBSCRIBERS
            conn.send(Puback(packet.packet_id, code))

    def _subscribe(self, packet: Subscribe, conn: Connection, session: Session) -> None:
        if packet.properties.has(Prop.SUBSCRIPTION_IDENTIFIER):
            raise MalformedPacketError(
                "subscription identifiers are not supported",
                reasons.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
            )
        codes: list[int] = []
        retained: list[Delivery] = []
        for request in packet.requests:
            topic_filter = parse_filter(request.topic_filter)
            if topic_filter is None:
                codes.append(reasons.TOPIC_FILTER_INVALID if conn.v5 else reasons.V3_SUBACK_FAILURE)
                continue
            if topic_filter.group is not None and request.no_local:
                raise MalformedPacketError(
                    "no local on a shared subscription", reasons.PROTOCOL_ERROR
                )
            qos = min(request.qos, 1)
            existed = request.topic_filter in session.subscriptions
            session.subscriptions[request.topic_filter] = Subscription(
                topic_filter, qos, request.no_local, request.retain_as_published
            )
            codes.append(qos)
            wanted = request.retain_handling == 0 or (request.retain_handling == 1 and not existed)
            if topic_filter.group is None and wanted:
                retained += [
                    Delivery(message, min(qos, message.qos), retain=True)
                    for topic, message in self.router.retained.items()
                    if matches(topic_filter.pattern, topic)
                ]
        conn.send(Suback(packet.packet_id, tuple(codes)))
        for delivery in retained:
            self.router.dispatch(session, delivery)
        self.router.rebalance()
