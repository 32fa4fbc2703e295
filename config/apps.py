from django.contrib.admin.apps import AdminConfig


class DsarAdminConfig(AdminConfig):
    default_site = "config.admin_site.DsarAdminSite"
