from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = "Casework"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        # checks: registers the system checks; signals: connects the hooks; tasks: registers
        # the tasks with the Celery app, which casework.queue looks them up in by name.
        from casework import checks, signals, tasks  # noqa: F401
        from casework.rollups import register_sqlite_functions

        # The SQLite triggers of the dashboard's rollups call two functions of ours.
        connection_created.connect(register_sqlite_functions, dispatch_uid="dsar_rollups")
