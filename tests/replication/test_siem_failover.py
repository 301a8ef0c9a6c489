"""SIEM forwarding across a failover (issue 31, item 1): the primary forwards MSPOrg's
audit trail to a real rsyslog over TLS while writers run; it is killed (-9) mid-stream;
the promoted secondary resumes from the replicated cursor. The receiver's check finds
every event from the first to the last, none altered: events sent twice only by their
sequence number."""

from __future__ import annotations

import signal
import time

import pytest

from server.core import siem_stream
from tests.conftest import FAILED
from tests.replication.harness import Writers, call, eventually, make_pair
from tests.targets.rsyslog import Rsyslog

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def pair(request):
    pair = make_pair()
    yield pair
    if request.node.stash.get(FAILED, False):
        print(pair.log_tails())
    pair.close()


def _state(node, token: str) -> dict:
    status, page = call(f"{node.url}/api/v1/orgs/MSPOrg/siem-destinations", token=token)
    assert status == 200, page
    return page["items"][0]


def test_forwarding_resumes_on_the_promoted_secondary(pair):
    if not Rsyslog.available():
        pytest.skip("rsyslog with rsyslog-gnutls is not installed")
    p, s = pair.primary, pair.secondary
    with Rsyslog.started() as receiver:
        status, dest = call(
            f"{p.url}/api/v1/orgs/MSPOrg/siem-destinations",
            "POST",
            {
                "name": "siem-ha",
                "host": "127.0.0.1",
                "port": receiver.tls_port,
                "ca_pem": receiver.ca_pem,
            },
            token=pair.api_key,
        )
        assert status == 201, dest
        writers = Writers(pair).start(per_node=1)
        eventually(lambda: _state(p, pair.api_key)["sent_seq"] > 10, 30, "forwarding")
        time.sleep(1)
        term = p.health()["term"]
        p.signal_all(signal.SIGKILL)
        s.wait(lambda h: h["role"] == "primary" and not h["read_only"], 30, "promoted")
        assert s.health()["term"] > term
        time.sleep(3)  # more events on the new primary
        writers.stop()
        assert writers.acks

        def caught_up() -> dict | None:
            state = _state(s, pair.api_key)
            _, chain = call(f"{s.url}/api/v1/orgs/MSPOrg/audit/verify", token=pair.api_key)
            done = chain.get("pending") == 0 and state["lag"] == 0
            return state if done and state["sent_seq"] == chain["events"] else None

        state = eventually(caught_up, 60, "the new primary forwarded everything")
        key = bytes.fromhex(dest["verify_key"])
        (report,) = siem_stream.verify_stream(receiver.lines(), key=key)
        assert report.ok, report.lines()
        assert (report.first, report.last) == (1, state["sent_seq"])
        assert report.events == state["sent_seq"] and report.unchecked_macs == 0
