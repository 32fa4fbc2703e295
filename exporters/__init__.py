"""What the data subject receives: JSON, CSV, JSON Schema, the PDF report, the ZIP bundle with
its manifest, and letters. Takes plain data and imports nothing from casework.

    from exporters.context import BundleFacts, CategoryInfo, LetterFacts
    from exporters.bundle import write_bundle, write_encrypted_zip
    from exporters.report import render_report
    from exporters.letters import render_letter
    from exporters.dossier import DossierFacts, render_dossier

    manifest = write_bundle(stream, facts, records_by_category)        # access or portability
    passphrase = write_encrypted_zip(path, facts, records_by_category)  # AES-256, for a medium
    pdf = render_report(facts, records_by_category)
    pdf = render_letter(letter_facts)
    pdf = render_dossier(dossier_facts)                                 # a case's dossier (staff)

`records_by_category(slug)` returns a new iterable of record dicts at every call (see
context.py). Formats are plug-ins (base.BaseExporter) listed in settings.DSAR_EXPORTERS
(registry.DEFAULT_EXPORTERS when unset). Settings read, all optional: DSAR_EXPORTERS,
DSAR_REPORT_MAX_ROWS (200), DSAR_REPORT_MAX_CELLS (3000), DSAR_REPORT_MAX_CHARS (300),
DSAR_TIME_ZONE, DSAR_PDF_IN_CHILD (True: an access bundle's report is rendered by a forked
child while the data files are written) and DSAR_PDF_RENDER_TIMEOUT (900 seconds).
"""
