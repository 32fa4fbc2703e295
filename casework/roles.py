"""Staff roles: Django groups with the least privilege each needs.

One place for the matrix; the data migration, the post-migrate hook (which restores the groups
after a test flush) and the tests all read it.
"""

from django.conf import settings

PRIVACY_TEAM = "privacy_team"
DPO = "dpo"
AUDITOR = "auditor"
ADMINISTRATOR = "administrator"
SYSTEM = "system"
# Machine clients (other company systems) that file requests through the API and follow them.
INTAKE = "intake"

SYSTEM_USERNAME = "system"

# Transition permissions (codenames on casework.Case, declared in Case.Meta.permissions).
DAY_TO_DAY = [
    "verify_case",
    "ask_subject",
    "record_answer",
    "proceed_without_source",
    "add_identifier",
    "prepare_plan",
    "approve_case",
    "fulfil_case",
    "withdraw_case",
    "merge_case",
    "assign_case",
    "record_response",
    "lift_restriction",
    "lift_objection",
]
RUN_PERMS = [
    "casework.review_records",
    "casework.build_bundle",
    "casework.view_bundle",
    "casework.view_recorddecision",
    "casework.view_connectorrun",
    "casework.retry_run",
    "casework.complete_manual_run",
    "casework.view_caseidentifier",
    "casework.change_caseidentifier",
    "casework.view_fulfilmentplan",
    "casework.view_fulfilmentaction",
    "casework.view_plankeep",
    "casework.view_optout",
]
DPO_ONLY = [
    "reject_case",
    "extend_deadline",
    "revoke_release",
    "decide_objection",
    "view_confidential",
    "manage_confidential",
    "hold_case",
]
SYSTEM_ONLY = ["start_gathering", "mark_gathered", "expire_case"]

# The table of regimes by country (the portal reads it): the DPO and the administrator keep it.
REGIME_TABLE_PERMS = [
    f"casework.{action}_countryregime" for action in ("view", "add", "change", "delete")
]

# Form submissions a worker could not open (casework.PortalSubmission): the privacy team looks
# at them, puts them back in the queue, or deletes spam.
SUBMISSION_PERMS = [
    f"casework.{action}_portalsubmission" for action in ("view", "change", "delete")
]

# Letters to post (notices for subjects who may not be e-mailed): the privacy team and the DPO
# print them and mark them posted.
LETTER_PERMS = ["casework.view_postalletter", "casework.change_postalletter"]

# Possible breaches (casework.BreachRecord): the DPO assesses them, the auditor reads them.
BREACH_PERMS = ["casework.view_breachrecord", "casework.change_breachrecord"]
BREACH_ASSESS = "casework.assess_breach"

# Roles that work cases are given by two people: an administrator or a DPO confirms.
ROLE_GRANT_PERMS = ["casework.view_rolegrant", "casework.change_rolegrant"]

# Beat's schedules (casework/admin/schedules.py): the administrator changes their interval and
# whether they run; the intervals are rows the change points at.
SCHEDULE_PERMS = [
    "django_celery_beat.view_periodictask",
    "django_celery_beat.change_periodictask",
    "django_celery_beat.view_intervalschedule",
    "django_celery_beat.add_intervalschedule",
]

# Authorised agents of the Data Rights Protocol (casework/drp/): the administrator keeps them
# (keys, addresses, trust policy) and watches the callbacks' delivery; the requests are case
# data (those who read cases see them); the DPO reads all three.
DRP_AGENT_PERMS = [
    "casework.view_drpagent",
    "casework.add_drpagent",
    "casework.change_drpagent",
    "casework.view_drpcallback",
]
DRP_READ = ["casework.view_drpagent", "casework.view_drprequest", "casework.view_drpcallback"]

_CASE_READ = [
    "casework.view_case",
    "casework.view_auditevent",
    "casework.view_casenote",
    "casework.view_drprequest",
]
# What the reminder job sent (reminders, escalations, receipt confirmations, daily digests):
# the DPO, who is escalated to, and the auditor read it.
REMINDERS_SENT = ["casework.view_reminder", "casework.view_digestsent"]
# The dashboard (casework.dashboard): the DPO, the privacy team and the auditor.
DASHBOARD = "casework.view_dashboard"

ROLE_PERMISSIONS: dict[str, list[str]] = {
    PRIVACY_TEAM: [
        *_CASE_READ,
        DASHBOARD,
        "casework.add_case",
        "casework.change_case",
        "casework.add_casenote",
        *(f"casework.{c}" for c in DAY_TO_DAY),
        *RUN_PERMS,
        *SUBMISSION_PERMS,
        *LETTER_PERMS,
    ],
    DPO: [
        *_CASE_READ,
        DASHBOARD,
        "casework.add_case",
        "casework.change_case",
        "casework.add_casenote",
        *(f"casework.{c}" for c in DAY_TO_DAY),
        *(f"casework.{c}" for c in DPO_ONLY),
        *RUN_PERMS,
        *SUBMISSION_PERMS,
        *LETTER_PERMS,
        *REGIME_TABLE_PERMS,
        *ROLE_GRANT_PERMS,
        *BREACH_PERMS,
        BREACH_ASSESS,
        *DRP_READ,
        *REMINDERS_SENT,
    ],
    AUDITOR: [
        *_CASE_READ,
        "casework.view_postalletter",  # what the subject was told, on paper
        DASHBOARD,
        "casework.view_breachrecord",
        "casework.view_auditchain",
        "casework.view_connectorrun",  # identifiers' values stay hidden from auditors
        "casework.view_optout",  # the record of opt-outs (keyed hashes, no identifiers)
        *REMINDERS_SENT,
    ],
    ADMINISTRATOR: [
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        # Enrolling staff second-factor devices (TOTP) is the administrator's job.
        "otp_totp.view_totpdevice",
        "otp_totp.add_totpdevice",
        "otp_totp.change_totpdevice",
        "otp_totp.delete_totpdevice",
        "casework.view_publicholiday",
        "casework.add_publicholiday",
        "casework.change_publicholiday",
        "casework.delete_publicholiday",
        *REGIME_TABLE_PERMS,
        *ROLE_GRANT_PERMS,
        # Keys of the staff API: listed and revoked (issued by `manage.py issue_api_token`).
        "casework.view_apitoken",
        "casework.change_apitoken",
        *SCHEDULE_PERMS,
        *DRP_AGENT_PERMS,
    ],
    # Files requests and follows the ones it filed (casework.selectors.access), nothing else.
    INTAKE: ["casework.file_case"],
    # build_bundle: the command line without --staff acts as the system (the OS user is audited).
    SYSTEM: [
        *(f"casework.{c}" for c in SYSTEM_ONLY),
        "casework.fulfil_case",
        "casework.build_bundle",
    ],
}

# Register permissions (dsar app) are given to the administrator, the DPO and the privacy
# team by model, so that new register models need no change here.
REGISTER_EDITORS = (ADMINISTRATOR, DPO)
REGISTER_VIEWERS = (PRIVACY_TEAM, AUDITOR)
# Retention rules decide how long data is kept, among them how long our own case files are kept
# (dsar.models.CASE_FILES_RULE): the DPO's to change; the others read them.
RETENTION_EDITORS = (DPO,)
RETENTION_CHANGES = {f"dsar.{a}_retentionrule" for a in ("add", "change", "delete")}


def sync_roles(apps=None, using: str = "default") -> None:
    """Create or update the role groups and the system user. Idempotent."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))

    perms = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.using(using).select_related("content_type")
    }
    register_view = [k for k in perms if k.startswith("dsar.view_")]
    register_edit = [
        k
        for k in perms
        if k.startswith("dsar.")
        and k.split(".")[1].split("_")[0] in {"add", "change", "delete", "view"}
    ]
    for name, wanted in ROLE_PERMISSIONS.items():
        codes = list(wanted)
        if name in REGISTER_EDITORS:
            codes += register_edit
            if name not in RETENTION_EDITORS:
                codes = [c for c in codes if c not in RETENTION_CHANGES]
        elif name in REGISTER_VIEWERS:
            codes += register_view
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set([perms[c] for c in codes if c in perms])

    system_user, _created = User.objects.using(using).get_or_create(
        username=SYSTEM_USERNAME,
        defaults={
            "is_active": True,
            "first_name": "System",
            "password": "!",
        },  # "!" is an unusable password: no login
    )
    system_user.groups.add(Group.objects.using(using).get(name=SYSTEM))
