#!/usr/bin/env python3
"""A local stand-in for CloudTrail LookupEvents (moto 5.2.1 does not implement it: HTTP 500).

Speaks the CloudTrail JSON 1.1 protocol (POST /, X-Amz-Target
CloudTrail_20131101.LookupEvents) well enough for the SDK:
LookupAttributes (one attribute; EventSource, EventName, EventId, Username, ResourceName,
ReadOnly, AccessKeyId), StartTime/EndTime (epoch seconds), MaxResults (1..50), NextToken.
Events come newest first, as from CloudTrail, each with the full record in `CloudTrailEvent`.

Options that let a test check the client's manners:
  --throttle-every N   answer every Nth request with 400 ThrottlingException
  --rate-limit R       answer ThrottlingException when requests come faster than R per second
                       (CloudTrail's LookupEvents quota is 2/s per account and region)
  --request-log FILE   append one JSON line per request: time, target, throttled

Records are read from --records FILE: a JSON list of CloudTrail records, a {"Records":[...]}
object, or a folder of CloudTrail log files (.json / .json.gz, searched recursively).

Usage: cloudtrail_lookup.py --port PORT --records FILE [--ready-file F]
"""

import argparse
import base64
import gzip
import json
import os
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The SDKs send "CloudTrail_20131101.<Operation>"; the service model's full name is accepted too.
TARGET_PREFIXES = ("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.", "CloudTrail_20131101.")


def load_records(path):
    records = []
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for name in sorted(files):
                full = os.path.join(root, name)
                if name.endswith(".json.gz"):
                    with gzip.open(full, "rb") as f:
                        records.extend(json.load(f).get("Records", []))
                elif name.endswith(".json"):
                    with open(full, "rb") as f:
                        records.extend(json.load(f).get("Records", []))
    else:
        with open(path, "rb") as f:
            data = json.load(f)
        records = data.get("Records", []) if isinstance(data, dict) else data
    return records


def parse_time(text):
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def event_of(record):
    identity = record.get("userIdentity") or {}
    username = identity.get("userName") or (identity.get("sessionContext") or {}).get("sessionIssuer", {}).get("userName")
    resources = [
        {"ResourceType": r.get("type"), "ResourceName": r.get("ARN")}
        for r in (record.get("resources") or [])
        if isinstance(r, dict)
    ]
    event = {
        "EventId": record.get("eventID"),
        "EventName": record.get("eventName"),
        "ReadOnly": "true" if record.get("readOnly") else "false",
        "EventTime": parse_time(record["eventTime"]),
        "EventSource": record.get("eventSource"),
        "Resources": resources,
        "CloudTrailEvent": json.dumps(record, separators=(",", ":")),
    }
    if identity.get("accessKeyId"):
        event["AccessKeyId"] = identity["accessKeyId"]
    if username:
        event["Username"] = username
    return event


ATTRIBUTES = {
    "EventSource": lambda e: [e.get("EventSource")],
    "EventName": lambda e: [e.get("EventName")],
    "EventId": lambda e: [e.get("EventId")],
    "Username": lambda e: [e.get("Username")],
    "ReadOnly": lambda e: [e.get("ReadOnly")],
    "AccessKeyId": lambda e: [e.get("AccessKeyId")],
    "ResourceName": lambda e: [r.get("ResourceName") for r in e.get("Resources", [])],
    "ResourceType": lambda e: [r.get("ResourceType") for r in e.get("Resources", [])],
}


class State:
    def __init__(self, events, throttle_every, rate_limit, request_log):
        self.events = events
        self.throttle_every = throttle_every
        self.rate_limit = rate_limit
        self.request_log = request_log
        self.lock = threading.Lock()
        self.count = 0
        self.last = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, status, body, error_type=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "stand-in-%d" % time.time_ns())
        if error_type:
            self.send_header("X-Amzn-Errortype", error_type)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, error_type, message):
        self.reply(status, {"__type": error_type, "message": message}, error_type)

    def do_GET(self):  # health check
        self.reply(200, {"ok": True})

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length else b"{}"
        target = self.headers.get("X-Amz-Target", "")
        now = time.time()
        with state.lock:
            state.count += 1
            n = state.count
            throttled = bool(state.throttle_every and n % state.throttle_every == 0)
            if state.rate_limit and state.last is not None and now - state.last < 1.0 / state.rate_limit:
                throttled = True
            state.last = now
            if state.request_log:
                with open(state.request_log, "a") as log:
                    log.write(json.dumps({"time": now, "target": target, "throttled": throttled}) + "\n")
        prefix = next((p for p in TARGET_PREFIXES if target.startswith(p)), None)
        if prefix is None:
            return self.error(400, "UnknownOperationException", "unknown target %r" % target)
        operation = target[len(prefix):]
        if operation != "LookupEvents":
            return self.error(400, "UnsupportedOperationException", "%s is not implemented by this stand-in" % operation)
        if throttled:
            return self.error(400, "ThrottlingException", "Rate exceeded")
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            return self.error(400, "SerializationException", "invalid JSON body")
        events = state.events
        attrs = request.get("LookupAttributes") or []
        if len(attrs) > 1:
            return self.error(400, "InvalidLookupAttributesException", "only one lookup attribute is allowed")
        for attr in attrs:
            key, value = attr.get("AttributeKey"), attr.get("AttributeValue")
            if key not in ATTRIBUTES:
                return self.error(400, "InvalidLookupAttributesException", "unknown attribute %r" % key)
            events = [e for e in events if value in ATTRIBUTES[key](e)]
        start = request.get("StartTime")
        end = request.get("EndTime")
        if start is not None and end is not None and start > end:
            return self.error(400, "InvalidTimeRangeException", "StartTime is after EndTime")
        if start is not None:
            events = [e for e in events if e["EventTime"] >= start]
        if end is not None:
            events = [e for e in events if e["EventTime"] <= end]
        limit = request.get("MaxResults", 50)
        if not 1 <= limit <= 50:
            return self.error(400, "InvalidMaxResultsException", "MaxResults must be 1..50")
        offset = 0
        token = request.get("NextToken")
        if token:
            try:
                offset = int(base64.b64decode(token).decode())
            except Exception:
                return self.error(400, "InvalidNextTokenException", "bad NextToken")
        page = events[offset:offset + limit]
        body = {"Events": page}
        if offset + limit < len(events):
            body["NextToken"] = base64.b64encode(str(offset + limit).encode()).decode()
        self.reply(200, body)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--records", required=True)
    parser.add_argument("--throttle-every", type=int, default=0)
    parser.add_argument("--rate-limit", type=float, default=0.0)
    parser.add_argument("--request-log")
    parser.add_argument("--ready-file", help="written once the server listens")
    args = parser.parse_args()
    records = [r for r in load_records(args.records) if isinstance(r, dict) and r.get("eventTime")]
    events = sorted((event_of(r) for r in records), key=lambda e: (-e["EventTime"], e["EventId"] or ""))
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.state = State(events, args.throttle_every, args.rate_limit, args.request_log)
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(str(len(events)))
    print("cloudtrail_lookup stand-in: %d events on %s:%d" % (len(events), args.host, args.port), file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
