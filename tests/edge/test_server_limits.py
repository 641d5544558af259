"""The HTTP server's own limits, as docs/api.md ("Limits") states them, measured on the web process as the Procfile
starts it (granian).

Up to granian's limits every answer is Django's, in the error shape; past them granian answers with an empty body
before Django sees the request. These pin the documented figures to the real ones.
"""

import socket

import pytest

from tests.processes import clean_env, free_port, start_procfile_web, stop, wait_for_http

pytestmark = pytest.mark.slow

HEAD = b"Host: 127.0.0.1\r\nConnection: close\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("limits")
    port = free_port()
    web = start_procfile_web(port, clean_env(DJANGO_DEBUG="1", VAR_DIR=str(folder)), folder / "web.log", workers=1)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/v1/account", process=web, timeout=90)
        yield port
    finally:
        stop(web)


def exchange(port: int, request: bytes) -> tuple[int, str, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    content_type = next(
        (line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("content-type")), ""
    )
    return int(lines[0].split()[1]), content_type, body


def request_line_of(length: int) -> bytes:
    fixed = len("GET /api/v1/ HTTP/1.1")
    return b"GET /api/v1/" + b"a" * (length - fixed) + b" HTTP/1.1\r\n"


@pytest.mark.parametrize("length", [4094, 8190, 65_536])  # a path of up to 65 534 bytes
def test_a_long_request_line_is_answered_in_the_error_shape(server, length):
    status, content_type, body = exchange(server, request_line_of(length) + HEAD + b"\r\n")
    assert (status, content_type) == (404, "application/json")
    assert b'"resource_missing"' in body


def test_a_longer_path_is_granians_414_and_a_request_line_past_its_buffer_its_431(server):
    assert exchange(server, request_line_of(70_000) + HEAD + b"\r\n")[:2] == (414, "")
    assert exchange(server, request_line_of(600_000) + HEAD + b"\r\n")[:2] == (431, "")


def test_100_header_fields_pass_and_101_are_granians_431(server):
    def with_extra(count: int) -> bytes:
        extra = b"".join(b"X-%d: a\r\n" % index for index in range(count))
        return b"GET /api/v1/account HTTP/1.1\r\n" + HEAD + extra + b"\r\n"

    assert exchange(server, with_extra(98))[:2] == (401, "application/json")  # 100 with Host and Connection
    assert exchange(server, with_extra(99))[:2] == (431, "")


def test_a_header_line_of_100_000_bytes_passes_and_a_head_past_granians_buffer_is_its_431(server):
    def with_line(length: int) -> bytes:  # the header line with its CRLF
        return b"GET /api/v1/account HTTP/1.1\r\n" + HEAD + b"X-A: " + b"a" * (length - 7) + b"\r\n\r\n"

    assert exchange(server, with_line(100_000))[:2] == (401, "application/json")
    assert exchange(server, with_line(600_000))[:2] == (431, "")


@pytest.mark.parametrize("value", [b"a\x00b", b"a\x01b"])
def test_a_control_byte_in_a_header_is_granians_400(server, value):
    request = b"GET /api/v1/account HTTP/1.1\r\n" + HEAD + b"X-Foo: " + value + b"\r\n\r\n"
    assert exchange(server, request)[:2] == (400, "")


def test_a_header_value_with_other_bytes_never_reaches_django(server):
    request = b"GET /api/v1/account HTTP/1.1\r\n" + HEAD + b"Authorization: Bearer sk_test_\xff\r\n\r\n"
    status, content_type, body = exchange(server, request)
    assert (status, content_type) == (401, "application/json")
    assert b'"api_key_missing"' in body  # granian drops the header (gunicorn passed it: api_key_invalid)
