"""The web app (sportlens.web) through FastAPI's TestClient: auth, CSRF, uploads, access, errors, pages."""
from __future__ import annotations

import importlib
import json
import os
import stat

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sportlens.store")

from fastapi.testclient import TestClient  # noqa: E402

from sportlens.store.models import Analysis, Session  # noqa: E402
from sportlens.web import WebSettings, create_app  # noqa: E402
from sportlens.web.auth import TokenStore  # noqa: E402
from sportlens.web.uploads import UploadRejected, iso_problem, safe_filename, sniff  # noqa: E402
from tests._media import gradient_frames, make_video  # noqa: E402

HTML = {"Accept": "text/html"}


def _app(tmp_path, **kw):
    kw.setdefault("start_workers", False)
    kw.setdefault("require_token", True)
    return create_app(WebSettings(data_dir=tmp_path / "data", **kw))


@pytest.fixture
def app(tmp_path):
    return _app(tmp_path)


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {app.state.first_token}"
        yield c


@pytest.fixture
def athlete(client) -> int:
    r = client.post("/api/athletes", json={"name": "Ana"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def clip(tmp_path):
    return make_video(tmp_path / "clip.mp4", gradient_frames(20, 96, 64))


def _upload(client, athlete_id, path, name=None, **data):
    with open(path, "rb") as f:
        return client.post(f"/api/athletes/{athlete_id}/upload", files={"file": (name or path.name, f, "video/mp4")},
                           data={k: str(v) for k, v in data.items()})


def _sessions(app) -> int:
    with app.state.store.session() as db:
        return db.query(Session).count()


# --- authentication -------------------------------------------------------------------------------------------

def test_health_is_public_everything_else_needs_the_token(app):
    c = TestClient(app)
    assert c.get("/healthz").json() == {"status": "ok"}
    for path in ("/api/athletes", "/api/openapi.json", "/api/jobs/1", "/api/analyses/1/files/report.html"):
        r = c.get(path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
    assert c.get("/api/athletes", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/athletes", headers={"X-Sportlens-Token": "wrong"}).status_code == 401
    c.cookies.set("sportlens_token", "wrong")
    assert c.get("/api/athletes").status_code == 401
    c.cookies.clear()
    token = app.state.first_token
    assert c.get("/api/athletes", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert c.get("/api/athletes", headers={"X-Sportlens-Token": token}).status_code == 200
    page = c.get("/", headers=HTML, follow_redirects=False)  # a browser is sent to the login page
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_loopback_needs_no_token_but_other_addresses_do(tmp_path):
    loop = create_app(WebSettings(data_dir=tmp_path / "data", start_workers=False))
    c = TestClient(loop, base_url="http://127.0.0.1:8000")
    assert c.get("/api/athletes").status_code == 200
    assert c.get("/api/athletes", headers={"Authorization": "Bearer wrong"}).status_code == 401  # wrong stays wrong
    # DNS rebinding: a foreign name resolving to 127.0.0.1 must not drive the tokenless server
    assert c.get("/api/athletes", headers={"Host": "evil.example"}).status_code == 400
    assert WebSettings(host="0.0.0.0").token_required and WebSettings(host="192.168.1.5").token_required
    assert not WebSettings(host="::1").token_required and not WebSettings(host="localhost").token_required


def test_token_is_stored_hashed_and_printed_once(tmp_path, capsys):
    first = _app(tmp_path)
    token = first.state.first_token
    assert token and token in capsys.readouterr().err
    tokens_file = tmp_path / "data" / "tokens.json"
    assert token not in tokens_file.read_text()
    assert stat.S_IMODE(os.stat(tokens_file).st_mode) == 0o600
    first.state.store.close()
    again = _app(tmp_path)
    assert again.state.first_token is None and token not in capsys.readouterr().err
    assert TokenStore(tmp_path / "data").verify(token).is_admin


def test_login_sets_a_strict_httponly_cookie(app):
    c = TestClient(app)
    assert c.post("/login", data={"token": "nope", "next": "/"}).status_code == 401
    r = c.post("/login", data={"token": app.state.first_token, "next": "//evil.example/x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert c.get("/api/athletes").status_code == 200  # the cookie authenticates
    assert c.post("/logout", follow_redirects=False).status_code == 303


def test_cross_origin_posts_are_refused(client):
    evil = client.post("/api/athletes", json={"name": "X"}, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert client.post("/athletes", data={"name": "X"}, headers={"Referer": "https://evil.example/form"}).status_code == 403
    same = client.post("/api/athletes", json={"name": "X"}, headers={"Origin": "http://testserver"})
    assert same.status_code == 201


def test_pages_send_a_strict_content_security_policy(client, athlete):
    r = client.get(f"/athletes/{athlete}", headers=HTML)
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in r.text and "https://" not in r.text  # nothing loaded from outside


# --- per-athlete access ----------------------------------------------------------------------------------------

def test_a_scoped_token_sees_only_its_athletes(app, client, clip):
    ana = client.post("/api/athletes", json={"name": "Ana"}).json()["id"]
    ben = client.post("/api/athletes", json={"name": "Ben"}).json()["id"]
    assert _upload(client, ben, clip).status_code == 201  # job 1, analysis 1: Ben's
    scoped = app.state.tokens.issue("coach of Ana", [ana])
    c = TestClient(app, headers={"Authorization": f"Bearer {scoped}"})
    assert [a["id"] for a in c.get("/api/athletes").json()] == [ana]
    assert c.get(f"/athletes/{ben}", headers=HTML).status_code == 404  # as if it did not exist
    assert c.get(f"/api/athletes/{ben}/progress").status_code == 404
    assert _upload(c, ben, clip).status_code == 404
    assert c.get("/api/jobs/1").status_code == 404 and c.get("/jobs/1", headers=HTML).status_code == 404
    assert c.get("/api/analyses/1").status_code == 404
    assert c.post("/api/athletes", json={"name": "Cy"}).status_code == 403  # only an admin adds athletes
    assert _upload(c, ana, clip).status_code == 201
    assert client.get("/api/jobs/1").status_code == 200  # the admin still sees Ben's job


# --- uploads ---------------------------------------------------------------------------------------------------

def test_upload_of_a_non_video_is_refused(app, client, athlete, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    r = _upload(client, athlete, text)
    assert r.status_code == 415 and "not a video" in r.json()["detail"]
    ok, jpg = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))
    image = tmp_path / "photo.mp4"
    image.write_bytes(jpg.tobytes())
    assert _upload(client, athlete, image).status_code == 415
    assert _upload(client, athlete, text, name="notes.txt").status_code == 415  # extension refused too
    assert _sessions(app) == 0


def test_upload_larger_than_the_limit_is_refused(tmp_path, clip):
    app = _app(tmp_path, max_upload_bytes=2048)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {app.state.first_token}"
        aid = c.post("/api/athletes", json={"name": "Ana"}).json()["id"]
        big = tmp_path / "big.mp4"
        big.write_bytes(clip.read_bytes() + b"\0" * (2 * 1024 * 1024))  # past limit + multipart slack
        r = _upload(c, aid, big)  # refused from its Content-Length, before the body is read
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        body, ctype = _multipart(big)
        chunked = c.post(f"/api/athletes/{aid}/upload", content=iter([body[i:i + 65536]
                                                                       for i in range(0, len(body), 65536)]),
                         headers={"Content-Type": ctype})  # no Content-Length: counted while streaming
        assert chunked.status_code == 413
        assert 2048 < clip.stat().st_size < 2048 + 1024 * 1024
        r = _upload(c, aid, clip)  # within the multipart slack: the copy into the store counts and refuses it
        assert r.status_code == 413
    assert _sessions(app) == 0


def _multipart(path):
    boundary = "sportlensboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("index_first", [False, True])
def test_upload_of_a_truncated_video_is_refused(app, client, athlete, tmp_path, index_first):
    full = make_video(tmp_path / "full.mp4", gradient_frames(60, 96, 64), faststart=index_first)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    r = _upload(client, athlete, cut)
    assert r.status_code == 400 and "truncated" in r.json()["detail"]
    assert str(tmp_path) not in r.text and "/data/" not in r.text  # no server path in the message
    assert _sessions(app) == 0


@pytest.mark.parametrize("name", ["../../etc/evil.mp4", "..\\..\\evil.mp4", "/abs/evil.mp4", "..", ".hidden.mp4"])
def test_path_traversal_file_names_are_rejected(app, client, athlete, clip, tmp_path, name):
    r = _upload(client, athlete, clip, name=name)
    assert r.status_code == 400, r.text
    assert "rejected" in r.json()["detail"] or "no file name" in r.json()["detail"]
    assert not (tmp_path / "etc").exists() and not list(tmp_path.parent.glob("evil*"))
    assert _sessions(app) == 0


def test_upload_checks_units():
    assert safe_filename(" Sprint 1 – Ana.MOV ") == "Sprint 1 – Ana.MOV"
    for bad in ("", "a/b.mp4", "x.exe", "x" * 300 + ".mp4", "a\x00b.mp4", "new\nline.mp4"):
        with pytest.raises(UploadRejected):
            safe_filename(bad)
    assert sniff(b"\0\0\0\x18ftypmp42") == "iso" and sniff(b"\x1a\x45\xdf\xa3\x01") == "ebml"
    assert sniff(b"RIFF\0\0\0\0AVI LIST") == "riff" and sniff(b"<html><body>") is None


def test_a_good_upload_queues_an_analysis(app, client, athlete, clip, tmp_path):
    r = _upload(client, athlete, clip, start=0, end=0.5, notes="warm-up")
    assert r.status_code == 201, r.text
    body = r.json()
    job = client.get(f"/api/jobs/{body['job_id']}").json()
    assert job["status"] == "queued" and job["analysis_id"] == body["analysis_id"]
    assert client.get(f"/api/analyses/{body['analysis_id']}").json()["settings"] == {"start": 0.0, "end": 0.5}
    assert iso_problem(clip) is None
    cancelled = client.post(f"/api/jobs/{body['job_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert _upload(client, athlete, clip, start=3, end=2).status_code == 422
    assert _upload(client, athlete, clip, start=100).status_code == 400  # past the end of the video
    html = client.post(f"/api/athletes/{athlete}/upload", headers=HTML, follow_redirects=False,
                       files={"file": ("clip.mp4", clip.read_bytes(), "video/mp4")})
    assert html.status_code == 303 and html.headers["location"].startswith("/jobs/")  # form without scripts
    assert not list((tmp_path / "data" / "tmp" / "web-uploads").glob("*"))  # temporary copies removed


def test_a_failed_job_shows_its_reason_and_serves_no_file(app, client, athlete, clip):
    """A worker killed mid-way ends as a failed job (the store's recovery); the web app shows the reason in
    one line, offers a retry, and serves none of the analysis' files."""
    body = _upload(client, athlete, clip).json()
    jobs = app.state.store.jobs
    job = jobs.claim("doomed-worker")
    jobs.fail(job.id, "doomed-worker", "/srv/data/tmp/job-1-w/clip.mp4: its worker process was killed (SIGKILL)\n"
              "Traceback (most recent call last):", retry=False)
    state = client.get(f"/api/jobs/{body['job_id']}").json()
    assert state["status"] == "failed"
    assert state["error"] == "clip.mp4: its worker process was killed (SIGKILL)"  # no server path, one line
    page = client.get(f"/analyses/{body['analysis_id']}", headers=HTML)  # redirected to the job page
    assert page.status_code == 200 and "killed" in page.text and "Traceback" not in page.text
    assert client.get(f"/api/analyses/{body['analysis_id']}/files/report.html").status_code == 404
    assert client.post(f"/api/jobs/{body['job_id']}/retry").json()["status"] == "queued"


# --- errors ----------------------------------------------------------------------------------------------------

def test_no_stack_trace_in_a_500(app, client):
    @app.get("/api/boom")
    def boom():
        raise RuntimeError("secret internal detail /etc/passwd")

    @app.get("/boom-page")
    def boom_page():
        raise KeyError("secret")

    for path, headers in (("/api/boom", {}), ("/boom-page", HTML)):
        r = client.get(path, headers=headers)
        assert r.status_code == 500
        assert "Internal error (id " in r.text
        assert "Traceback" not in r.text and "secret" not in r.text and ".py" not in r.text
    assert r.headers["content-type"].startswith("text/html")  # a page for a browser, JSON for the API


def test_store_errors_are_clear_messages(app, client, monkeypatch):
    from sportlens.store import ReadOnlyStoreError, StoreFullError
    from sportlens.store import repo

    for error in (ReadOnlyStoreError("the database is read-only. Make the data folder writable"),
                  StoreFullError("no space left on the device. Free some disk space")):
        def fail(*a, error=error, **k):
            raise error

        monkeypatch.setattr(repo, "add_athlete", fail)
        r = client.post("/api/athletes", json={"name": "Ana"})
        assert r.status_code == 503 and r.json()["detail"] == str(error)


def test_unknown_rows_are_404_pages(client):
    assert client.get("/analyses/999", headers=HTML).status_code == 404
    assert client.get("/api/jobs/999").status_code == 404
    r = client.get("/api/athletes/abc/progress")
    assert r.status_code == 422 and "Traceback" not in r.text


def test_openapi_schema_documents_the_api(client):
    schema = client.get("/api/openapi.json").json()
    assert "/api/athletes/{athlete_id}/upload" in schema["paths"]
    assert "/api/jobs/{job_id}/events" in schema["paths"]
    assert "HTTPBearer" in json.dumps(schema["components"]["securitySchemes"])
    assert not any(p.startswith("/athletes") for p in schema["paths"])  # pages are not API


def test_cli_serve_is_registered_and_issues_scoped_tokens(tmp_path):
    from typer.testing import CliRunner

    importlib.import_module("sportlens.cli.serve")  # registers the command (until cli/__init__ names it)
    from sportlens.cli import app as cli

    runner = CliRunner()
    assert "--database-url" in runner.invoke(cli, ["serve", "--help"]).output
    running = create_app(WebSettings(data_dir=tmp_path / "d", start_workers=False, require_token=True))
    done = runner.invoke(cli, ["serve", "--new-token", "--athlete", "3", "--data-dir", str(tmp_path / "d")])
    assert done.exit_code == 0, done.output
    token = done.stdout.strip().splitlines()[0]
    principal = TokenStore(tmp_path / "d").verify(token)
    assert principal.athletes == frozenset({3}) and not principal.is_admin
    c = TestClient(running, headers={"Authorization": f"Bearer {token}"})  # a running server sees it at once
    assert c.get("/api/athletes").json() == []


# --- a finished analysis (job run in this process) ------------------------------------------------------------

def _run_queued_job(app):
    from sportlens.store.worker import WorkerSettings, run_job

    store = app.state.store
    job = store.jobs.claim("test-worker")
    assert job is not None
    run_job(store, store.jobs, job, "test-worker", WorkerSettings(concurrency=1))
    return store.jobs.get(job.id)


def test_finished_analysis_pages_and_files(app, client, athlete, tmp_path):
    video = make_video(tmp_path / "run.mp4", gradient_frames(15, 96, 64))
    ids = [_upload(client, athlete, video, name=f"run{i}.mp4").json() for i in range(2)]
    for _ in ids:
        assert _run_queued_job(app).status == "done"
    aid = ids[0]["analysis_id"]
    page = client.get(f"/analyses/{aid}", headers=HTML)
    assert page.status_code == 200 and "run0.mp4" in page.text and "No person was detected" in page.text
    series = client.get(f"/api/analyses/{aid}/series").json()
    assert len(series["times"]) == 15 and "left_knee_flexion" in series["angles"]
    assert series["angles"]["left_knee_flexion"][0] is None  # nobody in the frames: gaps, not zeros
    video_file = client.get(f"/api/analyses/{aid}/files/overlay.mp4", headers={"Range": "bytes=0-99"})
    assert video_file.status_code == 206 and len(video_file.content) == 100  # the player can seek
    report = client.get(f"/api/analyses/{aid}/files/report.html")
    assert report.status_code == 200 and "sandbox" in report.headers["content-security-policy"]
    dl = client.get(f"/api/analyses/{aid}/files/angles.csv?download=1")
    assert dl.headers["content-disposition"].startswith("attachment")
    assert client.get(f"/api/analyses/{aid}/files/..%2F..%2Ftokens.json").status_code == 404
    progress = client.get(f"/api/athletes/{athlete}/progress").json()
    assert len(progress["points"]) == 2 and ["detection.rate", "person found (% of frames)"] in progress["metrics"]
    compare = client.get(f"/compare?a={aid}&b={ids[1]['analysis_id']}", headers=HTML)
    assert compare.status_code == 200 and "run1.mp4" in compare.text
    job_page = client.get(f"/jobs/{ids[0]['job_id']}", headers=HTML)
    assert job_page.status_code == 200
    with client.stream("GET", f"/api/jobs/{ids[0]['job_id']}/events") as events:  # ends once the job is done
        text = "".join(events.iter_text())
    assert "event: job" in text and '"status":"done"' in text
    athlete_page = client.get(f"/athletes/{athlete}", headers=HTML).text
    assert athlete_page.count("compare-pick") == 2

    # A reference (published by the admin) is shared with every token; the athlete's other sessions are not.
    ref_analysis, private = ids[1]["analysis_id"], aid
    ref = client.post(f"/api/analyses/{ref_analysis}/reference", json={"name": "Model run", "movement": "run"})
    assert ref.status_code == 201, ref.text
    other = client.post("/api/athletes", json={"name": "Other"}).json()["id"]
    coach = TestClient(app, headers={"Authorization": f"Bearer {app.state.tokens.issue('coach', [other])}"})
    assert [r["name"] for r in coach.get("/api/references").json()] == ["Model run"]
    assert coach.post(f"/api/analyses/{ref_analysis}/reference", json={"name": "x"}).status_code == 403
    assert coach.get(f"/api/analyses/{ref_analysis}/series").status_code == 200
    assert coach.get(f"/api/analyses/{private}/series").status_code == 404
    assert "Model run" in client.get(f"/analyses/{private}", headers=HTML).text  # offered for comparison
    side = client.get(f"/compare?a={private}&ref={ref.json()['id']}", headers=HTML)
    assert side.status_code == 200 and "reference: Model run" in side.text
    assert client.get(f"/compare?a={private}", headers=HTML).status_code == 422


def test_long_angle_tables_are_thinned_for_the_charts(tmp_path):
    from sportlens.web.presenters import MAX_POINTS, angle_series

    n = 3 * MAX_POINTS + 7
    t = np.arange(n) / 30 + 1.5  # the clip started at 1.5 s
    knee = np.where(np.arange(n) % 100 < 10, np.nan, np.sin(t) * 40 + 60)
    csv = tmp_path / "angles.csv"
    csv.write_text("frame,time,left_knee_flexion,left_knee_flexion_vel\n" +
                   "".join(f"{i},{t[i]:.4f},{'' if np.isnan(knee[i]) else knee[i]},0\n" for i in range(n)))
    s = angle_series(csv)
    assert s["step"] == 4 and len(s["times"]) == len(s["angles"]["left_knee_flexion"]) <= MAX_POINTS
    assert s["offset"] == pytest.approx(1.5) and list(s["angles"]) == ["left_knee_flexion"]  # no _vel columns
    assert None in s["angles"]["left_knee_flexion"]  # missing joints stay gaps


def test_presenters_render_scores_feedback_and_risk_flags():
    from types import SimpleNamespace

    from sportlens.web import presenters as P

    a = SimpleNamespace(scores={"overall": 0.8, "phases": {"backswing": 0.65}}, metrics={
        "detection": {"rate": 0.5, "frames": 10}, "duration_s": 2.0, "symmetry": {"knee_flexion": 12.345}})
    rows = dict(P.scores_table(a))
    assert rows["overall"] == "0.80" and rows["phases.backswing"] == "0.65"
    assert rows["person found in"] == "50% of 10 frames" and rows["knee flexion asymmetry"] == "12.3 %"
    assert P.feedback_items([{"message": "Bend the knee more"}, "Keep the trunk upright"]) == [
        "Bend the knee more", "Keep the trunk upright"]
    note, flags = P.risk_flags({"risk_flags": {"note": "Screening cues, not diagnoses", "flags": [
        {"rule": "knee_valgus", "joint": "left_knee", "time": 1.234, "value": 12.5, "threshold": 10, "unit": "deg",
         "basis": "observed", "source": "Hewett 2005"}]}})
    assert note.startswith("Screening") and flags[0]["value"] == "12.5°" and flags[0]["rule"] == "knee valgus"
    assert P.risk_flags({"risk_flags": None}) == ("", [])
    left, right = (SimpleNamespace(metrics={"rom": {"knee": {"rom": r}}}) for r in (120.0, 100.0))
    assert P.compare_table(left, right)[0]["diff"] == "+20.0"  # left minus right, like the DTW deviations
    assert P.movement({"segments": [{"label": "unknown", "start": 0, "end": 5},
                                    {"label": "squat", "start": 5, "end": 6}]}) == "squat"


# --- comparison by DTW (synthetic sessions: keypoints with a known knee angle) ---------------------------------

def _synthetic_analysis(app, athlete_id: int, track, name: str, tmp_path, overlay_key: str | None = None) -> int:
    """A finished analysis whose stored keypoints.parquet is ``track`` (no video pipeline: the comparison only
    reads keypoints); ``app`` may be a store. ``overlay_key``: an existing artifact shown as its overlay video.
    Returns the analysis id."""
    from sportlens.assess.reference import write_keypoints
    from sportlens.store.models import AnalysisFile

    store = getattr(getattr(app, "state", None), "store", app)
    parquet = tmp_path / f"{name}.parquet"
    write_keypoints(track, parquet)
    with store.session() as db:
        video = store.add_artifact(db, f"not decoded: {name}".encode(), "video/mp4")
        kp = store.add_artifact(db, parquet, "application/vnd.apache.parquet")
        s = Session(athlete_id=athlete_id, video_key=video.key, original_name=name, size_bytes=video.size,
                    duration_s=float(track.times[-1]), fps=30.0)
        db.add(s)
        db.flush()
        a = Analysis(session_id=s.id, status="done", settings={}, metrics={}, keypoints_key=kp.key)
        db.add(a)
        db.flush()
        db.add(AnalysisFile(analysis_id=a.id, name="keypoints.parquet", artifact_key=kp.key))
        if overlay_key:
            db.add(AnalysisFile(analysis_id=a.id, name="overlay.mp4", artifact_key=overlay_key))
        return a.id


@pytest.fixture
def squats(app, athlete, tmp_path):
    """Analyses: "deep" (knee 20° more bent all along, 2 s), "model" (3 s: another tempo), "copy" of the model."""
    from sportlens.web.comparison import clear_cache
    from tests.test_reference_compare import squat_track

    clear_cache()
    return {"deep": _synthetic_analysis(app, athlete, squat_track(2.0, knee_extra=20.0), "deep.mp4", tmp_path),
            "model": _synthetic_analysis(app, athlete, squat_track(3.0), "model.mp4", tmp_path),
            "copy": _synthetic_analysis(app, athlete, squat_track(3.0), "copy.mp4", tmp_path)}


def _joint_cells(html: str, joint: str) -> list[str]:
    import re

    row = re.search(rf"<tr><td>{joint}</td>(.*?)</tr>", html, re.S)
    assert row, f"no row for {joint}"
    return re.findall(r"<td>(.*?)</td>", row.group(1))


def test_compare_aligns_two_sessions_by_dtw_and_reads_the_knee_difference(client, squats):
    r = client.get(f"/compare?a={squats['deep']}&b={squats['model']}", headers=HTML)
    assert r.status_code == 200, r.text
    html = r.text
    assert "No score" not in html
    score = float(html.split('id="compare-score">')[1].split("<")[0])
    assert 60 < score < 90  # knee and ankle 20° off (per-joint 50), the rest equal despite 2 s vs 3 s
    knee = _joint_cells(html, "left knee flexion")  # score, mean |dev|, mean dev, ROM left, ROM right, ...
    assert float(knee[0]) == pytest.approx(50, abs=1) and float(knee[2]) == pytest.approx(20, abs=0.5)
    hip = _joint_cells(html, "left hip flexion")
    assert abs(float(hip[2])) < 0.5 and float(hip[0]) > 95  # tempo differs, shape does not: DTW aligned it
    assert "Left knee flexion at the bottom was 120°, the reference (model.mp4, " in html  # feedback sentences
    charts = html.count('<svg class="line-chart aligned"')
    assert charts == html.count('class="series reference"') == html.count('class="series athlete"') >= 4
    assert "data-map='[[0.0, 0.0]" in html  # aligned seek map starts at both clips' start

    back = client.get(f"/compare?a={squats['model']}&b={squats['deep']}", headers=HTML).text
    assert float(_joint_cells(back, "left knee flexion")[2]) == pytest.approx(-20, abs=0.5)  # left minus right


def test_compare_with_the_same_movement_scores_100(client, squats):
    html = client.get(f"/compare?a={squats['copy']}&b={squats['model']}", headers=HTML).text
    assert 'id="compare-score">100.0<' in html and "No deviation worth telling" in html


def test_compare_with_a_stored_reference_uses_its_keypoints(client, squats):
    ref = client.post(f"/api/analyses/{squats['model']}/reference", json={"name": "Coach squat", "movement": "squat"})
    assert ref.status_code == 201, ref.text
    html = client.get(f"/compare?a={squats['deep']}&ref={ref.json()['id']}", headers=HTML).text
    assert "reference: Coach squat" in html and "the reference (Coach squat) reaches 100°" in html


def test_a_refused_comparison_shows_the_reason_not_a_score(app, client, athlete, squats, tmp_path, monkeypatch):
    from sportlens.web import comparison
    from tests.test_reference_compare import squat_track

    gappy = squat_track(3.0)
    gappy.keypoints[40:57, :, :] = np.nan  # the person lost for 0.57 s (81% of frames seen): too long to invent
    gap = _synthetic_analysis(app, athlete, gappy, "gap.mp4", tmp_path)
    html = client.get(f"/compare?a={gap}&b={squats['model']}", headers=HTML).text
    assert 'id="compare-refused"' in html and "is missing for 0.57 s in a row" in html
    assert "compare-score" not in html and "Traceback" not in html
    with app.state.store.session() as db:  # an analysis without keypoints (nobody tracked)
        db.get(Analysis, squats["copy"]).keypoints_key = None
    html = client.get(f"/compare?a={squats['copy']}&b={squats['model']}", headers=HTML).text
    assert "No score: the left session has no stored keypoints" in html
    monkeypatch.setattr(comparison, "MAX_CELLS", 60 * 90 - 1)  # the web page's bound on the DTW matrix
    html = client.get(f"/compare?a={squats['deep']}&b={squats['model']}", headers=HTML).text
    assert "No score: 60 x 90 frames is too long to align here" in html
    with app.state.store.session() as db:  # a file lost from the data folder (store verify lists it)
        app.state.store.artifacts.path(db.get(Analysis, squats["model"]).keypoints_key).unlink()
    html = client.get(f"/compare?a={squats['deep']}&b={squats['model']}", headers=HTML).text
    assert "No score: a stored keypoints file is missing" in html and str(tmp_path) not in html


def test_comparisons_are_cached_per_pair(client, squats, monkeypatch):
    import sportlens.assess.compare as compare_module

    calls = []
    real = compare_module.compare_tracks
    monkeypatch.setattr(compare_module, "compare_tracks", lambda *a, **k: calls.append(1) or real(*a, **k))
    for _ in range(3):
        assert client.get(f"/compare?a={squats['deep']}&b={squats['model']}", headers=HTML).status_code == 200
    assert len(calls) == 1
    client.get(f"/compare?a={squats['copy']}&b={squats['model']}", headers=HTML)
    assert len(calls) == 2
