"""A minimal blocking AMQP client over a plain socket, for asserting exact frames and codes.

Real client libraries hide the frames; these tests need to see them (reply codes, class and
method ids, which channel) and to send what no library would.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from pamqp import commands, frame, header, heartbeat
from pamqp import body as pamqp_body

from amqpd.protocol.frames import PROTOCOL_HEADER


class RawClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    @classmethod
    def connect(cls, port: int, channel: int = 1, **handshake: Any) -> "RawClient":
        """A client to the broker on `port`, handshaken (with these arguments) and with `channel` open."""
        client = cls(port)
        client.handshake(**handshake)
        client.open_channel(channel)
        return client

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, channel: int, value: Any) -> None:
        self.sock.sendall(frame.marshal(value, channel))

    def publish(self, channel: int, exchange: str, routing_key: str, body: bytes,
                properties: commands.Basic.Properties | None = None, **flags: bool) -> None:
        data = frame.marshal(commands.Basic.Publish(exchange=exchange, routing_key=routing_key, **flags), channel)
        data += frame.marshal(header.ContentHeader(0, len(body), properties or commands.Basic.Properties()), channel)
        if body:
            data += frame.marshal(pamqp_body.ContentBody(body), channel)
        self.sock.sendall(data)

    def recv_frame(self) -> tuple[int, Any]:
        """(channel, frame) of the next frame; raises EOFError when the socket closes first."""
        while True:
            if len(self.buffer) >= 7:
                size = struct.unpack_from(">I", self.buffer, 3)[0]
                if len(self.buffer) >= size + 8:
                    consumed, channel, value = frame.unmarshal(self.buffer[: size + 8])
                    self.buffer = self.buffer[consumed:]
                    return channel, value
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("socket closed")
            self.buffer += data

    def expect(self, kind: type, channel: int | None = None) -> Any:
        """The next non-heartbeat frame, asserted to be of this pamqp type (and channel)."""
        while True:
            ch, value = self.recv_frame()
            if isinstance(value, heartbeat.Heartbeat):
                continue
            assert isinstance(value, kind), f"expected {kind.__name__}, got {value!r} on channel {ch}"
            if channel is not None:
                assert ch == channel, f"expected channel {channel}, got {ch}"
            return value

    def read_until_closed(self) -> bytes:
        """Everything left until the server closes the socket."""
        chunks = [self.buffer]
        self.buffer = b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)

    def handshake(self, user: str = "guest", password: str = "guest", vhost: str = "/",
                  frame_max: int = 131072, heartbeat_: int = 0, capabilities: dict | None = None) -> commands.Connection.Tune:
        self.send_bytes(PROTOCOL_HEADER)
        self.expect(commands.Connection.Start, 0)
        caps = {"authentication_failure_close": True, "consumer_cancel_notify": True,
                "connection.blocked": True, "basic.nack": True, "publisher_confirms": True}
        if capabilities is not None:
            caps = capabilities
        self.send(0, commands.Connection.StartOk(
            client_properties={"product": "raw-test", "capabilities": caps},
            mechanism="PLAIN", response=f"\0{user}\0{password}", locale="en_US"))
        tune = self.expect(commands.Connection.Tune, 0)
        self.send(0, commands.Connection.TuneOk(channel_max=tune.channel_max, frame_max=frame_max, heartbeat=heartbeat_))
        self.send(0, commands.Connection.Open(virtual_host=vhost))
        self.expect(commands.Connection.OpenOk, 0)
        return tune

    def open_channel(self, channel: int = 1) -> None:
        self.send(channel, commands.Channel.Open())
        self.expect(commands.Channel.OpenOk, channel)

    def expect_channel_close(self, channel: int) -> commands.Channel.Close:
        close = self.expect(commands.Channel.Close, channel)
        self.send(channel, commands.Channel.CloseOk())
        return close

    def expect_connection_close(self) -> commands.Connection.Close:
        close = self.expect(commands.Connection.Close, 0)
        self.send(0, commands.Connection.CloseOk())
        return close
