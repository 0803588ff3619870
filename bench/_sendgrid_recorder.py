"""The fake SendGrid (tests/fakes/sendgrid_server/) as a process, plus one endpoint the delivery benchmark
needs to count duplicates and misses: the ledger ids (custom_args.delivery_id) of the accepted messages.

    python bench/_sendgrid_recorder.py --port 0 --latency 0.05
    GET /__fake/stats                      {"requests", "accepted", "messages", "max_in_flight"}
    GET /__bench/delivery-ids?since=N      {"ids": [...], "total": M}  (ids of messages N..M, in order)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes._http import Reply, serve_until_terminated
from tests.fakes.sendgrid_server import FakeSendGrid

IDS_PATH = "/__bench/delivery-ids"


class RecordingFakeSendGrid(FakeSendGrid):
    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        parts = urlsplit(path)
        if parts.path != IDS_PATH:
            return super().handle(method, path, headers, raw)
        since = int(parse_qs(parts.query).get("since", ["0"])[0])
        messages = self.messages
        ids = [message.custom_args.get("delivery_id", "") for message in messages[since:]]
        return Reply(200, {"ids": ids, "total": len(messages)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    serve_until_terminated(RecordingFakeSendGrid(port=args.port, latency=args.latency, keep_bodies=False))


if __name__ == "__main__":
    main()
