"""Security headers for the portal's pages (DESIGN.md, "Security").

- Content-Security-Policy: only our own files; no inline scripts or styles, no frames, and
  forms post only to us. The portal runs no script at all.
- Referrer-Policy: no-referrer on every page that carries a token in its URL (verification,
  status, download), so that a link followed from them cannot pass it on; same-origin on the
  others. Browsers send `Origin: null` with a form posted from a no-referrer page, which
  Django's CSRF check refuses: the views that take those posts are CSRF-exempt, because the
  secret token they require (256 bits, e-mailed to the subject) is itself what an attacker
  cannot forge.
- Cache-Control: no-store, so that no shared or browser cache keeps a page with a token, a
  case's details or a download.

The admin's pages (and the dashboard's, inside the admin) get a Content-Security-Policy too
(its own: inline style allowed, scripts only from our files). HSTS and secure cookies follow
DSAR_SECURE in settings, for every page.
"""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# The admin: scripts only from our own files, as on the portal; inline style (the admin's own
# templates and our badges use style attributes) is the one allowance.
ADMIN_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


class PortalSecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is not None and "portal" in match.namespaces:
            response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            carries_token = "token" in match.kwargs
            response.headers["Referrer-Policy"] = "no-referrer" if carries_token else "same-origin"
            add_never_cache_headers(response)
        elif match is not None and {"admin", "dashboard"} & set(match.namespaces):
            response.headers["Content-Security-Policy"] = ADMIN_CONTENT_SECURITY_POLICY
        return response
