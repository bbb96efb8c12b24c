#!/usr/bin/env python3
"""The floor for bench/rie_runtime.py: the barest Lambda runtime, Python's standard library only.

GET /next, echo the event back (parsed and serialised as JSON, as every runtime does), repeat.
No error handling, no context, no logging: what any runtime costs at the least.
"""

import http.client
import json
import os

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
host, port = api.rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port))
prefix = "/2018-06-01/runtime/invocation/"
while True:
    conn.request("GET", prefix + "next")
    response = conn.getresponse()
    event = json.loads(response.read() or b"null")
    request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
    body = json.dumps(event).encode()
    conn.request("POST", prefix + request_id + "/response", body=body)
    conn.getresponse().read()
