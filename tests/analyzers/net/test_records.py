"""Records as case rows: list fields are stored as the JSON text Python's json module writes."""

from __future__ import annotations

import json

from cybertriage.analyzers.net.records import DnsRecord, HttpRecord, _Layout

HOSTILE = ["10.0.0.1", 'say "hi"', "back\\slash", "tab\there", "nul\x00bell\x07", "line\nbreak", "ünïcödé ✓",
           "\u2028separator", "\ud800lone surrogate", "", "\x7f"]


def test_list_fields_are_the_json_modules_text() -> None:
    """Strings with quotes, backslashes, control characters, non-ASCII and a lone surrogate; integers; lists of
    lists (HTTP headers): each list field reads back as json.dumps(value, ensure_ascii=False) wrote it."""
    dns = DnsRecord("2024-01-01T00:00:00.000000Z", "10.0.0.2", 5353, "10.0.0.53", 53, "udp", 7, "example.org", "TXT", 1,
                    answers=HOSTILE, ttls=[60, 0, 86400], authority=[], additional=["ns1 A 10.0.0.9"])
    http = HttpRecord.__new__(HttpRecord)
    for name in _Layout.of(HttpRecord).names:
        setattr(http, name, None)
    http.request_headers = [["Host", "example.org"], ["X-Odd", 'quote " and \\ and \x01']]
    http.response_headers = []
    for record in (dns, http):
        layout = _Layout.of(record.__class__)
        row = dict(zip(layout.names, record.row_values()))
        for name in layout.lists:
            value = getattr(record, name)
            assert row[name] == json.dumps(value, ensure_ascii=False), name
            assert json.loads(row[name]) == value
