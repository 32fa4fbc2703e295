"""Tokens never reach the access log: config/logmask.py and the gunicorn logger class."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import sys
from pathlib import Path

import pytest
from gunicorn.app.base import Application
from gunicorn.glogging import Logger

from config.logmask import mask_path, mask_query

GUNICORN_CONF = Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"

TOKEN = secrets.token_urlsafe(16)  # 22 characters, as the product's links carry
TOKEN_WITH_DASHES = "AbC-dEf_123-456_xyZ-09"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/en/status/{TOKEN}/", "/en/status/[token]/"),
        (f"/sq/verify/{TOKEN_WITH_DASHES}", "/sq/verify/[token]"),
        (f"/en/download/{TOKEN}.zip", "/en/download/[token].zip"),
        (f"/{TOKEN}/{TOKEN}/", "/[token]/[token]/"),
        ("/en/x/" + "a" * 20 + "/", "/en/x/[token]/"),
    ],
)
def test_it_masks_tokens_in_paths(path, expected):
    assert mask_path(path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/en/verify/?token={TOKEN}", "/en/verify/?token=[redacted]"),
        ("/en/verify/?code=123456&lang=sq", "/en/verify/?code=[redacted]&lang=sq"),
        ("/en/s/?t=abc&page=2", "/en/s/?t=[redacted]&page=2"),
        (f"/en/verify/?TOKEN={TOKEN}", "/en/verify/?TOKEN=[redacted]"),
        ("/en/verify/?token=", "/en/verify/?token=[redacted]"),
        (f"/en/status/{TOKEN}/?code=99&t=1", "/en/status/[token]/?code=[redacted]&t=[redacted]"),
        (f"/en/x/?next=/en/status/{TOKEN}/", "/en/x/?next=/en/status/[token]/"),
    ],
)
def test_it_redacts_token_values_in_query_strings(path, expected):
    assert mask_path(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/en/request/",
        "/sq/request/",
        "/admin/casework/case/12/change/",
        "/admin/casework/case/?q=smith&page=2&o=-1",
        "/admin/login/?next=/admin/",
        "/static/admin/css/base.css",
        "/healthz",
        "/",
        "",
        "/en/x/" + "a" * 19 + "/",  # one short of a token
        "/en/report/2024-05-01/",
    ],
)
def test_it_leaves_ordinary_paths_alone(path):
    assert mask_path(path) == path


def test_it_keeps_the_scheme_and_host_of_a_full_url():
    referer = f"https://privacy.demo.example/en/status/{TOKEN}/?token={TOKEN}"
    assert mask_path(referer) == "https://privacy.demo.example/en/status/[token]/?token=[redacted]"


def test_mask_query_keeps_keys_without_values_and_ordinary_pairs():
    assert mask_query("a=1&flag&code=42") == "a=1&flag&code=[redacted]"
    assert mask_query("") == ""


# --- the gunicorn logger class ------------------------------------------------------------------


class ConfigOnly(Application):
    """Loads config/gunicorn.conf.py the way `gunicorn -c` does, and serves nothing."""

    def __init__(self, path: Path):
        self.path = path
        super().__init__()

    def load_config(self):
        self.load_config_from_file(str(self.path))

    def load(self):  # pragma: no cover - never served
        raise AssertionError("not a server")


@pytest.fixture
def gunicorn_cfg(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    app = ConfigOnly(GUNICORN_CONF)
    yield app.cfg
    sys.modules.pop("__config__", None)  # gunicorn registers the file under this name


@pytest.fixture
def access_records(gunicorn_cfg):
    """The masking logger, set up from the real config file, and what its access log receives."""
    logger = gunicorn_cfg.logger_class(gunicorn_cfg)
    records: list[logging.LogRecord] = []

    class ListHandler(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = ListHandler()
    logger.access_log.addHandler(handler)
    yield logger, records
    for log in (logger.access_log, logger.error_log):
        for h in list(log.handlers):
            log.removeHandler(h)


class FakeResponse:
    status = "200 OK"
    sent = 512
    headers = [("Content-Type", "text/html")]


class FakeRequest:
    def __init__(self, headers):
        self.headers = headers


def request_environ(raw_uri: str, referer: str = "-") -> dict:
    path, _, query = raw_uri.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "RAW_URI": raw_uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.7",
        "HTTP_USER_AGENT": "pytest",
        "HTTP_REFERER": referer,
    }


def log_one(logger, raw_uri: str, referer: str = "-") -> None:
    environ = request_environ(raw_uri, referer)
    request = FakeRequest([("USER-AGENT", "pytest"), ("REFERER", referer)])
    logger.access(FakeResponse(), request, environ, dt.timedelta(seconds=0, microseconds=1500))


def test_the_config_file_sets_up_the_server(gunicorn_cfg):
    assert gunicorn_cfg.address == [("0.0.0.0", 8000)]
    assert gunicorn_cfg.workers == 3
    assert gunicorn_cfg.timeout > 30
    assert gunicorn_cfg.accesslog == "-"
    assert issubclass(gunicorn_cfg.logger_class, Logger)
    assert gunicorn_cfg.logger_class is not Logger


def test_workers_come_from_web_concurrency(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    try:
        assert ConfigOnly(GUNICORN_CONF).cfg.workers == 5
    finally:
        sys.modules.pop("__config__", None)


def test_the_access_log_masks_tokens_in_path_query_and_referer(access_records):
    logger, records = access_records
    log_one(
        logger,
        f"/en/status/{TOKEN}/?token={TOKEN}&code=123456&lang=sq",
        referer=f"https://privacy.demo.example/en/verify/{TOKEN}/",
    )

    assert len(records) == 1
    line = records[0].getMessage()
    assert TOKEN not in line
    assert "123456" not in line
    assert '"GET /en/status/[token]/?token=[redacted]&code=[redacted]&lang=sq HTTP/1.1" 200' in line
    assert "https://privacy.demo.example/en/verify/[token]/" in line


def test_the_access_log_leaves_out_the_client_address(access_records):
    logger, records = access_records
    log_one(logger, "/en/request/")
    assert "203.0.113.7" not in records[0].getMessage()


def test_every_url_atom_is_masked(gunicorn_cfg, access_records):
    logger, records = access_records
    gunicorn_cfg.set(
        "access_log_format",
        "%(r)s|%(U)s|%(q)s|%(f)s|%({raw_uri}e)s|%({path_info}e)s|%({query_string}e)s"
        "|%({http_referer}e)s|%({referer}i)s",
    )
    log_one(logger, f"/en/status/{TOKEN}/?t={TOKEN}", referer=f"/en/status/{TOKEN}/")

    line = records[0].getMessage()
    assert TOKEN not in line
    r, u, q, f, raw_uri, path_info, query_string, env_referer, header_referer = line.split("|")
    assert r == "GET /en/status/[token]/?t=[redacted] HTTP/1.1"
    assert u == path_info == "/en/status/[token]/"
    assert q == query_string == "t=[redacted]"
    assert raw_uri == "/en/status/[token]/?t=[redacted]"
    assert f == env_referer == header_referer == "/en/status/[token]/"


def test_ordinary_requests_are_logged_as_they_are(access_records):
    logger, records = access_records
    log_one(logger, "/admin/casework/case/12/change/?_changelist_filters=q%3Dsmith")
    assert (
        '"GET /admin/casework/case/12/change/?_changelist_filters=q%3Dsmith HTTP/1.1" 200'
        in records[0].getMessage()
    )
