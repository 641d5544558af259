"""The HTTP server's own limits, as docs/api.md ("Limits") states them, measured on gunicorn itself.

Up to gunicorn's limits every answer is Django's, in the error shape; past them gunicorn answers with
its own HTML page before Django sees the request. These pin the documented figures to the real ones.
"""

import socket

import pytest

from tests.processes import clean_env, free_port, start_gunicorn, stop, wait_for_http

pytestmark = pytest.mark.slow

HEAD = b"Host: 127.0.0.1\r\nConnection: close\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("limits")
    port = free_port()
    web = start_gunicorn(port, clean_env(DJANGO_DEBUG="1", VAR_DIR=str(folder)), folder / "web.log", workers=1)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/v1/account", process=web)
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


def test_a_request_line_of_4094_bytes_is_answered_in_the_error_shape(server):
    status, content_type, body = exchange(server, request_line_of(4094) + HEAD + b"\r\n")
    assert (status, content_type) == (404, "application/json")
    assert b'"resource_missing"' in body


def test_a_longer_request_line_is_gunicorns_414(server):
    status, content_type, _body = exchange(server, request_line_of(4095) + HEAD + b"\r\n")
    assert (status, content_type) == (414, "text/html")


def test_100_header_fields_pass_and_101_are_gunicorns_431(server):
    def with_extra(count: int) -> bytes:
        extra = b"".join(b"X-%d: a\r\n" % index for index in range(count))
        return b"GET /api/v1/account HTTP/1.1\r\n" + HEAD + extra + b"\r\n"

    assert exchange(server, with_extra(98))[:2] == (401, "application/json")  # 100 with Host and Connection
    assert exchange(server, with_extra(99))[:2] == (431, "text/html")


def test_a_header_line_of_8190_bytes_passes_and_a_longer_one_is_gunicorns_431(server):
    def with_line(length: int) -> bytes:  # the header line with its CRLF
        return b"GET /api/v1/account HTTP/1.1\r\n" + HEAD + b"X-A: " + b"a" * (length - 7) + b"\r\n\r\n"

    assert exchange(server, with_line(8190))[:2] == (401, "application/json")
    assert exchange(server, with_line(8191))[:2] == (431, "text/html")


@pytest.mark.parametrize("value", [b"a\x00b", b"a\x01b"])
def test_a_control_byte_in_a_header_is_gunicorns_400(server, value):
    request = b"GET /api/v1/account HTTP/1.1\r\n" + HEAD + b"X-Foo: " + value + b"\r\n\r\n"
    assert exchange(server, request)[:2] == (400, "text/html")


def test_other_bytes_in_a_header_reach_django_and_get_the_error_shape(server):
    request = b"GET /api/v1/account HTTP/1.1\r\n" + HEAD + b"Authorization: Bearer sk_test_\xff\r\n\r\n"
    status, content_type, body = exchange(server, request)
    assert (status, content_type) == (401, "application/json")
    assert b'"api_key_invalid"' in body
