"""Settings from the environment: development keys, production hardening, bad values."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.keys import decode_key, dev_key
from config.logmask import MaskTokensFilter
from config.mailurl import OUTBOX_BACKEND, email_config

ROOT = settings.BASE_DIR


def load_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with exactly this environment."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DSAR_", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"))
    }
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS if hasattr(s, 'SECURE_HSTS_SECONDS') else 0, s.DSAR_STAFF_OTP_REQUIRED, s.CELERY_BROKER_URL.split(':')[0], s.CACHES['default']['BACKEND'])"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_development_keys_are_generated_once_and_shared(tmp_path):
    first = dev_key(tmp_path, "dsar_audit_key")
    assert dev_key(tmp_path, "dsar_audit_key") == first
    assert len(decode_key(first, name="x")) == 32
    assert oct((tmp_path / "dsar_audit_key").stat().st_mode)[-3:] == "600"


def test_every_process_sees_the_same_development_keys(tmp_path):
    env = {"DSAR_VAR_DIR": str(tmp_path)}
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); from django.conf import settings as s; print(s.SECRET_KEY, s.DSAR_AUDIT_KEY.hex(), s.DSAR_BUNDLE_KEY.hex())"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DSAR_", "SECRET_KEY"))}
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**base, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for _ in range(2)
    }
    assert len(outs) == 1


def test_secure_mode_refuses_to_start_without_keys_from_the_environment(tmp_path):
    result = load_settings({"DSAR_SECURE": "1", "DSAR_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_secure_mode_hardens_cookies_hsts_and_staff_second_factor(tmp_path):
    result = load_settings(
        {
            "DSAR_SECURE": "1",
            "DSAR_VAR_DIR": str(tmp_path),
            "SECRET_KEY": "x" * 50,
            "DSAR_BUNDLE_KEY": key(),
            "DSAR_AUDIT_KEY": key(),
        }
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == ["True", "31536000", "True"]


def test_a_malformed_master_key_fails_at_start(tmp_path):
    result = load_settings({"DSAR_VAR_DIR": str(tmp_path), "DSAR_BUNDLE_KEY": "too-short"})
    assert result.returncode != 0
    assert "DSAR_BUNDLE_KEY" in result.stderr


def test_a_visibility_timeout_shorter_than_the_longest_task_fails_at_start(tmp_path):
    result = load_settings({"DSAR_VAR_DIR": str(tmp_path), "DSAR_VISIBILITY_TIMEOUT": "60"})
    assert result.returncode != 0
    assert "DSAR_VISIBILITY_TIMEOUT" in result.stderr


def test_without_redis_the_broker_is_the_filesystem_and_the_cache_the_database(tmp_path):
    result = load_settings({"DSAR_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[3:] == [
        "filesystem",
        "django.core.cache.backends.db.DatabaseCache",
    ]


def test_with_redis_the_broker_and_cache_use_it(tmp_path):
    result = load_settings({"DSAR_VAR_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:6379/3"})
    assert result.stdout.split()[3:] == ["redis", "django.core.cache.backends.redis.RedisCache"]


def test_times_are_shown_in_the_controllers_time_zone(tmp_path):
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); from django.conf import settings as s; print(s.TIME_ZONE, s.USE_TZ)"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DSAR_", "SECRET_KEY"))}
    for zone, expected in ((None, "Europe/Tirane"), ("America/Los_Angeles", "America/Los_Angeles")):
        env = {"DSAR_VAR_DIR": str(tmp_path), **({"DSAR_TIME_ZONE": zone} if zone else {})}
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**base, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [expected, "True"]  # stored in UTC all the same


def test_an_unknown_time_zone_fails_at_start(tmp_path):
    result = load_settings({"DSAR_VAR_DIR": str(tmp_path), "DSAR_TIME_ZONE": "Mars/Olympus"})
    assert result.returncode != 0
    assert "Mars/Olympus" in result.stderr


def test_celery_is_configured_for_reliability():
    from config.celery import app

    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"


def test_tokens_in_logged_paths_are_masked():
    record = logging.LogRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "Not Found: %s",
        ("/en/verify/" + "A" * 43 + "/",),
        None,
    )
    MaskTokensFilter().filter(record)
    assert "A" * 43 not in record.getMessage()
    assert "[token]" in record.getMessage()


def test_long_words_that_are_not_paths_are_logged_as_they_are():
    # Celery's "Task %(name)s[%(id)s] succeeded ...": a task's name and id carry no link.
    task = "casework.tasks.send_deadline_reminders"
    task_id = "3f1c2a9e-1b7d-4c55-9f0e-2a8b6c4d1e90"
    record = logging.LogRecord(
        "celery.app.trace",
        logging.INFO,
        __file__,
        1,
        "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s",
        None,
        None,
    )
    record.args = {"name": task, "id": task_id, "runtime": 0.01, "return_value": "'ready'"}
    MaskTokensFilter().filter(record)
    assert record.getMessage() == f"Task {task}[{task_id}] succeeded in 0.01s: 'ready'"
    link = logging.LogRecord(
        "casework", logging.INFO, __file__, 1, "%s then %s", (task, "/en/status/" + "B" * 43), None
    )
    MaskTokensFilter().filter(link)
    assert link.getMessage() == f"{task} then /en/status/[token]"


@pytest.mark.django_db
def test_staff_need_a_second_factor_when_required(client, alice, settings):
    client.force_login(alice)
    assert client.get("/admin/casework/case/").status_code == 200
    settings.DSAR_STAFF_OTP_REQUIRED = True
    response = client.get("/admin/casework/case/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    login_page = client.get("/admin/login/")
    assert b"otp_token" in login_page.content or b"otp_device" in login_page.content


@pytest.mark.django_db
def test_staff_with_a_totp_device_get_in_with_the_second_factor(client, alice, settings):
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.DSAR_STAFF_OTP_REQUIRED = True
    device = TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    password = "correct horse battery staple"
    refused = client.post(
        "/admin/login/",
        {
            "username": "alice",
            "password": password,
            "otp_token": "000000",
            "otp_device": device.persistent_id,
        },
    )
    assert refused.status_code == 200  # the form again, with an error
    assert client.get("/admin/casework/case/").status_code == 302
    device.refresh_from_db()
    device.throttle_reset()  # django-otp slows down guessing after a wrong token
    token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    client.post(
        "/admin/login/",
        {
            "username": "alice",
            "password": password,
            "otp_token": f"{token:06d}",
            "otp_device": device.persistent_id,
        },
    )
    assert client.get("/admin/casework/case/").status_code == 200


def settings_value(env: dict[str, str], expression: str) -> subprocess.CompletedProcess:
    """`expression` (of `s`, the settings, and `os`) in a fresh interpreter with `env`."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DSAR_", "SECRET_KEY", "EMAIL_URL", "SUPPORTDESK_TOKEN"))
    }
    code = f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); from django.conf import settings as s; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_filemail_url_names_an_absolute_folder():
    assert email_config("filemail:///srv/mail") == {
        "EMAIL_BACKEND": OUTBOX_BACKEND,
        "EMAIL_FILE_PATH": "/srv/mail",
    }
    assert email_config("filemail:////srv/mail")["EMAIL_FILE_PATH"] == "/srv/mail"


@pytest.mark.parametrize("url", ["filemail://var/mail", "filemail://", "filemail:mail"])
def test_a_filemail_url_without_an_absolute_folder_is_refused(url):
    with pytest.raises(ImproperlyConfigured, match="needs an absolute one"):
        email_config(url)


def test_other_email_urls_are_read_as_before():
    config = email_config("smtp+tls://user:secret@mail.demo.example:587")
    assert config["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (config["EMAIL_HOST"], config["EMAIL_PORT"], config["EMAIL_USE_TLS"]) == (
        "mail.demo.example",
        587,
        True,
    )


def test_a_relative_filemail_url_fails_at_start_with_a_clear_message(tmp_path):
    result = settings_value(
        {"DSAR_VAR_DIR": str(tmp_path), "EMAIL_URL": "filemail://srv/mail"}, "s.EMAIL_FILE_PATH"
    )
    assert result.returncode != 0
    assert "'srv/mail'; a filemail URL needs an absolute one" in result.stderr


def test_development_mail_goes_to_the_outbox_under_var_mail(tmp_path):
    result = settings_value({"DSAR_VAR_DIR": str(tmp_path)}, "s.EMAIL_BACKEND, s.EMAIL_FILE_PATH")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [OUTBOX_BACKEND, str(tmp_path / "mail")]


def test_every_command_reads_the_demo_desk_token_from_var_keys(tmp_path):
    # As `make run` does (config/devserver.py): `check_connectors` from a second shell, or a
    # worker, finds the same token the demo support desk was started with.
    result = settings_value({"DSAR_VAR_DIR": str(tmp_path)}, "os.environ['SUPPORTDESK_TOKEN']")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == dev_key(tmp_path / "keys", "supportdesk_token")


def test_an_empty_supervisory_authority_name_fails_at_start(tmp_path):
    result = load_settings({"DSAR_VAR_DIR": str(tmp_path), "DSAR_AUTHORITY_NAME_EN": " "})
    assert result.returncode != 0
    assert "DSAR_AUTHORITY_NAME_SQ and DSAR_AUTHORITY_NAME_EN must not be empty" in result.stderr


def test_the_laws_are_read_from_the_environment_separated_by_bars(tmp_path):
    env = {
        "DSAR_VAR_DIR": str(tmp_path),
        "DSAR_LAWS_EN": "Regulation (EU) 2016/679, GDPR | Law No. 1/2030",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    code = "import django; django.setup(); from django.conf import settings as s; print(s.DSAR_LAWS['en'])"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['Regulation (EU) 2016/679, GDPR', 'Law No. 1/2030']"
