from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from casework.health import health


@never_cache
@require_GET
def healthz(request):
    ok, parts = health()
    return JsonResponse({"status": "ok" if ok else "down", **parts}, status=200 if ok else 503)
