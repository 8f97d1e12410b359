"""A real SMTP server for the tests (``aiosmtpd``), in a thread: it keeps every message it receives."""

import socket
from email import message_from_bytes
from email.header import decode_header, make_header

from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Keep:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self):
        self.handler = _Keep()
        self.port = _free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.controller.stop()

    def mails(self) -> list[dict]:
        out = []
        for envelope in self.handler.messages:
            parsed = message_from_bytes(envelope.content)
            subject = str(make_header(decode_header(parsed["Subject"])))
            out.append(
                {"to": list(envelope.rcpt_tos), "subject": subject, "body": parsed.get_payload(decode=True)}
            )
        return out

    def subjects(self) -> list[str]:
        return [m["subject"] for m in self.mails()]
