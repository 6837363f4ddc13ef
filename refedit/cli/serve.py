"""``refedit serve``: the local web page (Gradio) over the same pipeline, with the stage and model options of
``refedit edit`` as the page's defaults; loopback only unless ``--host`` says otherwise; no public share link."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import click

from refedit.cli.app import handle_errors, main
from refedit.cli.options import check_models, model_options, options_from, settings_from, stage_names, stage_options
from refedit.errors import BadInput

HINT_FLAGS = {"hint_boxes": "--box", "hint_points": "--point", "hint_mask": "--hint-mask"}


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback lets other machines use the page and its models.")  # fmt: skip
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="Port to listen on.")
@stage_options
@model_options
@handle_errors
def serve(host: str, port: int, parser: str, segmenter: str, editor: str | None, **params: Any) -> None:
    """Serve the editing page on HOST:PORT until Ctrl-C (needs Gradio: pip install 'refedit[serve]')."""
    from refedit.config import check_environment
    from refedit.serve import require_gradio

    check_environment()
    require_gradio()
    stages = stage_names(parser, segmenter, editor)  # the page's editor menu starts at the default editor
    options = options_from(params, stages)
    for name, flag in HINT_FLAGS.items():  # hints belong to one image: the page gives them
        if params.pop(name, None):
            raise BadInput(f"{flag} is not a server option: draw or click the hint in the page")
    settings = settings_from(params)
    check_listen(host, port)
    check_models(settings, stages, options)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    import tempfile

    from refedit.serve.jobs import EditServer
    from refedit.serve.page import build_page

    server = EditServer(settings, parser=parser, segmenter=segmenter, editor=stages["editor"], options=options)
    with tempfile.TemporaryDirectory(prefix="refedit-serve-") as tmp, temporary_files_in(Path(tmp)):
        workdir = Path(tmp)  # (SIGTERM stops it as Ctrl-C: handle_errors)
        page = build_page(server, workdir, steps=int(options.get("steps") or 50),
                          encode_ratio=float(options.get("encode_ratio") or 0.5))  # fmt: skip
        page.queue(default_concurrency_limit=1)
        try:
            page.launch(server_name=host, server_port=port, share=False, show_error=False, inbrowser=False,
                        allowed_paths=[str(workdir)], ssr_mode=False, quiet=True, prevent_thread_lock=True,
                        max_file_size=MAX_UPLOAD)  # fmt: skip
        except OSError as err:  # Gradio's advice (GRADIO_SERVER_PORT, launch()) is not a command-line user's
            raise BadInput(f"cannot listen on {host}:{port} ({str(err).split('. ')[0]}); choose another --port") from None
        click.echo(f"refedit: serving on http://{_url_host(host)}:{port} (Ctrl-C to stop)", err=True)
        wait_for_ctrl_c(page)
        click.echo("refedit: stopped serving", err=True)


@contextlib.contextmanager
def temporary_files_in(folder: Path) -> Iterator[None]:
    """Gradio's copies of every upload and download (its cache, ``$TMPDIR/gradio``) and the process's temporary files
    in ``folder`` while the server runs: they stayed after it stopped, the users' photos and instructions among
    them."""
    import tempfile

    saved = os.environ.get("GRADIO_TEMP_DIR"), tempfile.tempdir
    os.environ["GRADIO_TEMP_DIR"], tempfile.tempdir = str(folder / "gradio"), str(folder)
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = saved[0]
        tempfile.tempdir = saved[1]


#: the largest upload the page takes: a 64 MP photo (the pixel limit) as a PNG is under 200 MB; Gradio sets none
MAX_UPLOAD = "256mb"


def wait_for_ctrl_c(page: Any) -> None:
    """Serve until Ctrl-C (or SIGTERM), then close the server: the way to stop it, so exit 0 (as web servers do),
    with one line on stderr and nothing on stdout (Gradio prints its goodbye on stdout)."""
    import time

    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        with contextlib.redirect_stdout(sys.stderr):
            page.close()


def check_listen(host: str, port: int) -> None:
    """Before anything loads: ``host`` is an address of this machine and ``port`` is free there (one line naming
    which is wrong, instead of the web server's log line and a message about ports)."""
    import errno
    import socket

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as err:
        raise BadInput(f"--host {host!r} is no address this machine can listen on ({getattr(err, 'strerror', err)})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server does
        try:
            probe.bind(addr)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise BadInput(f"cannot listen on {host}:{port} (the port is in use); choose another --port") from None
            if err.errno == errno.EADDRNOTAVAIL:
                raise BadInput(f"--host {host} is not an address of this machine; use 127.0.0.1 (this machine only) "
                               "or 0.0.0.0 (every interface)") from None  # fmt: skip
            raise BadInput(f"cannot listen on {host}:{port} ({err.strerror or err})") from None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
