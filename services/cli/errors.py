"""How every `facturier` command fails: one line on standard error and a non-zero exit code,
never a traceback. `run` wraps the command; the API's refusals become sentences.

Exit codes: 1 a failure, 2 a bad argument (argparse's own), 130 interrupted, 141 standard
output closed by its reader (128 + SIGPIPE, as a program killed by it: `... | head -1`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO, cast

import httpx

from facturier.config.settings import env

log = logging.getLogger("facturier.cli")

PIPE_CLOSED = 141
INTERRUPTED = 130


class CliError(Exception):
    """A failure the command explains itself: `message` (one line), exit `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


_SENTENCES = {
    401: "The API refused the token",
    403: "The API does not allow this token to do that",
    404: "The API found no such thing",
    409: "The API refused the request in the current state",
    413: "The API refused the upload as too large",
    422: "The API refused the request as invalid",
    429: "The API refuses requests from this address for now",
}


class ApiRefused(CliError):
    """A 4xx or 5xx answer of the API, as a sentence."""

    def __init__(self, status: int, body: str) -> None:
        sentence = _SENTENCES.get(status) or (
            "The API failed" if status >= 500 else "The API refused the request"
        )
        super().__init__(f"{sentence} ({status}): {_api_message(body)}")
        self.status = status


def _api_message(body: str) -> str:
    """The message of the API's problem body, `{"detail": {"code", "message", "field"?,
    "errors"?}}`, or of `{"detail": "..."}`; else the body itself."""
    try:
        import json

        detail: Any = json.loads(body)["detail"]
    except (ValueError, KeyError, TypeError):
        return one_line(body)[:300] or "no explanation given"
    if isinstance(detail, dict):
        message = one_line(str(detail.get("message", "")))
        field = detail.get("field")
        errors = detail.get("errors")
        more = len(errors) - 1 if isinstance(errors, list) else 0
        return (f"{field}: {message}" if field else message) + (
            f" (and {more} more)" if more > 0 else ""
        )
    return one_line(str(detail))


def api_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a successful answer; ApiRefused for any other."""
    if response.status_code >= 400:
        raise ApiRefused(response.status_code, response.text)
    found: dict[str, Any] = response.json()
    return found


def one_line(text: str) -> str:
    """`text` with its line breaks and other control characters turned into spaces."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def _postgres(error: BaseException) -> str:
    where = f"PostgreSQL at {env('FACTURIER_PG_HOST')}:{env('FACTURIER_PG_PORT')}"
    text = one_line(str(error))
    if "connection" in text or "timeout" in text.lower():
        return f"cannot reach {where}: {text}"
    return f"{where}: {text}"


STDOUT = "<standard output>"


def _kafka(error: BaseException) -> str:
    where = f"Kafka at {env('FACTURIER_KAFKA_BOOTSTRAP')}"
    text = one_line(str(error))
    if "bootstrap" in text.lower() or "Connection" in type(error).__name__:
        return f"cannot reach {where}: {text}"
    return f"{where}: {text}"


def _os_error(error: OSError) -> str:
    if error.filename == STDOUT:
        return f"cannot write to standard output: {error.strerror}"
    if error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return one_line(str(error))


class _Output:
    """Standard output whose write errors (a full disk...) say that they are its own: an
    OSError raised by `write` has no file name."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as error:
            raise OSError(error.errno, error.strerror, STDOUT) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as error:
            raise OSError(error.errno, error.strerror, STDOUT) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _flush_or_detach() -> None:
    try:
        sys.stdout.flush()
    except OSError:
        _detach_stdout()


def _detach_stdout() -> None:
    """Point standard output at /dev/null: what is left in its buffer would fail again at
    the interpreter's exit ("Exception ignored ... BrokenPipeError")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


# Errors of the libraries and services that say what is wrong with the input or the
# environment, by qualified class name so that none is imported before a command needs it:
# (the message, the exit code).
_KNOWN: dict[str, Callable[[Any], tuple[str, int]]] = {
    "psycopg.OperationalError": lambda e: (_postgres(e), 1),
    "psycopg_pool.PoolTimeout": lambda e: (_postgres(e), 1),
    "eventsourcing.persistence.OperationalError": lambda e: (_postgres(e), 1),
    "eventsourcing.persistence.InterfaceError": lambda e: (_postgres(e), 1),
    "psycopg.Error": lambda e: (f"PostgreSQL: {one_line(str(e))}", 1),
    "kafka.errors.KafkaError": lambda e: (_kafka(e), 1),
    "facturier.config.settings.SettingError": lambda e: (str(e), 2),
    "facturier.services.application.principals.InvalidScope": lambda e: (str(e), 2),
    "facturier.adapters.tokens.TokenNotFound": lambda e: (str(e), 1),
    "facturier.services.application.directory_files.DirectoryFileError": lambda e: (str(e), 1),
}


def _explain(error: BaseException) -> tuple[str, int] | None:
    for klass in type(error).__mro__:
        explain = _KNOWN.get(f"{klass.__module__}.{klass.__qualname__}")
        if explain is not None:
            return explain(error)
    return None


def run(command: Callable[[], int]) -> int:
    """Run a command; whatever goes wrong, one line on standard error and an exit code."""
    stdout = sys.stdout
    sys.stdout = cast(TextIO, _Output(stdout))
    try:
        return _run(command)
    finally:
        sys.stdout = stdout


def _run(command: Callable[[], int]) -> int:
    try:
        try:
            code = command()
        except SystemExit as stop:  # argparse's --help and errors, a message to stop with
            if isinstance(stop.code, str):
                raise CliError(stop.code) from None
            code = 0 if stop.code is None else stop.code
        sys.stdout.flush()  # a closed or full output fails here, not at the interpreter's exit
        return code
    except BrokenPipeError:
        # The reader stopped reading (`| head`): a quiet exit, like any Unix filter.
        _detach_stdout()
        return PIPE_CLOSED
    except KeyboardInterrupt:
        return INTERRUPTED
    except CliError as error:
        return _fail(error.message, error.code)
    except httpx.HTTPError as error:
        try:
            url = str(error.request.url)
        except RuntimeError:  # no request attached
            return _fail(f"HTTP: {error}", 1)
        return _fail(f"cannot reach the API at {url}: {str(error) or type(error).__name__}", 1)
    except OSError as error:
        return _fail(_os_error(error), 1)
    except Exception as error:
        known = _explain(error)
        if known is not None:
            return _fail(*known)
        log.debug("unexpected error", exc_info=True)
        return _fail(
            f"unexpected error: {type(error).__name__}: {error}"
            " (FACTURIER_LOG_LEVEL=DEBUG shows where)",
            1,
        )


def _fail(message: str, code: int) -> int:
    _flush_or_detach()  # else its buffer would fail again, and speak, at exit
    with contextlib.suppress(OSError):
        print(f"facturier: {one_line(message)}", file=sys.stderr, flush=True)
    return code
