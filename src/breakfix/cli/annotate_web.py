"""`breakfix annotate serve` and the annotation project commands (users, projects, assignments, export)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import UserError, one_line_errors

DB_HELP = "Database URL (default: $BREAKFIX_DB or sqlite:///breakfix.db)."


def _session(db_url: str | None):  # noqa: ANN202 - returns a SQLAlchemy session
    from ..annotate.web.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(db_url))()


def _read_password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
        if not pw:
            raise UserError("--password-stdin: no password on standard input")
        return pw
    return typer.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)


def register_web(annotate_app: typer.Typer) -> None:
    """Add `serve`, `user`, `project`, `assign` and `export` to the `breakfix annotate` group."""
    user_app = typer.Typer(help="Users of the annotation web app (owners and annotators).", no_args_is_help=True)
    project_app = typer.Typer(help="Annotation projects.", no_args_is_help=True)
    annotate_app.add_typer(user_app, name="user")
    annotate_app.add_typer(project_app, name="project")

    @annotate_app.command("serve")
    @one_line_errors
    def serve(host: str = typer.Option("127.0.0.1", help="Address to listen on."),
              port: int = typer.Option(8000, help="Port to listen on."),
              db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
              secure_cookies: bool = typer.Option(False, help="Mark cookies Secure (when served over HTTPS)."),
              ) -> None:
        """Start the blind annotation web app."""
        import uvicorn

        from ..annotate.web.app import create_app

        app = create_app(db, secure_cookies=secure_cookies)
        typer.echo(f"breakfix annotation app on http://{host}:{port}/  (Ctrl+C to stop)")
        uvicorn.run(app, host=host, port=port, log_level="info")

    # ------------------------------------------------------------------ users
    @user_app.command("add")
    @one_line_errors
    def user_add(name: str = typer.Argument(..., help="Login name."),
                 role: str = typer.Option("annotator", help="owner | annotator"),
                 password_stdin: bool = typer.Option(False, "--password-stdin",
                                                     help="Read the password from the first line of stdin."),
                 db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """Add a user (the password is asked for, never passed on the command line)."""
        from ..annotate.web.users import ROLES, UserInputError, add_user

        if role not in ROLES:
            raise UserError(f"--role {role!r}: expected one of {', '.join(ROLES)}")
        pw = _read_password(name, password_stdin)
        with _session(db) as s:
            try:
                u = add_user(s, name, role, pw)
            except UserInputError as exc:
                raise UserError(str(exc)) from None
            typer.echo(f"added {u.role} {u.name}")

    @user_app.command("passwd")
    @one_line_errors
    def user_passwd(name: str, password_stdin: bool = typer.Option(False, "--password-stdin"),
                    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """Change a user's password."""
        from ..annotate.web.users import UserInputError, set_password

        pw = _read_password(name, password_stdin)
        with _session(db) as s:
            try:
                set_password(s, name, pw)
            except UserInputError as exc:
                raise UserError(str(exc)) from None
            typer.echo(f"password changed for {name}")

    @user_app.command("list")
    @one_line_errors
    def user_list(db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """List users and their roles."""
        from ..annotate.web.users import list_users

        with _session(db) as s:
            for u in list_users(s):
                typer.echo(f"{u.name}\t{u.role}")

    # ------------------------------------------------------------------ projects
    @project_app.command("create")
    @one_line_errors
    def project_create(name: str = typer.Argument(..., help="Project name."),
                       rubric: str = typer.Option(..., "--rubric",
                                                  help="Rubric YAML file, or a built-in name (mental-health-response)."),
                       from_jsonl: Optional[Path] = typer.Option(None, "--from-jsonl",
                                                                 help="JSONL: id, prompt|conversation, response, category."),
                       from_csv: Optional[Path] = typer.Option(None, "--from-csv",
                                                               help="CSV with a header: id, prompt|conversation, "
                                                                    "response, category; other columns kept."),
                       from_run: Optional[str] = typer.Option(None, "--from-run", help="A red-team run in the run "
                                                              "store: id, id prefix, name or 'latest'."),
                       store: Optional[str] = typer.Option(None, "--store", help="Run store URL for --from-run "
                                                           "(default: $BREAKFIX_STORE or sqlite:///breakfix.db)."),
                       owner: Optional[str] = typer.Option(None, "--owner", help="Owner user name."),
                       db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """Create an annotation project from a JSONL or CSV file or a run, with a rubric."""
        from ..annotate.web.projects import (
            ProjectInputError,
            create_project,
            read_items_csv,
            read_items_jsonl,
        )
        from ..annotate.web.rubric import RubricError, load_rubric
        from ..annotate.web.run_source import items_from_run as read_items_from_run
        from ..annotate.web.users import get_user

        if sum(x is not None for x in (from_jsonl, from_csv, from_run)) != 1:
            raise UserError("give exactly one of --from-jsonl FILE, --from-csv FILE or --from-run RUN_ID")
        try:
            rub = load_rubric(rubric)
            if from_jsonl is not None:
                items, source = read_items_jsonl(from_jsonl), f"jsonl:{from_jsonl}"
            elif from_csv is not None:
                items, source = read_items_csv(from_csv), f"csv:{from_csv}"
            else:
                items = read_items_from_run(str(from_run), store)  # the run store, not the annotation db
                source = f"run:{items[0].meta.get('run_id', from_run)}" if items else f"run:{from_run}"
            with _session(db) as s:
                own = None
                if owner is not None:
                    own = get_user(s, owner)
                    if own is None or own.role != "owner":
                        raise UserError(f"--owner {owner!r}: no owner with that name")
                p = create_project(s, name, rub, items, source=source, owner=own)
                typer.echo(f"created project {p.name!r} (id {p.id}) with {len(items)} items, rubric {rub.name!r}")
        except (ProjectInputError, RubricError) as exc:
            raise UserError(str(exc)) from None

    @project_app.command("list")
    @one_line_errors
    def project_list(db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """List projects with their progress."""
        from ..annotate.web.labelling import progress
        from ..annotate.web.projects import list_projects

        with _session(db) as s:
            for p in list_projects(s):
                prog = progress(s, p.id)
                done, assigned = sum(x.done for x in prog), sum(x.assigned for x in prog)
                typer.echo(f"{p.id}\t{p.name}\t{len(p.items)} items\t{done}/{assigned} labels\t{p.source}")

    @annotate_app.command("assign")
    @one_line_errors
    def assign_cmd(project: str = typer.Argument(..., help="Project name or id."),
                   annotators: str = typer.Option(..., "--annotators", help="Comma-separated annotator names."),
                   per_item: int = typer.Option(2, "--per-item", help="Annotators per item (at least 2)."),
                   db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """Assign every item of a project to PER_ITEM of the annotators (balanced; re-runs only top up)."""
        from ..annotate.web.projects import ProjectInputError, assign, get_project

        with _session(db) as s:
            try:
                p = get_project(s, project)
                n = assign(s, p, annotators.split(","), per_item)
            except ProjectInputError as exc:
                raise UserError(str(exc)) from None
            typer.echo(f"{n} assignments added to {p.name!r}")

    @annotate_app.command("export")
    @one_line_errors
    def export_cmd(project: str = typer.Argument(..., help="Project name or id."),
                   out: Path = typer.Option(..., "-o", "--out", help="Output file: .jsonl or .csv"),
                   db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """Export a project's per-rater labels (JSONL or CSV, by the file's extension)."""
        from ..annotate.web import export as exp
        from ..annotate.web.projects import ProjectInputError, get_project

        if out.suffix not in (".jsonl", ".csv"):
            raise UserError(f"{out}: expected a .jsonl or .csv file name")
        with _session(db) as s:
            try:
                p = get_project(s, project)
            except ProjectInputError as exc:
                raise UserError(str(exc)) from None
            recs = exp.label_records(s, p)
            out.write_text(exp.to_jsonl(recs) if out.suffix == ".jsonl" else exp.to_csv(p, recs), encoding="utf-8")
            typer.echo(f"wrote {len(recs)} labels to {out}")
