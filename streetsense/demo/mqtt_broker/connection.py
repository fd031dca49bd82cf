"""One client's live connection, as the router and the server see it."""

from __future__ import annotations

import asyncio

from streetsense.demo.mqtt_broker.codec import encode
from streetsense.demo.mqtt_broker.packets import MQTT_5, Connect, Packet
from streetsense.demo.mqtt_broker.wire import Prop


class Connection:
    """One client's TCP connection after a successful CONNECT."""

    def __init__(self, writer: asyncio.StreamWriter, connect: Connect) -> None:
        props = connect.properties
        self.writer = writer
        self.protocol_level = connect.protocol_level
        self.receive_maximum = props.get_int(Prop.RECEIVE_MAXIMUM) or 0xFFFF
        self.max_packet_size = props.get_int(Prop.MAXIMUM_PACKET_SIZE)
        self.will = connect.will
        self.client_id = connect.client_id
        self.clean_exit = False

    @property
    def v5(self) -> bool:
        """Whether the client speaks MQTT 5.0."""
        return self.protocol_level == MQTT_5

    def send(self, packet: Packet) -> None:
        """Encode and write one packet (buffered by the transport)."""
        if not self.writer.is_closing():
            self.writer.write(encode(packet, self.protocol_level))
