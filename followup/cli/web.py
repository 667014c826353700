"""The staff's accounts (`user add|list|passwd|role|disable`) and the desks' web pages (`serve`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from followup.cli.core import (FORMAT_OPTION, Format, _Group, _clock, _db_path, _open, _print_rows, _who, app,
                               echo)
from followup.errors import UsageError
from followup.i18n import N_, tr

user_app = typer.Typer(cls=_Group, help="The staff's accounts for the web pages (followup serve).",
                       no_args_is_help=True)
app.add_typer(user_app, name="user")

STDIN_OPTION = typer.Option(False, "--password-stdin", help="Read the password from the first line of standard "
                            "input (for scripts), instead of asking for it twice.")


def _password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice at a prompt that does not echo it."""
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    import getpass

    try:
        first = getpass.getpass(tr("Password: "))
        second = getpass.getpass(tr("The same password again: "))
    except EOFError:
        raise UsageError(N_("no password given (type it at the prompt, or use --password-stdin)")) from None
    if first != second:
        raise UsageError(N_("the two passwords differ; nothing was changed"))
    return first


@user_app.command("add")
def user_add(ctx: typer.Context,
             name: str = typer.Argument(..., help="The login name (what the person types to log in)."),
             role: str = typer.Option(..., "--role", help="desk (the day's list, consents, surveys), manager "
                                      "(+ reports, corrections, patients' rights) or admin (+ users, settings)."),
             from_stdin: bool = STDIN_OPTION):
    """Add a staff account for the web pages."""
    from followup.actions.users import add_user

    conn = _open(ctx, create=True)
    user = add_user(conn, name, role.strip().lower(), _password(from_stdin), by=_who(None), now=_clock())
    echo(tr("User {name} added ({role}).", name=user.name, role=tr(user.role)))


@user_app.command("list")
def user_list(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """The staff's accounts: role, language, when added and by whom, disabled or not."""
    from followup.actions.users import users

    rows = users(_open(ctx, create=False))
    if fmt in (Format.table, Format.md):
        rows = [dict(r, role=tr(r["role"])) for r in rows]
    _print_rows(rows, ["name", "role", "language", "created_at", "created_by", "changed_at", "disabled_at"], fmt,
                title=tr("Users: {n}", n=len(rows)))


@user_app.command("passwd")
def user_passwd(ctx: typer.Context, name: str = typer.Argument(..., help="The login name."),
                from_stdin: bool = STDIN_OPTION):
    """Set a new password; the account's open sessions end."""
    from followup.actions.users import change_password

    conn = _open(ctx, create=False)
    change_password(conn, name, _password(from_stdin), now=_clock())
    echo(tr("Password of {name} changed; their sessions ended.", name=name.strip()))


@user_app.command("role")
def user_role(ctx: typer.Context, name: str = typer.Argument(..., help="The login name."),
              role: str = typer.Argument(..., help="desk, manager or admin.")):
    """Give an account another role; its open sessions end."""
    from followup.actions.users import set_role

    set_role(_open(ctx, create=False), name, role.strip().lower(), now=_clock())
    echo(tr("User {name} is now {role}.", name=name.strip(), role=tr(role.strip().lower())))


@user_app.command("disable")
def user_disable(ctx: typer.Context, name: str = typer.Argument(..., help="The login name."),
                 enable: bool = typer.Option(False, "--enable", help="Let a disabled account log in again.")):
    """Stop an account from logging in (its sessions end; what it recorded keeps its name)."""
    from followup.actions.users import disable_user

    disable_user(_open(ctx, create=False), name, now=_clock(), enable=enable)
    echo(tr("User {name} can log in again.", name=name.strip()) if enable
         else tr("User {name} disabled; their sessions ended.", name=name.strip()))


@app.command("serve")
def serve(ctx: typer.Context,
          host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on: 127.0.0.1 (this PC "
                                   "only) or 0.0.0.0 (the clinic's other desks too)."),
          port: int = typer.Option(8765, "--port", min=1, max=65535, help="The port."),
          cert: Optional[Path] = typer.Option(None, "--cert", help="A TLS certificate (PEM) for HTTPS."),
          key: Optional[Path] = typer.Option(None, "--key", help="Its private key (PEM).")):
    """The desks' web pages: today's list with outcome buttons, the reports, the users. Log in with an
    account made by `followup user add`."""
    from followup.web.server import run

    if (cert is None) != (key is None):
        raise UsageError(N_("--cert and --key go together"))
    if host not in ("127.0.0.1", "localhost", "::1") and cert is None:
        echo(tr("Warning: listening on {host}: other computers of the network can reach these pages, over plain "
                "HTTP. Give --cert and --key for HTTPS.", host=host), err=True)
    conn = _open(ctx, create=False)
    run(conn, _db_path(ctx), host=host, port=port, cert=cert, key=key, echo=echo)
