#!/usr/bin/env python3
"""An HTTP proxy that injects AWS faults in front of the moto server (issue 8).

Point a client's AWS_ENDPOINT_URL at the proxy; every request is forwarded to the upstream
(moto) unless a rule matches it, in which case the rule's fault is injected instead:

    s3_503     503 SlowDown, S3's XML error body (what S3 answers when throttling)
    throttle   400 ThrottlingException in the awsJson form of KMS and Glue
               (x-amzn-ErrorType header and {"__type": …, "message": …} body)
    error      any status with an S3 XML error code (e.g. 403 AccessDenied, 500 InternalError)
    stall      waits `seconds` before answering; then forwards (or, with "then": "close",
               closes the connection without an answer): a server that went silent
    cut_body   forwards, sends the status line, headers (full Content-Length) and the first
               `bytes` bytes of the body, then closes the connection: a connection cut mid-body
    reset      closes the connection without reading an answer (no status line at all)

A rule matches on `method`, `service` (from the SigV4 credential scope: s3, kms, glue, …),
`target` (regex on X-Amz-Target, e.g. `TrentService.GenerateDataKey`), `path` (regex on the
path and query, raw or percent-decoded once) and fires `times` times in all (None = always), or `per_path` times for
each distinct path (the first GET of every object, say), after letting `skip` matches through.

Used in-process by the pytest files here (`FaultProxy(upstream).start()`), or standalone:

    fault_proxy.py --upstream http://127.0.0.1:5000 --port 5001 --rules rules.json

where rules.json is a list of rule objects, e.g.
`[{"method": "GET", "service": "s3", "path": "^/trail/", "action": "s3_503", "per_path": 1}]`.
Every request is recorded (`proxy.log`) so that a test can count the retries it caused.
"""

import argparse
import http.client
import json
import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class Rule:
    def __init__(self, action, method=None, service=None, target=None, path=None, times=None, per_path=None,
                 skip=0, status=None, code=None, seconds=0.0, then="forward", bytes=None, name=None):
        self.action = action
        self.method = method
        self.service = service
        self.target = re.compile(target) if target else None
        self.path = re.compile(path) if path else None
        self.times = times
        self.per_path = per_path
        self.skip = skip
        self.status = status
        self.code = code
        self.seconds = seconds
        self.then = then
        self.bytes = bytes
        self.name = name or action
        self.matched = 0
        self.fired = 0
        self.fired_per_path = {}

    def matches(self, req):
        if self.method and req["method"] != self.method:
            return False
        if self.service and req["service"] != self.service:
            return False
        if self.target and not self.target.search(req["target"] or ""):
            return False
        if self.path and not (self.path.search(req["path"]) or self.path.search(urllib.parse.unquote(req["path"]))):
            return False
        return True

    def take(self, req):
        """Whether the rule fires for this (matching) request; updates the counters."""
        self.matched += 1
        if self.matched <= self.skip:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        key = req["path"].split("?", 1)[0]
        if self.per_path is not None and self.fired_per_path.get(key, 0) >= self.per_path:
            return False
        self.fired += 1
        self.fired_per_path[key] = self.fired_per_path.get(key, 0) + 1
        return True


def service_of(headers):
    """The service name in the SigV4 credential scope (`Credential=AK/DATE/REGION/SERVICE/aws4_request`)."""
    m = re.search(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request", headers.get("Authorization", ""))
    return m.group(1) if m else None


class FaultProxy:
    def __init__(self, upstream, host="127.0.0.1", port=0):
        u = urllib.parse.urlsplit(upstream)
        self.upstream = (u.hostname, u.port or 80)
        self.rules = []
        self.log = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_any(self):
                proxy.handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_any

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.endpoint = "http://%s:%d" % (host, self.server.server_address[1])

    # --- control -------------------------------------------------------------------------------
    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()

    def set_rules(self, rules):
        with self.lock:
            self.rules = [r if isinstance(r, Rule) else Rule(**r) for r in rules]
            self.log = []
        self.stop_event.clear()
        return self.rules

    def clear(self):
        self.set_rules([])
        self.stop_event.set()  # release any stalled request of the previous test

    def requests(self, method=None, path=None, fault=Ellipsis):
        """Recorded requests, filtered; `fault=None` selects the ones forwarded untouched."""
        with self.lock:
            out = list(self.log)
        return [r for r in out
                if (method is None or r["method"] == method)
                and (path is None or re.search(path, r["path"]))
                and (fault is Ellipsis or r["fault"] == fault)]

    # --- serving -------------------------------------------------------------------------------
    def handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = read_chunked(h.rfile)
        else:
            body = h.rfile.read(length) if length else b""
        req = {"method": h.command, "path": h.path, "service": service_of(h.headers),
               "target": h.headers.get("X-Amz-Target"), "fault": None, "time": time.time()}
        with self.lock:
            rule = next((r for r in self.rules if r.matches(req) and r.take(req)), None)
            req["fault"] = rule.name if rule else None
            self.log.append(req)
        if rule is None:
            return self.forward(h, body)
        a = rule.action
        if a == "s3_503":
            return self.send_xml_error(h, 503, "SlowDown", "Please reduce your request rate.")
        if a == "error":
            return self.send_xml_error(h, rule.status or 500, rule.code or "InternalError", "injected fault")
        if a == "throttle":
            payload = json.dumps({"__type": rule.code or "ThrottlingException", "message": "Rate exceeded"}).encode()
            return self.send_raw(h, rule.status or 400, [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("x-amzn-ErrorType", rule.code or "ThrottlingException"),
                ("x-amzn-RequestId", "fault-proxy")], payload)
        if a == "stall":
            self.stop_event.wait(rule.seconds)
            if rule.then == "close":
                return self.close(h)
            return self.forward(h, body)
        if a == "reset":
            return self.close(h, reset=True)
        if a == "cut_body":
            status, headers, data = self.upstream_call(h, body)
            cut = rule.bytes if rule.bytes is not None else len(data) // 2
            h.send_response_only(status)
            for k, v in headers:
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[:cut])
            h.wfile.flush()
            return self.close(h)
        raise ValueError("unknown action %r" % a)

    def upstream_call(self, h, body):
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
        if body or h.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        conn.request(h.command, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.getheaders(), data

    def forward(self, h, body):
        try:
            status, headers, data = self.upstream_call(h, body)
        except OSError as e:
            return self.send_xml_error(h, 502, "BadGateway", "upstream: %s" % e)
        out = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
        self.send_raw(h, status, out, data, head=h.command == "HEAD", length=dict(
            (k.lower(), v) for k, v in headers).get("content-length"))

    def send_xml_error(self, h, status, code, message):
        payload = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message>"
                   "<RequestId>fault-proxy</RequestId></Error>" % (code, message)).encode()
        self.send_raw(h, status, [("Content-Type", "application/xml"), ("x-amz-request-id", "fault-proxy")], payload)

    def send_raw(self, h, status, headers, payload, head=False, length=None):
        try:
            h.send_response_only(status)
            for k, v in headers:
                h.send_header(k, v)
            h.send_header("Content-Length", str(length if (head and length is not None) else len(payload)))
            h.end_headers()
            if not head:
                h.wfile.write(payload)
            h.wfile.flush()
        except OSError:
            h.close_connection = True

    def close(self, h, reset=False):
        h.close_connection = True
        try:
            if reset:  # RST instead of FIN
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def read_chunked(rfile):
    out = b""
    while True:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return out
        out += rfile.read(size)
        rfile.readline()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rules", help="JSON file: a list of rule objects")
    args = ap.parse_args()
    proxy = FaultProxy(args.upstream, args.host, args.port)
    if args.rules:
        with open(args.rules) as f:
            proxy.set_rules(json.load(f))
    print(proxy.endpoint, flush=True)
    try:
        proxy.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
