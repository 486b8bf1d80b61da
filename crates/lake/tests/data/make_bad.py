"""Writes the bad-input fixtures of crates/lake/tests/ingest_bad_input.rs and their expected
outcomes (expected.json). Run once; the outputs are committed. python3 make_bad.py"""
import copy, gzip, json, os

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "bad")
os.makedirs(out, exist_ok=True)
base = json.load(open(os.path.join(here, "..", "..", "..", "..", "tests", "data", "cloudtrail", "kms-examples.json")))["Records"]
good = base[0]  # S3 Decrypt for a SageMaker role

def rec(i, **changes):
    r = copy.deepcopy(good)
    r["eventID"] = f"00000000-0000-4000-8000-{i:012d}"
    for k, v in changes.items():
        if v is DROP:
            r.pop(k, None)
        else:
            r[k] = v
    return r

DROP = object()
expected = {}

def write(name, data, expect):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    expected[name] = expect

three = json.dumps({"Records": [rec(1), rec(2), rec(3)]}).encode()
gz = gzip.compress(three, mtime=0)
write("truncated.json.gz", gz[: len(gz) // 2], {"file_error": "gzip", "rows": 0})
write("empty.json.gz", b"", {"file_error": "empty", "rows": 0})
text = three.decode()
write("invalid-json.json", text[: text.index('"eventTime"', 900)].encode() + b'"eventTime": 2025-03-14}]}',
      {"file_error": "invalid JSON at line 1", "rows": 0})
write("no-records.json", json.dumps({"records": [rec(1)]}).encode(), {"file_error": "no Records", "rows": 0})
write("not-an-object.json", b"[1, 2, 3]", {"file_error": "not an object", "rows": 0})
write("records-null.json", b'{"Records": null}', {"file_error": "Records is not an array", "rows": 0})
write("trailing-garbage.json", three + b" {}", {"file_error": "trailing characters", "rows": 0})

# A good file with bad records among good ones: each bad one is quarantined alone.
huge = rec(104)
huge["requestParameters"]["encryptionContext"]["padding"] = "x" * 300_000
# A file whose only record is unusable is refused whole (nothing of it could land).
write("only-bad-records.json", json.dumps({"Records": [huge]}).encode(),
      {"file_error": "none of its 1 records is usable (record index 0", "rows": 0})
ident = lambda **u: rec(0, userIdentity=u)
records = [
    rec(100),                                            # 0 good
    rec(101, eventID=DROP),                              # 1 no eventID
    rec(102, eventTime=DROP),                            # 2 no eventTime
    rec(103, eventTime="yesterday"),                     # 3 bad eventTime
    huge,                                                # 4 300 KB record
    dict(rec(105), unknownField={"nested": [1, 2]}, anotherOne=7),  # 5 unknown fields: lands
    rec(106, userIdentity=None, requestParameters=None, resources=None, tlsDetails=None, additionalEventData=None),  # 6 nulls: lands, key _none
    rec(107, eventTime=1741943142),                      # 7 eventTime a number
    {"eventSource": "s3.amazonaws.com", "eventName": "GetObject"},  # 8 not KMS, no id: ignored
    rec(109, requestParameters="not-an-object"),         # 9 odd requestParameters: lands
    rec(110, userIdentity={"invokedBy": "AWS Internal", "accountId": "111122223333"}),  # 10 aws-internal
    rec(111, userIdentity={"type": "AWSService", "invokedBy": "sagemaker.amazonaws.com"}),  # 11 service:
    rec(112, userIdentity={"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}),
    rec(113, userIdentity={"type": "AWSAccount", "accountId": "444455556666", "principalId": "AIDAX"}),
    rec(114, userIdentity={"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops/alice", "accessKeyId": "AKIAEXAMPLE"}),
    rec(115, userIdentity={"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Fallback/sess", "sessionContext": {"sessionIssuer": {}}}),
    rec(116, userIdentity={}),                           # 16 no type, nothing: unknown
    rec(117, recipientAccountId=DROP),                   # 17 account from userIdentity.accountId
    rec(118, readOnly="true"),                           # 18 string boolean: lands
    rec(119, requestParameters={"keyId": 12345}),        # 19 key id not a string: lands
]
records[6]["eventID"] = "00000000-0000-4000-8000-000000000106"
write("bad-records.json", json.dumps({"Records": records}).encode(), {
    "file_error": None,
    "bad_records": [1, 2, 3, 4, 7],
    "rows": 14,
    "principals": {
        "00000000-0000-4000-8000-000000000110": "aws-internal",
        "00000000-0000-4000-8000-000000000111": "service:sagemaker.amazonaws.com",
        "00000000-0000-4000-8000-000000000112": "arn:aws:iam::111122223333:root",
        "00000000-0000-4000-8000-000000000113": "account:444455556666",
        "00000000-0000-4000-8000-000000000114": "arn:aws:iam::111122223333:user/ops/alice",
        "00000000-0000-4000-8000-000000000115": "arn:aws:iam::111122223333:role/Fallback",
        "00000000-0000-4000-8000-000000000116": "unknown",
        "00000000-0000-4000-8000-000000000106": "unknown",
        "00000000-0000-4000-8000-000000000100": "arn:aws:iam::111122223333:role/service-role/AmazonSageMaker-ExecutionRole-20250101T000000",
    },
    "keyless": ["00000000-0000-4000-8000-000000000106"],
})

with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
