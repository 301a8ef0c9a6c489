"""The e-mail sender against aiosmtpd (issue 31): implicit TLS and STARTTLS with AUTH
deliver; a server certificate from an untrusted CA is refused and said."""

from __future__ import annotations

import datetime

import pytest

from server.services.notifications import DeliveryFailed, _send_mail
from tests.targets.certs import ca, pem
from tests.targets.mail_hooks import SmtpReceiver

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:aiosmtpd"),
    # Implicit TLS: aiosmtpd warns that AUTH does not wait for STARTTLS (all is TLS here).
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

ITEM = {
    "recipient": "someone@example.test",
    "subject": "[Strongroom] MSPOrg: a request waits for you",
    "body": "nreq asks for a check-out.\n",
    "kind": "request_waiting",
    "created_at": datetime.datetime.now(datetime.UTC),
}


def _relay(smtp: SmtpReceiver, security: str, **extra) -> dict:
    return {
        "host": "127.0.0.1",
        "port": smtp.port,
        "security": security,
        "username": "relay",
        "password": "Relay-Pass-1!",
        "sender": "strongroom@example.test",
        "ca_pem": smtp.ca_pem,
    } | extra


@pytest.mark.parametrize("implicit", [True, False])
def test_tls_auth_delivers_and_refusals_are_said(implicit):
    security = "tls" if implicit else "starttls"
    with SmtpReceiver.started("relay", "Relay-Pass-1!", implicit=implicit) as smtp:
        _send_mail(_relay(smtp, security), ITEM)
        (message,) = smtp.messages
        assert message["Subject"] == ITEM["subject"]
        assert message["X-Strongroom-Kind"] == "request_waiting"
        untrusted = pem(ca("Nobody's CA")[0])
        with pytest.raises(DeliveryFailed, match="not trusted"):
            _send_mail(_relay(smtp, security, ca_pem=untrusted), ITEM)
        assert len(smtp.messages) == 1
