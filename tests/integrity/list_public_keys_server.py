#!/usr/bin/env python3
"""A local stand-in for CloudTrail `ListPublicKeys`, which the moto server does not implement.

It speaks the CloudTrail wire protocol (AWS JSON 1.1: `POST /` with
`X-Amz-Target: CloudTrail_20131101.ListPublicKeys`, which is what the AWS SDKs send; the
fully qualified `com.amazonaws.cloudtrail.v20131101.` form is accepted too) and
answers from a `public-keys.json` file in the format `aws cloudtrail list-public-keys` prints
(as written by tests/integrity/make_trail.py): keys whose validity overlaps the requested
[StartTime, EndTime] (epoch seconds; absent = unbounded), one key per page so that clients
must follow `NextToken`. Every other operation gets an `UnknownOperationException`.

    python3 tests/integrity/list_public_keys_server.py PUBLIC_KEYS_JSON --port PORT [--log FILE]

Each request's target is appended to --log (one line per request). Requests are not
authenticated (any SigV4 signature is accepted).
"""

import argparse
import json
import sys
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TARGETS = {"CloudTrail_20131101.ListPublicKeys", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys"}


def epoch(v):
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()


def make_handler(keys, log):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def reply(self, status, doc):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            target = self.headers.get("X-Amz-Target", "")
            length = int(self.headers.get("Content-Length") or 0)
            req = json.loads(self.rfile.read(length) or b"{}")
            if log:
                with open(log, "a") as f:
                    f.write(target + "\n")
            if target not in TARGETS:
                self.reply(400, {"__type": "UnknownOperationException", "message": f"unknown target {target}"})
                return
            start, end = epoch(req.get("StartTime")), epoch(req.get("EndTime"))
            matching = [
                k for k in keys
                if (end is None or epoch(k["ValidityStartTime"]) <= end)
                and (start is None or epoch(k["ValidityEndTime"]) >= start)
            ]
            page = int(req.get("NextToken") or 0)
            out = {"PublicKeyList": [
                dict(k, ValidityStartTime=epoch(k["ValidityStartTime"]), ValidityEndTime=epoch(k["ValidityEndTime"]))
                for k in matching[page:page + 1]
            ]}
            if page + 1 < len(matching):
                out["NextToken"] = str(page + 1)
            self.reply(200, out)

    return Handler


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("public_keys")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log")
    args = ap.parse_args(argv)
    with open(args.public_keys) as f:
        keys = json.load(f)["PublicKeyList"]
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(keys, args.log))
    sys.stdout.write(f"listening on {args.port}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
