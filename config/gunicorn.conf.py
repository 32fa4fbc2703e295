"""Gunicorn settings for the web container: `gunicorn -c config/gunicorn.conf.py config.wsgi:application`.

The access log goes to stdout with tokens masked (config/logmask.py): verification, status and
download links carry a token in the URL, and a log must not keep it. The format leaves out the
client address and user name (personal data; DESIGN.md, "no personal data in logs").
"""

import os

from gunicorn.glogging import Logger

from config.logmask import mask_path, mask_query

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so that a slow leak cannot grow for ever.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "100"))
# The worker heartbeat file on tmpfs: an overlay filesystem can stall it.
_SHM = "/dev/shm"  # noqa: S108 - gunicorn's own per-worker files, not shared temp data
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None
# No control socket (newer gunicorn): nothing uses it, and the non-root user's home is read-only.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'


class MaskingLogger(Logger):
    """gunicorn's logger, with tokens masked in every atom that carries a path or a URL."""

    # environ atoms ("{name}e") holding a path, a request target or a URL
    URL_ENVIRON_ATOMS = ("{raw_uri}e", "{request_uri}e", "{path_info}e", "{http_referer}e")

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        raw_uri = environ.get("RAW_URI") or environ.get("PATH_INFO") or ""
        atoms["r"] = "{} {} {}".format(
            environ.get("REQUEST_METHOD", "-"),
            mask_path(raw_uri),
            environ.get("SERVER_PROTOCOL", "-"),
        )
        if atoms.get("U"):
            atoms["U"] = mask_path(atoms["U"])
        if atoms.get("q"):
            atoms["q"] = mask_query(atoms["q"])
        if atoms.get("f") and atoms["f"] != "-":
            atoms["f"] = mask_path(atoms["f"])
        for key in self.URL_ENVIRON_ATOMS:
            if isinstance(atoms.get(key), str):
                atoms[key] = mask_path(atoms[key])
        if isinstance(atoms.get("{query_string}e"), str):
            atoms["{query_string}e"] = mask_query(atoms["{query_string}e"])
        if isinstance(atoms.get("{referer}i"), str):
            atoms["{referer}i"] = mask_path(atoms["{referer}i"])
        return atoms


logger_class = MaskingLogger
