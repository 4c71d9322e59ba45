"""Argument types of the `facturier` commands: a bad value is refused by argparse (exit 2,
one line) before anything runs."""

from __future__ import annotations

import argparse
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeAlias

import httpx


class Parser(argparse.ArgumentParser):
    """argparse, its errors on one line (usage is for --help)."""

    def error(self, message: str) -> NoReturn:
        text = re.sub(r"\s+", " ", message).strip()
        self.exit(2, f"{self.prog}: {text} (see {self.prog} --help)\n")


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 10**7:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def siret(text: str) -> str:
    from stdnum.fr import siret as siret_number

    if not re.fullmatch(r"[0-9]{14}", text) or not siret_number.is_valid(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid SIRET (14 digits)")
    return text


def api_url(text: str) -> str:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL: {error}") from None
    if url.scheme not in ("http", "https") or not url.host or not 0 < (url.port or 80) < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL such as http://127.0.0.1:8000"
        )
    return text


def flow_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a flow id (a UUID)") from None


def token_ref(text: str) -> str:
    """A token's id as `list-tokens` shows it (or a longer prefix of its SHA-256), or the
    token itself."""
    if not (text.startswith("fct_") or re.fullmatch(r"[0-9a-f]{8,64}", text)):
        raise argparse.ArgumentTypeError(
            f"{text[:20]!r} is neither a token id (8 to 64 hex digits) nor a token (fct_...)"
        )
    return text


def input_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        why = "is a folder" if path.is_dir() else "no such file"
        raise argparse.ArgumentTypeError(f"{text}: {why}")
    return path


def output_file(text: str) -> Path:
    """A file to write: its folder must exist (the write itself may still fail, named)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no folder {path.parent}")
    return path


def write_text(path: Path, text: str) -> None:
    """Write `path`, its failure named (a write's own error, e.g. a full disk, names no
    file)."""
    from facturier.services.cli.errors import CliError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None


def stdout_then_stderr(text: str) -> None:
    """Write `text` to standard output and flush it, so that a failure to write it is
    reported before any summary goes to standard error."""
    sys.stdout.write(text)
    sys.stdout.flush()


# The `facturier` subcommands, as each command group adds its own.
Commands: TypeAlias = "argparse._SubParsersAction[Parser]"  # generic for type checkers only
