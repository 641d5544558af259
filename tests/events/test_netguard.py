"""Webhook URLs must be http(s) and, unless allowed, resolve only to public addresses: at creation and at delivery.

The resolver is stubbed: no test sends traffic anywhere but 127.0.0.1.
"""

import pytest

from events import netguard, services
from events.models import WebhookDelivery
from tests.events.conftest import record
from tests.payments.helpers import error_of, post

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"


@pytest.fixture
def dns(monkeypatch, settings):
    """A stub resolver (host → addresses); private URLs are not allowed while it is in use."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    table: dict[str, list[str]] = {}
    asked: list[str] = []

    def resolve(host, port):
        asked.append(host)
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    monkeypatch.setattr(netguard, "resolve_host", resolve)
    table["asked"] = asked
    return table


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "::",
        "ff02::1",
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not netguard.is_public_address(address)


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_accepted(address):
    assert netguard.is_public_address(address)


@pytest.mark.parametrize(
    ("addresses", "allowed"),
    [
        ([PUBLIC], True),
        (["10.0.0.5"], False),
        ([PUBLIC, "127.0.0.1"], False),
        (["::1"], False),
        (["169.254.169.254"], False),
    ],
)
def test_every_resolved_address_must_be_public(api_client, dns, addresses, allowed):
    dns["hooks.example.test"] = addresses
    response = post(api_client, "/api/v1/webhook_endpoints", {"url": "https://hooks.example.test/in"})
    if allowed:
        assert response.status_code == 201, response.content
    else:
        assert response.status_code == 400
        assert (error_of(response)["code"], error_of(response)["param"]) == ("url_invalid", "url")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://[::1]/hooks",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest",
        "http://unresolvable.example.test/",
        "http://localhost/",
    ],
)
def test_private_or_unresolvable_urls_are_refused_at_creation(api_client, dns, url):
    dns["localhost"] = ["127.0.0.1", "::1"]
    response = post(api_client, "/api/v1/webhook_endpoints", {"url": url})
    assert response.status_code == 400 and error_of(response)["code"] == "url_invalid"


def test_a_refused_url_does_not_use_up_the_idempotency_key(api_client, dns):
    dns["hooks.example.test"] = ["10.0.0.5"]
    body = {"url": "https://hooks.example.test/in"}
    assert post(api_client, "/api/v1/webhook_endpoints", body, key="k1").status_code == 400
    dns["hooks.example.test"] = [PUBLIC]
    assert post(api_client, "/api/v1/webhook_endpoints", body, key="k1").status_code == 201


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "example.com/hooks",
        "https://",
        "javascript:alert(1)",
        "https://user:pw@example.com/",
        "http://exa mple.com/",
        "https://example.com:99999/",
        "",
        "x" * 3000,
    ],
)
def test_only_absolute_http_urls(api_client, url):
    response = post(api_client, "/api/v1/webhook_endpoints", {"url": url})
    assert response.status_code == 400 and error_of(response)["code"] == "url_invalid"


def test_private_urls_are_accepted_when_the_platform_allows_them(api_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    response = post(api_client, "/api/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/hooks"})
    assert response.status_code == 201


def test_the_address_is_checked_again_at_delivery_time(merchant, dns, receiver):
    dns["hooks.example.test"] = [PUBLIC]
    services.webhook_endpoint_create(merchant=merchant, url="https://hooks.example.test/in")
    record(merchant)
    services.outbox_drain()
    delivery = WebhookDelivery.objects.get()

    dns["hooks.example.test"] = ["10.0.0.7"]  # DNS changed since the endpoint was created
    services.deliveries_send(delivery_ids=[delivery.pk])
    delivery.refresh_from_db()
    attempt = delivery.attempts.get()
    assert attempt.status_code is None and attempt.error.startswith("not sent") and "private" in attempt.error
    assert delivery.status == "pending" and delivery.retry_step == 1  # retried later, DNS may change back
    assert dns["asked"].count("hooks.example.test") == 2  # at creation, and again at delivery


# --- IPv6 forms that embed an IPv4 address (issue 12, item 5) ---------------------------------------------------

# Each reaches the IPv4 address it carries through a tunnel or a translator (or names it outright), so it is
# refused when that address is: loopback 127.0.0.1, the metadata service 169.254.169.254, private 10.0.0.1.
EMBEDDED_PRIVATE = {
    "6to4 of loopback": "2002:7f00:1::",
    "6to4 of the metadata address": "2002:a9fe:a9fe::",
    "6to4 of a private address, any interface id": "2002:a00:1:1:2:3:4:5",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-mapped metadata address": "::ffff:a9fe:a9fe",
    "IPv4-compatible loopback": "::127.0.0.1",
    "IPv4-compatible metadata address": "::a9fe:a9fe",
    "NAT64 of the metadata address": "64:ff9b::a9fe:a9fe",
    "NAT64 of loopback": "64:ff9b::127.0.0.1",
    "NAT64 of a private address": "64:ff9b::a00:1",
    "local-use NAT64 prefix": "64:ff9b:1::a9fe:a9fe",
    "local-use NAT64 prefix, /48 layout": "64:ff9b:1:a9fe:a9:fe00::",
    # Teredo: the server's IPv4 in bits 32-63, the client's XOR-ed with ones in the last 32 bits.
    "Teredo, obfuscated loopback client": "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "Teredo, obfuscated metadata client": "2001:0:4136:e378:8000:63bf:5601:5601",
    "Teredo, metadata server": "2001:0:a9fe:a9fe:8000:63bf:f7f7:f7f7",
    "IPv4-translated loopback": "::ffff:0:7f00:1",
    "IPv4-translated metadata address": "::ffff:0:a9fe:a9fe",
}
EMBEDDED_PUBLIC = {
    "6to4 of 8.8.8.8": "2002:808:808::1",
    "IPv4-mapped 8.8.8.8": "::ffff:8.8.8.8",
    "NAT64 of 8.8.8.8 (what DNS64 answers on an IPv6-only network)": "64:ff9b::808:808",
}


@pytest.mark.parametrize("address", EMBEDDED_PRIVATE.values(), ids=EMBEDDED_PRIVATE.keys())
def test_ipv6_forms_embedding_a_private_ipv4_are_refused(address):
    assert not netguard.is_public_address(address)


@pytest.mark.parametrize("address", EMBEDDED_PUBLIC.values(), ids=EMBEDDED_PUBLIC.keys())
def test_ipv6_forms_embedding_a_public_ipv4_stay_allowed(address):
    assert netguard.is_public_address(address)


def test_embedded_ipv4_is_found_in_every_form():
    found = {
        name: [str(ip) for ip in netguard.embedded_ipv4(netguard.ipaddress.ip_address(address))]
        for name, address in EMBEDDED_PRIVATE.items()
    }
    assert found["6to4 of loopback"] == ["127.0.0.1"]
    assert found["IPv4-compatible metadata address"] == ["169.254.169.254"]
    assert found["NAT64 of the metadata address"] == ["169.254.169.254"]
    assert set(found["Teredo, obfuscated loopback client"]) == {"65.54.227.120", "127.0.0.1"}
    assert set(found["Teredo, metadata server"]) == {"169.254.169.254", "8.8.8.8"}
    assert found["IPv4-translated loopback"] == ["127.0.0.1"]


@pytest.mark.parametrize(
    "url",
    [
        "http://[2002:7f00:1::]/",
        "http://[2002:a9fe:a9fe::]/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::127.0.0.1]:8000/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "http://[::ffff:0:7f00:1]/",
        "https://[64:ff9b:1::a9fe:a9fe]/",
    ],
)
def test_embedded_private_ipv4_urls_are_refused_at_registration(api_client, dns, url):
    response = post(api_client, "/api/v1/webhook_endpoints", {"url": url})
    assert response.status_code == 400, response.content
    assert (error_of(response)["code"], error_of(response)["param"]) == ("url_invalid", "url")


@pytest.mark.parametrize("address", ["2002:a9fe:a9fe::", "64:ff9b::7f00:1", "::ffff:0:a9fe:a9fe"])
def test_a_host_resolving_to_an_embedded_private_ipv4_is_refused(api_client, dns, address):
    dns["hooks.example.test"] = [address]
    response = post(api_client, "/api/v1/webhook_endpoints", {"url": "https://hooks.example.test/in"})
    assert response.status_code == 400 and error_of(response)["code"] == "url_invalid"


def test_an_embedded_public_ipv4_url_is_accepted(api_client, dns):
    response = post(api_client, "/api/v1/webhook_endpoints", {"url": "http://[2002:808:808::1]/hooks"})
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("address", ["2002:7f00:1::", "64:ff9b::a9fe:a9fe", "2001:0:4136:e378:8000:63bf:80ff:fffe"])
def test_embedded_private_ipv4_is_refused_at_delivery(merchant, dns, receiver, address):
    dns["hooks.example.test"] = [PUBLIC]
    services.webhook_endpoint_create(merchant=merchant, url="https://hooks.example.test/in")
    record(merchant)
    services.outbox_drain()
    delivery = WebhookDelivery.objects.get()

    dns["hooks.example.test"] = [PUBLIC, address]  # DNS now also answers a tunnel to a private address
    services.deliveries_send(delivery_ids=[delivery.pk])
    attempt = delivery.attempts.get()
    assert attempt.status_code is None and attempt.error.startswith("not sent") and "private" in attempt.error
