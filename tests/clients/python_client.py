"""The official Python client (fal-client, pinned) against `vantage serve`.

Pointed at the server by the environment only (FAL_RUN_HOST,
FAL_QUEUE_RUN_HOST, SSL_CERT_FILE, FAL_KEY), as a user would. Usage:
python_client.py VIDEO AUDIO. Prints one JSON line of what it measured;
exits non-zero on the first check that fails.
"""

import json
import sys
import time

import fal_client

APP = "local/vantage"


def wait_until(handle, predicate, timeout=180.0):
    start = time.time()
    while time.time() - start < timeout:
        status = handle.status(with_logs=True)
        if predicate(status):
            return status
        time.sleep(0.1)
    raise AssertionError(f"{handle.request_id}: condition not reached in {timeout} s")


def main(video, audio):
    measured = {}
    quick = {
        "video_url": fal_client.encode_file(video),
        "audio_url": fal_client.encode_file(audio),
        "rife_mode": "off",
    }

    # run: the direct endpoint over HTTPS.
    result = fal_client.run(APP, arguments=quick)
    assert result["synchronized_video_url"].startswith("https://127.0.0.1:"), result
    assert result["metadata"]["output_frames"] > 0, result
    measured["run_frames"] = result["metadata"]["output_frames"]

    # submit, then iter_events with logs: every stage event is a log line.
    handle = fal_client.submit(APP, arguments=quick)
    kinds, logs = [], []
    for event in handle.iter_events(with_logs=True):
        kinds.append(type(event).__name__)
        logs.extend(getattr(event, "logs", None) or [])
    assert kinds[-1] == "Completed", kinds
    assert isinstance(handle.status(), fal_client.Completed)
    messages = [entry["message"] for entry in logs]
    assert any(m.endswith(": cached") for m in messages), messages
    assert handle.get()["metadata"]["output_frames"] == measured["run_frames"]
    # The by-id helpers build the URLs themselves.
    assert isinstance(fal_client.status(APP, handle.request_id), fal_client.Completed)
    assert fal_client.result(APP, handle.request_id)["timecodes_url"].startswith("https://")

    # subscribe with on_queue_update, on the diagnostic endpoint.
    updates = []
    diag = fal_client.subscribe(
        f"{APP}/diagnostic", arguments=quick, with_logs=True, on_queue_update=updates.append
    )
    assert diag["diagnostic_video_url"], diag
    assert updates and isinstance(updates[-1], fal_client.Completed), updates

    # stream: progress events, then the result.
    events = list(fal_client.stream(APP, arguments=quick))
    assert events[-1]["type"] == "result", events[-1]
    assert any(e["type"] == "progress" for e in events), events

    # A 422 names the field.
    try:
        fal_client.run(APP, arguments={"video_url": quick["video_url"], "rife_mode": "fast"})
        raise AssertionError("a bad request was accepted")
    except fal_client.FalClientHTTPError as e:
        assert e.status_code == 422, e
        assert "rife_mode" in str(e.message), e.message
        measured["validation"] = str(e.message)[:200]

    # Cancel: one queued (the server runs one at a time), one running.
    slow = fal_client.submit(APP, arguments={**quick, "rife_mode": "maximum"})
    queued = fal_client.submit(APP, arguments={**quick, "rife_mode": "precision"})
    assert isinstance(queued.status(), fal_client.Queued), queued.status()
    queued.cancel()
    done = wait_until(queued, lambda s: isinstance(s, fal_client.Completed), 10)
    assert done.error_type == "client_cancelled", done
    wait_until(
        slow,
        lambda s: any(l["message"].startswith("interpolate:") for l in (getattr(s, "logs", None) or [])),
    )
    asked = time.time()
    slow.cancel()
    done = wait_until(slow, lambda s: isinstance(s, fal_client.Completed), 30)
    measured["cancel_seconds"] = round(time.time() - asked, 3)
    assert done.error_type == "client_cancelled", done
    assert measured["cancel_seconds"] < 2.0, measured
    try:
        slow.get()
        raise AssertionError("a cancelled request has a result")
    except fal_client.FalClientHTTPError as e:
        assert e.status_code == 499, e
    try:
        slow.cancel()
        raise AssertionError("cancelling a finished request succeeded")
    except fal_client.FalClientHTTPError as e:
        assert e.status_code == 400 and "ALREADY_COMPLETED" in e.message, e

    print(json.dumps(measured))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
