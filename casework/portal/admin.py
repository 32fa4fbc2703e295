"""The table of regimes by country, editable by staff. Registered from casework.portal.urls
(loaded by config/urls.py before the admin builds its URLs)."""

from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from casework.models import CountryRegime


@admin.register(CountryRegime)
class CountryRegimeAdmin(admin.ModelAdmin):
    list_display = ["country", "regime_shown", "note"]
    list_filter = ["regime"]
    search_fields = ["country", "note"]
    ordering = ["country"]

    @admin.display(description=_("regime"), ordering="regime")
    def regime_shown(self, obj: CountryRegime) -> str:
        if obj.regime:
            return obj.get_regime_display()
        return _("default (%(regime)s)") % {"regime": settings.DSAR_DEFAULT_REGIME}
