"""HTTP/1.x over reassembled TCP: requests and responses, pipelining, chunked transfer coding,
gzip/deflate content coding, bodies hashed and kept up to a cap.

This is a small incremental parser rather than `dpkt.http`: dpkt's Request/Response need the
whole message in one buffer and cannot stop a body at a size cap, nor resume after a
capture gap. A body is hashed as decoded (de-chunked, then decompressed), which is what
`tshark --export-objects http` writes and what Zeek's files.log hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections import deque
from urllib.parse import parse_qsl, unquote

from .app import Analysis, Connection, TcpProtocol, Verdict
from .records import CredentialRecord, ExtractedObject, HttpRecord, iso_us

METHODS = frozenset(
    b"GET POST HEAD PUT DELETE OPTIONS CONNECT TRACE PATCH PROPFIND PROPPATCH MKCOL COPY MOVE LOCK UNLOCK "
    b"SEARCH REPORT MKACTIVITY CHECKOUT MERGE NOTIFY SUBSCRIBE UNSUBSCRIBE M-SEARCH BPROPFIND BDELETE "
    b"POLL RPC_IN_DATA RPC_OUT_DATA".split())
MAX_HEADER = 64 * 1024
MAX_WAITING = 64  # requests held for their responses; past this the oldest is reported without one
MAX_CHUNK_LINE = 1024
MAX_FORM = 64 * 1024  # a login form is small; larger url-encoded bodies are not searched for one
MAX_CREDENTIAL = 1024
# Form field names (lower case, the last [bracketed] part, '_' '-' '.' removed) that hold a user name
# or a password. Explicit lists, so a finding can say why a field was taken for one.
USER_FIELDS = frozenset(("user", "username", "usr", "uname", "userid", "login", "loginname", "loginid", "log",
                         "email", "emailaddress", "mail", "account", "accountname", "jusername", "usernameoremail",
                         "authuser"))
PASSWORD_FIELDS = frozenset(("pass", "password", "passwd", "pwd", "pw", "passwort", "passcode", "jpassword",
                             "userpassword", "loginpassword", "secret", "pword", "upass", "pin"))

HEAD, BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS, UNTIL_CLOSE, DEAD, TUNNEL = range(9)


def looks_like_request(head: bytes) -> bool:
    """Whether a client stream starts like an HTTP request ('GET /x HTTP/1.1')."""
    method, sep, _ = head[:16].partition(b" ")
    return bool(sep) and method in METHODS


def looks_like_response(head: bytes) -> bool:
    return head.startswith(b"HTTP/1.") or head.startswith(b"HTTP/0.9")


class _Body:
    """One message body: hashed as decoded, kept up to `keep` bytes, decoded up to `limit`."""

    __slots__ = ("hash", "size", "wire", "data", "keep", "limit", "truncated", "complete", "decoder", "broken",
                 "encoding", "raw_deflate_tried")

    def __init__(self, encoding: str | None, keep: int, limit: int) -> None:
        self.hash = hashlib.sha256()
        self.size = 0
        self.wire = 0
        self.data = bytearray()
        self.keep = keep
        self.limit = limit
        self.truncated = False
        self.complete = True
        self.broken = False
        self.encoding = encoding
        self.raw_deflate_tried = False
        self.decoder = None
        if encoding in ("gzip", "x-gzip"):
            self.decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.decoder = zlib.decompressobj(zlib.MAX_WBITS)

    def feed(self, chunk: bytes) -> None:
        self.wire += len(chunk)
        if self.broken or not chunk:
            return
        if self.decoder is not None:
            try:
                room = self.limit - self.size
                out = self.decoder.decompress(chunk, room + 1)
                while self.decoder.eof and self.decoder.unused_data and self.encoding != "deflate":
                    rest = self.decoder.unused_data  # concatenated gzip members
                    self.decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    out += self.decoder.decompress(rest, room + 1 - len(out))
            except zlib.error:
                if self.encoding == "deflate" and not self.raw_deflate_tried and self.size == 0:
                    # "deflate" is often sent as a raw DEFLATE stream without the zlib wrapper.
                    self.raw_deflate_tried = True
                    self.decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                    self.wire -= len(chunk)
                    self.feed(chunk)
                    return
                self.broken = True
                self.complete = False
                return
            chunk = out
        if self.size + len(chunk) > self.limit:
            chunk = chunk[: self.limit - self.size]
            self.truncated = True
            self.broken = True
            self.complete = False
        self.size += len(chunk)
        self.hash.update(chunk)
        room = self.keep - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        if len(chunk) > room:
            self.truncated = True

    def lost(self) -> None:
        """Bytes of this body are missing from the capture: what was kept stays a true prefix
        (hashed as such); nothing after the hole is appended, so no content is shifted."""
        self.complete = False
        self.broken = True
        self.truncated = True

    def finish(self) -> None:
        if self.decoder is not None and not self.broken:
            try:
                tail = self.decoder.flush()
            except zlib.error:
                self.complete = False
                return
            if tail:
                self.decoder = None
                self.feed(tail)
                self.wire -= len(tail)


class _Tx:
    __slots__ = ("rec", "req_body", "resp_body", "req_done", "resp_done", "req_headers", "resp_headers", "ts_ns")

    def __init__(self, rec: HttpRecord, ts_ns: int) -> None:
        self.rec = rec
        self.req_body: _Body | None = None
        self.resp_body: _Body | None = None
        self.req_done = False
        self.resp_done = False
        self.req_headers: dict[str, str] = {}
        self.resp_headers: dict[str, str] = {}
        self.ts_ns = ts_ns


def _headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    last = None
    for line in lines:
        if not line:
            continue
        if line[0] in " \t" and last:  # obsolete line folding
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        last = name.strip().lower()
        value = value.strip()
        headers[last] = f"{headers[last]}, {value}" if last in headers else value
    return headers


def _as_written(lines: list[str]) -> list[list[str]]:
    """The header lines as [name, value] pairs, names spelled and ordered as sent (what an examiner reads)."""
    written: list[list[str]] = []
    for line in lines:
        if not line:
            continue
        if line[0] in " \t" and written:  # obsolete line folding
            written[-1][1] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep:
            written.append([name.strip(), value.strip()])
    return written


_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([^']*)'[^']*'([^;]+)", re.I)
_FILENAME = re.compile(r'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))', re.I)
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(name: str, fallback: str = "body") -> str:
    """A file name that is safe on the workstation: no separators, no leading dots, bounded."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip("._ ") or fallback
    return name[:120]


def object_name(uri: str | None, disposition: str | None) -> str:
    """Name of an extracted body: Content-Disposition's filename, else the URI's last segment."""
    if disposition:
        match = _FILENAME_STAR.search(disposition)
        if match:
            return safe_name(unquote(match.group(2).strip(), encoding=match.group(1) or "utf-8", errors="replace"))
        match = _FILENAME.search(disposition)
        if match:
            return safe_name((match.group(1) if match.group(1) is not None else match.group(2)).strip())
    if uri:
        path = uri.split("?", 1)[0].split("#", 1)[0]
        if "://" in path:
            path = path.split("://", 1)[1].partition("/")[2]
        segment = unquote(path.rstrip("/").rsplit("/", 1)[-1]) if path.strip("/") else ""
        return safe_name(segment, "index.html")
    return "body"


class _Side:
    """One direction's parser state."""

    __slots__ = ("h", "is_orig", "state", "buf", "remaining", "tx", "body")

    def __init__(self, handler: HttpHandler, is_orig: bool) -> None:
        self.h = handler
        self.is_orig = is_orig
        self.state = HEAD
        self.buf = b""
        self.remaining = 0
        self.tx: _Tx | None = None
        self.body: _Body | None = None

    def feed(self, data: bytes, ts_ns: int) -> None:
        if self.state >= DEAD:
            return
        if self.buf:
            data = self.buf + data
            self.buf = b""
        pos = 0
        n = len(data)
        more = True  # False: the rest waits for more bytes (or the side is dead)
        while more and pos < n:
            state = self.state
            if state == BODY or state == CHUNK_DATA:  # where most bytes go: kept inline
                take = min(self.remaining, n - pos)
                chunk = data[pos:pos + take] if pos or take < n else data
                self.body.feed(chunk)  # type: ignore[union-attr]  # a body state has its body (_start_body)
                pos += take
                self.remaining -= take
                if not self.remaining:
                    if state == BODY:
                        self._done(ts_ns)
                    else:
                        self.state = CHUNK_END
            elif state == UNTIL_CLOSE:
                self.body.feed(data[pos:] if pos else data)  # type: ignore[union-attr]  # a body state has its body
                pos = n
            elif state == HEAD:
                pos, more = self._message_head(data, pos, ts_ns)
            elif state == CHUNK_SIZE:
                pos, more = self._chunk_size(data, pos)
            elif state == CHUNK_END:
                pos = self._chunk_end(data, pos)
            elif state == TRAILERS:
                pos, more = self._trailer(data, pos, ts_ns)
            else:  # DEAD or TUNNEL
                return
        if pos < n and self.state not in (DEAD, TUNNEL):
            self.buf = data[pos:]

    # Each step below reads from `pos` and returns where reading goes on and whether it can go on now
    # (False: the bytes from there wait for the next segment, or the side died or became a tunnel).

    def _message_head(self, data: bytes, pos: int, ts_ns: int) -> tuple[int, bool]:
        """A request's or response's head, once its blank line is in."""
        n = len(data)
        while pos < n and data[pos] in b"\r\n":  # blank lines between messages
            pos += 1
        if pos >= n:
            return pos, False
        if not self.is_orig and self.h.next_is_http09() and not data.startswith(b"HTTP/", pos):
            self._http09_response(ts_ns)  # HTTP/0.9: no status line, the body runs to the close
            return pos, True
        end = data.find(b"\r\n\r\n", pos)
        sep = 4
        lf = data.find(b"\n\n", pos)
        if lf >= 0 and (end < 0 or lf < end):
            end, sep = lf, 2
        if end < 0:
            return self._head_unfinished(data, pos, ts_ns)
        block = data[pos:end].decode("latin-1")
        return end + sep, self._head(block, ts_ns)

    def _head_unfinished(self, data: bytes, pos: int, ts_ns: int) -> tuple[int, bool]:
        """No blank line yet: an HTTP/0.9 request line (which has none), or wait for more (up to 64 KiB)."""
        if self.is_orig:
            line_end = data.find(b"\n", pos)
            if line_end >= 0 and self._maybe_http09_request(data[pos:line_end], ts_ns):
                return line_end + 1, True
        if len(data) - pos > MAX_HEADER:
            self._dead("header block larger than 64 KiB")
        return pos, False

    def _chunk_size(self, data: bytes, pos: int) -> tuple[int, bool]:
        eol = data.find(b"\n", pos)
        if eol < 0:
            if len(data) - pos > MAX_CHUNK_LINE:
                self._dead("bad chunk size line")
            return pos, False
        line = data[pos:eol].split(b";", 1)[0].strip()
        pos = eol + 1
        if not line:
            return pos, True  # tolerate a stray blank line
        try:
            size = int(line, 16)
        except ValueError:
            self._dead("bad chunk size")
            return pos, False
        if size == 0:
            self.state = TRAILERS
        else:
            self.remaining = size
            self.state = CHUNK_DATA
        return pos, True

    def _chunk_end(self, data: bytes, pos: int) -> int:
        """The line end after a chunk's data (CR LF, a bare LF, or none)."""
        if data[pos] == 13:  # CR
            pos += 1
            if pos >= len(data):
                return pos  # the LF, if any, comes with the next segment
        if data[pos] == 10:
            pos += 1
        self.state = CHUNK_SIZE
        return pos

    def _trailer(self, data: bytes, pos: int, ts_ns: int) -> tuple[int, bool]:
        eol = data.find(b"\n", pos)
        if eol < 0:
            if len(data) - pos > MAX_HEADER:
                self._dead("trailer too long")
            return pos, False
        line = data[pos:eol].strip()
        if not line:
            self._done(ts_ns)
        return eol + 1, True

    # -------------------------------------------------------------- messages

    def _maybe_http09_request(self, line: bytes, ts_ns: int) -> bool:
        parts = line.strip().split()
        if len(parts) != 2 or parts[0] not in METHODS:
            return False
        self.h.request(parts[0].decode("latin-1"), parts[1].decode("latin-1"), "0.9", {}, ts_ns)
        self.h.request_done()
        return True

    def _http09_response(self, ts_ns: int) -> None:
        tx = self.h.response(None, None, "0.9", {}, ts_ns)
        self.tx = tx
        self.body = tx.resp_body = _Body(None, self.h.keep, self.h.limit)
        self.state = UNTIL_CLOSE

    def _head(self, block: str, ts_ns: int) -> bool:
        lines = block.replace("\r\n", "\n").split("\n")
        first = lines[0].strip()
        headers = _headers(lines[1:])
        if self.is_orig:
            parts = first.split(" ")
            if len(parts) < 2 or parts[0].encode("latin-1", "replace") not in METHODS:
                self._dead("not an HTTP request")
                return False
            version = parts[-1][5:] if len(parts) >= 3 and parts[-1].startswith("HTTP/") else "0.9"
            uri = " ".join(parts[1:-1]) if len(parts) >= 3 else parts[1]
            method = parts[0]
            tx = self.h.request(method, uri, version, headers, ts_ns)
            tx.rec.request_headers = _as_written(lines[1:])
            self.tx = tx
            encoding = headers.get("transfer-encoding", "").lower()
            length = headers.get("content-length")
            if "chunked" in encoding:
                self._start_body(tx, headers, CHUNK_SIZE)
            elif length is not None and (size := _length(length)):
                self._start_body(tx, headers, BODY)
                self.remaining = size
            else:
                self.h.request_done()
            if method == "CONNECT":
                self.state = TUNNEL if self.state == HEAD else self.state
            return True
        if not first.startswith("HTTP/"):
            self._dead("not an HTTP response")
            return False
        parts = first.split(" ", 2)
        version = parts[0][5:]
        try:
            status = int(parts[1]) if len(parts) > 1 else None
        except ValueError:
            status = None
        reason = parts[2] if len(parts) > 2 else None
        if status is not None and 100 <= status < 200 and status != 101:
            self.h.informational(status, reason)
            return True
        tx = self.h.response(status, reason, version, headers, ts_ns)
        tx.rec.response_headers = _as_written(lines[1:])
        self.tx = tx
        asked = tx.rec.method  # the request's method, which decides whether this response has a body
        if status == 101 or (asked == "CONNECT" and status is not None and 200 <= status < 300):
            self.h.response_done()
            self.h.tunnel()
            return False
        encoding = headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        if asked == "HEAD" or status in (204, 304):
            self.h.response_done()
        elif "chunked" in encoding:
            self._start_body(tx, headers, CHUNK_SIZE)
        elif length is not None and (size := _length(length)) is not None:
            if size:
                self._start_body(tx, headers, BODY)
                self.remaining = size
            else:
                self.h.response_done()
        else:
            self._start_body(tx, headers, UNTIL_CLOSE)
        return True

    def _start_body(self, tx: _Tx, headers: dict[str, str], state: int) -> None:
        coding = headers.get("content-encoding", "").strip().lower() or None
        body = _Body(coding, self.h.keep, self.h.limit)
        if self.is_orig:
            tx.req_body = body
        else:
            tx.resp_body = body
        self.body = body
        self.state = state

    def _done(self, ts_ns: int) -> None:
        self.state = HEAD
        if self.body is not None:
            self.body.finish()
        self.body = None
        if self.is_orig:
            self.h.request_done()
        else:
            self.h.response_done()

    def _dead(self, why: str) -> None:
        self.state = DEAD
        self.buf = b""
        if self.body is not None:
            self.body.complete = False
            self.body.finish()
            self.body = None
            if self.is_orig:
                self.h.request_done()
            else:
                self.h.response_done()
        self.h.ctx.warn(self.h.conn, f"HTTP {'requests' if self.is_orig else 'responses'} not parsed further: {why}")

    def gap(self, size: int) -> None:
        if self.state in (BODY, CHUNK_DATA) and size <= self.remaining:
            self.body.lost()  # type: ignore[union-attr]  # a body state has its body (_start_body)
            self.body.wire += size  # type: ignore[union-attr]  # as above
            self.remaining -= size
            if not self.remaining:
                if self.state == BODY:
                    self._done(0)
                else:
                    self.state = CHUNK_END
        elif self.state == UNTIL_CLOSE:
            self.body.lost()  # type: ignore[union-attr]  # as above
        elif self.state == HEAD and not self.buf:
            pass  # lost between messages: the next one may still start cleanly
        elif self.state not in (DEAD, TUNNEL):
            self._dead(f"{size} bytes missing from the capture")

    def close(self, clean: bool) -> None:
        if self.state == UNTIL_CLOSE:
            if not clean:
                self.body.complete = False  # type: ignore[union-attr]  # a body state has its body
            self._done(0)
        elif self.state in (BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS):
            self.body.complete = False  # type: ignore[union-attr]  # as above
            self._done(0)


def _field_kind(name: str) -> str | None:
    """'user' or 'password' when a form field's name says it holds one, else None."""
    name = name.lower()
    if name.endswith("]") and "[" in name:
        name = name[name.rindex("[") + 1:-1]  # login[password] -> password
    name = name.replace("_", "").replace("-", "").replace(".", "")
    if name in PASSWORD_FIELDS or "password" in name or "passwd" in name:
        return "password"
    if name in USER_FIELDS or name.endswith("username") or name.endswith("email"):
        return "user"
    return None


def form_login(body: bytes) -> tuple[str | None, str, list[str]] | None:
    """(user, password, field names) from an application/x-www-form-urlencoded body that carries a
    password field, else None. The first field of each kind counts."""
    try:
        fields = parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=1000, encoding="utf-8",
                           errors="replace")
    except ValueError:
        return None
    user = password = None
    names = []
    for name, value in fields:
        kind = _field_kind(name)
        if kind == "password" and password is None:
            password = value
            names.append(name)
        elif kind == "user" and user is None:
            user = value
            names.append(name)
    if password is None:
        return None
    return user, password, names


def _length(value: str) -> int | None:
    try:
        length = int(value.split(",")[0].strip())
    except ValueError:
        return None
    return length if length >= 0 else None


class HttpHandler:
    """HTTP transactions of one TCP connection."""

    def __init__(self, conn: Connection, ctx: Analysis) -> None:
        self.conn = conn
        self.ctx = ctx
        self.keep = ctx.settings.max_object_size
        self.limit = ctx.settings.max_body_size
        self.sides = (_Side(self, False), _Side(self, True))  # indexed by is_orig
        self.txs: deque[_Tx] = deque()  # not yet emitted, in request order
        self.answered = 0  # final responses parsed, relative to txs[0]
        self.requested = 0  # requests parsed, relative to txs[0]
        self.depth = 0
        self.done = False
        self.warned = False

    # stream interface
    def stream(self, is_orig: bool, data: bytes, ts_ns: int) -> None:
        self.sides[is_orig].feed(data, ts_ns)

    def gap(self, is_orig: bool, size: int) -> None:
        self.sides[is_orig].gap(size)

    def close(self, ts_ns: int) -> None:
        clean = self.conn.closed_cleanly()
        self.sides[True].close(clean)
        self.sides[False].close(clean)
        while self.txs:
            self._emit(self.txs.popleft())
        for side in self.sides:
            del side.h  # each side refers back to this handler: without this, only the cycle collector frees them

    # parser callbacks
    def next_is_http09(self) -> bool:
        if self.answered < len(self.txs):
            return self.txs[self.answered].rec.version == "0.9"
        return False

    def request(self, method: str, uri: str, version: str, headers: dict[str, str], ts_ns: int) -> _Tx:
        conn = self.conn
        self.depth += 1
        if self.requested < len(self.txs):  # a response arrived first (midstream pickup): fill it in
            tx = self.txs[self.requested]
            rec = tx.rec
            rec.method, rec.uri, rec.version = method, uri, rec.version or version
        else:
            rec = HttpRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, method, None, uri, version,
                             None, None, None, None, None, 0, None, trans_depth=self.depth, flow_id=conn.id)
            tx = _Tx(rec, ts_ns)
            if len(self.txs) >= MAX_WAITING and self.txs[0].req_done and self.answered == 0:
                self._emit(self.txs.popleft())  # bounded memory: its response, if any, will not be paired
                self.requested -= 1
                if not self.warned:
                    self.warned = True
                    self.ctx.warn(conn, f"more than {MAX_WAITING} HTTP requests without responses")
            self.txs.append(tx)
        self.requested += 1
        rec.host = headers.get("host")
        rec.user_agent = headers.get("user-agent")
        rec.referrer = headers.get("referer")
        rec.request_content_type = headers.get("content-type")
        tx.req_headers = headers
        for name in ("authorization", "proxy-authorization"):
            value = headers.get(name)
            if value is not None and value[:6].lower() == "basic ":
                self._basic(name, value[6:], rec, ts_ns)
        return tx

    def _basic(self, header: str, value: str, rec: HttpRecord, ts_ns: int) -> None:
        """HTTP Basic credentials (RFC 7617): base64 of user:password, as a CredentialRecord."""
        try:
            decoded = base64.b64decode(value.strip()[:4096], validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return
        user, sep, password = decoded.partition(":")
        conn = self.conn
        kind = "Proxy Basic" if header == "proxy-authorization" else "Basic"
        where = f"HTTP {kind} for {rec.host or conn.dst}{rec.uri or ''}"[:1024]
        self.ctx.emit(CredentialRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, "http", user,
                                       password if sep else None, where, flow_id=conn.id))

    def _form(self, rec: HttpRecord, body: bytes, ts_ns: int) -> None:
        """A login form posted in clear: its user and password fields as a CredentialRecord."""
        login = form_login(body)
        if login is None:
            return
        user, password, names = login
        conn = self.conn
        where = f"HTTP POST form to {rec.host or conn.dst}{rec.uri or ''} (fields {', '.join(names)})"[:1024]
        self.ctx.emit(CredentialRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, "http",
                                       user[:MAX_CREDENTIAL] if user is not None else None, password[:MAX_CREDENTIAL],
                                       where, flow_id=conn.id))

    def request_done(self) -> None:
        index = self.requested - 1
        if 0 <= index < len(self.txs):
            self.txs[index].req_done = True
        self._ready()

    def informational(self, status: int, reason: str | None) -> None:
        if self.answered < len(self.txs):
            self.txs[self.answered].rec.info_code = status

    def response(self, status: int | None, reason: str | None, version: str, headers: dict[str, str], ts_ns: int) -> _Tx:
        if self.answered >= len(self.txs):  # no request seen for it
            conn = self.conn
            self.depth += 1
            rec = HttpRecord(iso_us(ts_ns), conn.src, conn.o_port, conn.dst, conn.r_port, None, None, None, None,
                             None, None, None, None, None, 0, None, trans_depth=self.depth, flow_id=conn.id)
            tx = _Tx(rec, ts_ns)
            tx.req_done = True
            self.txs.append(tx)
            self.requested = max(self.requested, self.answered + 1)
        tx = self.txs[self.answered]
        self.answered += 1
        rec = tx.rec
        rec.status = status
        rec.reason = reason
        if version:
            rec.version = version  # the response's, as Zeek's http.log gives it
        rec.content_type = headers.get("content-type")
        rec.content_encoding = headers.get("content-encoding")
        tx.resp_headers = headers
        return tx

    def response_done(self) -> None:
        index = self.answered - 1
        if 0 <= index < len(self.txs):
            self.txs[index].resp_done = True
        self._ready()

    def tunnel(self) -> None:
        """CONNECT or Upgrade: what follows is another protocol."""
        for side in self.sides:
            side.state = TUNNEL
            side.buf = b""
        self.close(0)
        self.done = True

    def _ready(self) -> None:
        while self.txs and self.txs[0].req_done and self.txs[0].resp_done:
            self._emit(self.txs.popleft())
            self.answered -= 1
            self.requested -= 1

    def _emit(self, tx: _Tx) -> None:
        rec = tx.rec
        objects = []
        for body, direction, headers, ctype in ((tx.req_body, "request", tx.req_headers, rec.request_content_type),
                                                (tx.resp_body, "response", tx.resp_headers, rec.content_type)):
            if body is None:
                continue
            body.finish()
            digest = body.hash.hexdigest() if body.size else None
            if direction == "request":
                rec.request_body_size, rec.request_body_sha256 = body.size, digest
            else:
                rec.body_size, rec.body_sha256 = body.size, digest
                rec.body_complete = body.complete and not body.truncated
            if digest is not None:  # a digest: the body has bytes
                name = object_name(rec.uri, headers.get("content-disposition"))
                objects.append(ExtractedObject(name, rec, direction, body.size, digest, bytes(body.data),
                                               truncated=body.truncated or not body.complete, content_type=ctype,
                                               flow_id=rec.flow_id))
        if tx.resp_body is None and not tx.resp_done and rec.status is None:
            rec.body_complete = True
        if tx.req_body is not None and rec.method == "POST" and 0 < tx.req_body.size <= MAX_FORM \
                and (rec.request_content_type or "").split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded":
            self._form(rec, bytes(tx.req_body.data), tx.ts_ns)
        self.ctx.emit(rec)
        for obj in objects:
            self.ctx.emit(obj)


PROTOCOL = TcpProtocol("http", lambda opening: looks_like_request(opening.client),
                       lambda opening: Verdict.of(looks_like_response(opening.server)), HttpHandler)
