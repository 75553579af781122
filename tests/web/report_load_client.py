"""A load client for the durability test (run as a script; standard library only).

``python report_load_client.py PORT TASKS OUT STOP`` POSTs the reports listed
in the JSON file ``TASKS`` (``[{"key", "body", "key_in": "header"|"body",
"photos": [base64 JPEG, ...]}]``; with photos, as multipart/form-data)
to ``/api/reports`` one after the other, until the file ``STOP`` appears or
the list ends. A report whose request fails on the network (the server was
killed, or is restarting) is sent again with the same idempotency key until
the server answers. Every answer is appended to ``OUT`` as one JSON line and
flushed at once, so the test can watch progress:

``{"key", "status", "case_id", "tracking_code", "grid_code", "photos", "failures",
"sent_failures", "error"}`` (``photos``: the ids answered) where ``failures`` counts the network failures
before the answer and ``sent_failures`` those after the whole request had
been sent (the server may have stored the case without answering).
"""

import base64
import http.client
import json
import os
import secrets
import sys
import time

RETRY_FOR_S = 45.0
TIMEOUT_S = 10.0


def post(port, task):
    """One attempt: ``(status, answer, sent)``; raises OSError/HTTPException on the network."""
    body = dict(task["body"])
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if task["key_in"] == "header":
        headers["Idempotency-Key"] = task["key"]
    else:
        body["idempotency_key"] = task["key"]
    if task.get("photos"):
        headers["Content-Type"], data = multipart(body, task["photos"])
    else:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    sent = False
    try:
        conn.request("POST", "/api/reports", body=data, headers=headers)
        sent = True
        response = conn.getresponse()
        raw = response.read()
        return response.status, raw
    except (OSError, http.client.HTTPException) as exc:
        exc.sent = sent
        raise
    finally:
        conn.close()


def multipart(body, photos):
    """``(content type, body)`` of a multipart/form-data report: the fields as text
    (numbers as Python spells them, booleans as true/false), then the photos."""
    boundary = secrets.token_hex(16)
    parts = []
    for name, value in body.items():
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        parts.append(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + text.encode("utf-8"))
    for i, photo in enumerate(photos):
        parts.append(f'Content-Disposition: form-data; name="photos"; filename="p{i}.jpg"\r\n'
                     'Content-Type: image/jpeg\r\n\r\n'.encode() + base64.b64decode(photo))
    data = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return f"multipart/form-data; boundary={boundary}", data + b"--" + boundary.encode() + b"--\r\n"


def send(port, task):
    """Send one report until the server answers; returns the outcome record."""
    failures = sent_failures = 0
    deadline = time.monotonic() + RETRY_FOR_S
    while True:
        try:
            status, raw = post(port, task)
        except (OSError, http.client.HTTPException) as exc:
            failures += 1
            sent_failures += bool(getattr(exc, "sent", False))
            if time.monotonic() > deadline:
                return {"key": task["key"], "status": None, "failures": failures,
                        "sent_failures": sent_failures, "error": repr(exc)}
            time.sleep(0.02)
            continue
        record = {"key": task["key"], "status": status, "failures": failures,
                  "sent_failures": sent_failures}
        try:
            answer = json.loads(raw)
        except ValueError:
            record["error"] = raw[:300].decode("utf-8", "replace")
            return record
        if status in (200, 201):
            record.update(case_id=answer.get("case_id"), tracking_code=answer.get("tracking_code"),
                          grid_code=(answer.get("grid") or {}).get("code"),
                          photos=[p["id"] for p in answer.get("photos", [])])
        else:
            record["error"] = answer.get("error")
        return record


def main(port, tasks_path, out_path, stop_path):
    with open(tasks_path, encoding="utf-8") as f:
        tasks = json.load(f)
    with open(out_path, "a", encoding="utf-8") as out:
        for task in tasks:
            if os.path.exists(stop_path):
                break
            out.write(json.dumps(send(port, task)) + "\n")
            out.flush()


if __name__ == "__main__":
    main(int(sys.argv[1]), *sys.argv[2:5])
