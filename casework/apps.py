from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = "Casework"

    def ready(self) -> None:
        # checks: registers the system checks; signals: connects the hooks; tasks: registers
        # the tasks with the Celery app, which casework.queue looks them up in by name.
        from casework import checks, signals, tasks  # noqa: F401
