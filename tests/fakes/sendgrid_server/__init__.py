"""A loopback fake of SendGrid's v3 Mail Send API, plus a signer for Event Webhook posts.

The real ``sendgrid`` SDK talks to it over HTTP; nothing in the SDK is patched::

    with FakeSendGrid() as fake:
        client = SendGridAPIClient(api_key="SG.test", host=fake.host_url)
        client.send(mail)
        assert fake.messages[0].to == "ada@example.com"

Run standalone for benchmarks (serves until killed, keeps no bodies)::

    python -m tests.fakes.sendgrid_server --port 8025 --latency 0.05

The server itself is stdlib only; ``WebhookSigner`` uses ``cryptography``, which is what the
installed SDK's ``EventWebhook`` verifies with (sendgrid >= 6.12 dropped ``starkbank-ecdsa``).
"""

from tests.fakes.sendgrid_server.events import WebhookSigner, event, webhook_body
from tests.fakes.sendgrid_server.records import SentMessage
from tests.fakes.sendgrid_server.server import FakeSendGrid, main

__all__ = ["FakeSendGrid", "SentMessage", "WebhookSigner", "event", "main", "webhook_body"]
