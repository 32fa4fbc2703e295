"""The first hour on `make run`'s own defaults, in real Chromium: the processes `make run` starts
(config.devserver: gunicorn, the workers, beat and the demo support desk) on a fresh var folder,
with none of the suite's settings: SQLite, the filesystem broker, mail in the Outbox. A newcomer
files a request on the portal, signs in with the password the banner printed, reads the
confirmation e-mail in the Outbox, follows its link and confirms the request; the worker then
starts searching the demo systems for her."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from casework import outbox
from tests.browser.conftest import artifacts_dir, screenshot
from tests.browser.test_portal_browser import EMAIL, fill_access_request, texts

ROOT = Path(settings.BASE_DIR)
BANNER_PASSWORD = "Staff logins above (password: "
START_TIMEOUT = 240  # migrations and the demo on a fresh SQLite file, on two slow cores


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MakeRun:
    """`python -m config.devserver` (what `make run` runs) in a session of its own."""

    def __init__(self, var_dir: Path):
        self.var_dir = var_dir
        self.port = free_port()
        # Nothing of the suite's own settings: `make run`'s embedded defaults only.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("DSAR_", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CACHE_URL", "EMAIL_URL")
            )
            and k != "SITE_URL"
        }
        env.update(
            DSAR_VAR_DIR=str(var_dir),
            DSAR_PORT=str(self.port),
            DSAR_DEMO_SUPPORTDESK_PORT=str(free_port()),
            DSAR_DEMO_SUBJECTS="5",
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "config.devserver"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for_banner(self, timeout: float) -> str:
        """The staff password, from the banner printed once everything runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.output.append(line)
            if BANNER_PASSWORD in line:
                return line.split(BANNER_PASSWORD, 1)[1].split(")", 1)[0]
        raise AssertionError("make run printed no banner:\n" + "".join(self.output[-60:]))

    def stop(self) -> None:
        """As Ctrl-C does: the devserver stops its processes; whatever is left is killed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        log = artifacts_dir() / "make-run.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(self.output))

    def case_state(self) -> str:
        with closing(sqlite3.connect(self.var_dir / "dsar.sqlite3", timeout=10)) as db:
            row = db.execute("SELECT state FROM casework_case WHERE email = ?", (EMAIL,)).fetchone()
        return row[0] if row else ""


@pytest.fixture
def make_run(tmp_path):
    server = MakeRun(tmp_path / "var")
    try:
        password = server.wait_for_banner(START_TIMEOUT)
        yield server, f"http://127.0.0.1:{server.port}", password
    finally:
        server.stop()


def test_a_newcomer_finishes_the_portal_flow_on_make_runs_defaults(make_run, page):
    server, site, password = make_run
    words = texts("en")
    page.set_default_timeout(30_000)  # the first pages of a freshly started server

    page.goto(f"{site}/en/request/")
    fill_access_request(page, words, company="Drini Print Sh.p.k.")
    page.get_by_role("button", name=words["send"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["sent"])

    # The worker sends the confirmation e-mail into var/mail/, which the Outbox shows.
    mail = server.var_dir / "mail"

    def confirmations():
        if not mail.is_dir():
            return []
        return [
            m
            for m in outbox.outbox_messages(folder=mail)
            if EMAIL in m.to and "/en/verify/" in m.text
        ]

    deadline = time.monotonic() + 90
    while not confirmations():
        assert time.monotonic() < deadline, "no confirmation e-mail reached the outbox"
        time.sleep(0.5)
    (message,) = confirmations()
    assert message.case_references

    page.goto(f"{site}/admin/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Outbox").click()
    page.get_by_role("link", name=message.subject).click()
    screenshot(page, "make-run-01-outbox-message")

    link = page.locator("#outbox-message-text a", has_text="/en/verify/")
    expect(link).to_have_count(1)
    assert link.get_attribute("href").startswith(f"{site}/en/verify/")  # this server, intact
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["confirm"])
    page.get_by_role("button", name=words["yes"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["confirmed"])
    screenshot(page, "make-run-02-confirmed")

    # Confirmed: the worker takes the case on into gathering and beyond.
    deadline = time.monotonic() + 90
    while server.case_state() in ("", "unverified", "verified"):
        assert time.monotonic() < deadline, f"the case stayed {server.case_state()!r}"
        time.sleep(0.5)
