"""导入数据 Import exports: CSV/Excel exports into the importer's staging database.

For principals allowed to ``import``. Pick a shipped mapping or upload one,
upload files, check them (a dry run: rows read, what would load, the bad
rows), then load. Writes go to the staging database (``OPS_IMPORT_DB_URL``,
else ``var/import.sqlite``) through the importer's own writable engine,
never through the dashboards' read-only connection; every check and load
is audited. Bad-row reports are kept beside a SQLite staging file
(``import-reports/``), else under ``var/import-reports``; one that cannot be
written there is said, and offered for download. The logic is in :mod:`importer`.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from importer import load as importer_load
from importer.mapping import MappingError, load_mapping, parse_mapping_text, shipped_mappings
from importer.validate import report_frame
from ui import auth, import_view
from ui import tables as ui_tables
from ui.data import page_guard
from ui.i18n import catalogue, current_lang, t
from ui.shell import context, footer, page_header

OWN = "__own__"
#: The most an uploaded mapping file (.toml, a few kB) may weigh, MB.
MAPPING_MAX_MB = 1

ctx = context()
page_header(t("import.heading"), ctx)
st.write(t("import.intro"))


@st.cache_resource(show_spinner=False)
def staging(url: str) -> Engine:
    """The importer's writable engine on the staging database, one per URL."""
    return importer_load.staging_engine(url)


def show_result(r: importer_load.FileResult) -> None:
    verb = t("import.verb_would") if r.status in ("dry_run", "stopped") else t("import.verb_loaded")
    text = t(
        "import.summary",
        file=r.name,
        status=t(f"import.status_{r.status}"),
        rows=f"{r.rows_read:,}",
        verb=verb,
        cases=f"{r.cases:,}",
        rejected=f"{r.rejected_rows:,}",
        bad=f"{r.bad_rows:,}",
    )
    if r.status == "loaded":
        text += " " + t("import.counts", inserted=r.inserted, updated=r.updated, batch=r.batch_id)
    box = {"stopped": st.error, "failed": st.error, "skipped": st.info}.get(r.status, st.success)
    box(text + (f"  \n{r.message}" if r.message else ""))
    if r.report_error:  # the load went on; the download below still has it
        st.warning(
            t("import.report_not_saved", detail=r.report_error), icon=":material/folder_off:"
        )
    if r.problems:
        report = report_frame(r.problems)
        st.caption(t("import.bad_rows"))
        shown, labels = import_view.report_table(report.head(50), current_lang())
        ui_tables.show(shown, ui_tables.typed(shown, labels))
        name = f"{r.name.rsplit('.', 1)[0]}.bad-rows.csv"
        auth.audited_download(  # the rows' raw values may be personal data
            st,
            t("import.report"),
            report.to_csv(index=False).encode("utf-8-sig"),
            action="export",
            file_name=name,
            query=f"bad-row report of {r.name}",
            mime="text/csv",
            key=f"report_{r.name}_{r.status}",
        )
    if r.status == "dry_run" and r.preview is not None and not r.preview.empty:
        st.caption(t("import.cases_preview"))
        preview = r.preview.drop(columns=["_street_value", "_row"]).head(50)
        known = catalogue()
        labels = {c: t(f"import.case.{c}") for c in preview.columns if f"import.case.{c}" in known}
        config = ui_tables.typed(preview, labels)
        config |= {c: ui_tables.coordinate(labels[c]) for c in ("lat", "lon") if c in labels}
        ui_tables.show(preview, config, list(labels))


with page_guard():
    if not auth.allowed("import"):
        st.info(t("import.not_allowed"), icon=":material/lock:")
        st.stop()
    url = importer_load.default_db_url()
    report_dir = importer_load.report_folder(url)
    st.caption(t("import.database", url=importer_load.describe(url)))
    names = shipped_mappings()
    titles = import_view.mapping_titles(tuple(names))
    lang = current_lang()
    choice = st.selectbox(
        t("import.mapping"),
        [*names, OWN],
        format_func=lambda n: (
            t("import.mapping_own") if n == OWN else import_view.mapping_title(titles, n, lang)
        ),
        key="imp_mapping",
    )
    mapping = None
    try:
        if choice == OWN:
            own = st.file_uploader(
                t("import.mapping_upload"),
                type=["toml"],
                key="imp_own",
                max_upload_size=MAPPING_MAX_MB,
            )
            import_view.uploader_words("imp_own", ["toml"], MAPPING_MAX_MB)
            if own is not None:
                mapping = parse_mapping_text(own.getvalue().decode("utf-8"), own.name)
        else:
            mapping = load_mapping(choice)
    except (MappingError, UnicodeDecodeError) as exc:
        st.error(t("import.mapping_error", detail=str(exc)), icon=":material/rule:")
    if mapping is not None:
        described = (lang == "zh" and mapping.description_zh) or mapping.description
        if described:
            st.caption(described)
        st.caption(t("import.mapping_code", code=mapping.name))
        sep = t("app.list_sep")
        columns = sep.join(f"`{c}`" for c in mapping.required_columns())  # names, as written
        st.caption(t("import.mapping_columns", columns=columns))
        kinds = ["csv", "txt", "xlsx", "xlsm"]
        files = st.file_uploader(
            t("import.files"), type=kinds, accept_multiple_files=True, key="imp_files"
        )
        import_view.uploader_words("imp_files", kinds, import_view.upload_limit_mb())
        left, right = st.columns(2)
        dry = left.button(t("import.preview"), disabled=not files, icon=":material/fact_check:")
        wet = right.button(t("import.load"), disabled=not files, icon=":material/upload:")
        if files and (dry or wet):
            cfg = importer_load.site_for(mapping)
            for upload in files:
                query = f"mapping={mapping.name} dry_run={dry}"
                try:
                    auth.audit_event("import", target=upload.name, query=query, outcome="started")
                except Exception as exc:  # no audit row, no import
                    st.error(t("import.audit_failed", detail=str(exc)))
                    break
                result = importer_load.import_export(
                    staging(url),
                    upload.getvalue(),
                    upload.name,
                    mapping,
                    cfg,
                    dry_run=dry,
                    report_dir=report_dir,
                )
                show_result(result)
                try:  # what became of it: loaded, skipped, stopped, dry_run, failed
                    auth.audit_event(
                        "import",
                        target=upload.name,
                        query=f"{query} batch={result.batch_id} cases={result.cases}",
                        outcome=result.status,
                    )
                except Exception as exc:  # the import stands; say the log missed it
                    st.warning(t("import.audit_failed", detail=str(exc)))

    st.subheader(t("import.history"))
    history = (
        importer_load.batches(staging(url))
        if importer_load.staging_exists(url)
        else importer_load.batches_frame()
    )
    if history.empty:
        st.caption(t("import.no_history"))
    else:
        shown, labels = import_view.history_table(history, titles, lang)
        ui_tables.show(shown, ui_tables.typed(shown, labels))
    try:  # an unreadable folder has no reports to offer, and stops nothing
        saved = sorted(report_dir.glob("*.bad-rows.csv")) if report_dir.is_dir() else []
    except OSError:
        saved = []
    if saved:
        pick = st.selectbox(t("import.saved_reports"), [p.name for p in saved], key="imp_saved")
        auth.audited_download(
            st,
            t("import.report"),
            lambda: (report_dir / pick).read_bytes(),  # read when pressed
            action="export",
            file_name=pick,
            query="saved bad-row report",
            mime="text/csv",
            key="imp_saved_download",
        )

footer(ctx)
