"""The `facturier` command fails the same way whatever goes wrong: one line on standard
error (never a traceback) and a non-zero exit code; the API's refusals as sentences. Each
case runs the real executable as a subprocess, against a real API and PostgreSQL where it
needs them. Output closed by its reader is the one quiet case: exit 141, nothing said, as
any Unix filter killed by SIGPIPE (`facturier ... | head -1`)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from facturier.config.settings import Settings
from facturier.services.cli.errors import ApiRefused, api_json
from tests.support.data import BUYER, invoice_body
from tests.support.stack import DEMO_DIRECTORY, Api, free_port, running_api

CLI = [sys.executable, "-m", "facturier.services.cli.main"]
FULL = Path("/dev/full")


@pytest.fixture(scope="module")
def api(
    make_settings: Callable[[], Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    settings = make_settings()
    log = Path(tmp_path_factory.mktemp("cli")) / "serve.log"
    with running_api(settings, log, "--api") as client:
        yield client


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, **settings.to_env(), "FACTURIER_API_TOKEN": "", **extra}


def facturier(
    settings: Settings, *args: str, stdout: Path | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    """`facturier ARGS` on the test's database; standard output piped, or into `stdout`."""
    with contextlib.ExitStack() as files:
        out = files.enter_context(stdout.open("w")) if stdout else subprocess.PIPE
        return subprocess.run(
            [*CLI, *args],
            env=environment(settings, **extra),
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )


def one_line_failure(done: subprocess.CompletedProcess[str], code: int) -> str:
    """The single line the command said on standard error (its exit code checked)."""
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr
    assert done.returncode == code, (done.returncode, done.stderr)
    return done.stderr.rstrip("\n")


def flow_files(tmp_path: Path, count: int) -> list[str]:
    paths = []
    for n in range(count):
        path = tmp_path / f"invoice-{n}.xml"
        path.write_text(f"<Invoice>{n} {uuid.uuid4()}</Invoice>")
        paths.append(str(path))
    return paths


def uploaded_flow(api: Api, tmp_path: Path) -> str:
    (path,) = flow_files(tmp_path, 1)
    response = httpx.post(
        f"{api.base}/flows",
        files={"file": ("one.xml", Path(path).read_bytes())},
        headers={"Authorization": f"Bearer {api.tokens['supplier']}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["flow_id"])


# ---------------------------------------------------------------- output closed, output full


def test_output_closed_by_its_reader_ends_quietly_with_141(api: Api, tmp_path: Path) -> None:
    env = environment(api.settings, FACTURIER_API_TOKEN=api.tokens["supplier"])
    # `facturier flow submit a b c | head -1`: the reader leaves after the first flow id.
    process = subprocess.Popen(
        [*CLI, "flow", "submit", *flow_files(tmp_path, 3)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(60) == 141, stderr
    assert len(first.split("\t")[0]) == 36 and stderr == ""

    # `facturier flow report ID --json | head -0`, and commands that print without the API.
    flow_id = uploaded_flow(api, tmp_path)
    for args in (["flow", "report", flow_id, "--json"], ["lifecycle"], ["config"], ["--help"]):
        process = subprocess.Popen(
            [*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # before the command has printed anything
        stderr = process.stderr.read()
        # argparse's --help ignores a failed write itself (exit 0): quiet all the same.
        assert (process.wait(60), stderr) == (0 if args == ["--help"] else 141, ""), args


def test_a_full_disk_is_one_line_naming_what_could_not_be_written(api: Api, tmp_path: Path) -> None:
    settings = api.settings
    token = {"FACTURIER_API_TOKEN": api.tokens["admin"]}
    flow_id = uploaded_flow(api, tmp_path)
    for args in (
        ["lifecycle"],
        ["config"],
        ["flow", "report", flow_id, "--json"],
        ["flow", "submit", *flow_files(tmp_path, 1)],
        ["accounting", "fec", "--structure", BUYER, "--year", "2026"],
        ["admin", "list-tokens"],
    ):
        line = one_line_failure(facturier(settings, *args, stdout=FULL, **token), 1)
        assert line == "facturier: cannot write to standard output: No space left on device"
    fec = ["accounting", "fec", "--structure", BUYER, "--year", "2026"]
    done = facturier(settings, *fec, "--output", str(FULL))
    assert one_line_failure(done, 1) == f"facturier: cannot write {FULL}: No space left on device"


# ---------------------------------------------------------------- the API


def test_an_unreachable_or_malformed_api_url_is_one_line(api: Api, tmp_path: Path) -> None:
    settings = api.settings
    closed = f"http://127.0.0.1:{free_port()}"
    flow = str(uuid.uuid4())
    for args in (
        ["flow", "report", flow, "--api", closed],
        ["flow", "submit", *flow_files(tmp_path, 1), "--api", closed],
    ):
        line = one_line_failure(facturier(settings, *args, "--token", "fct_x"), 1)
        assert line.startswith(f"facturier: cannot reach the API at {closed}/flows")
        assert "Connection refused" in line
    for url in ("not-a-url", "ftp://127.0.0.1/", "http://", "http://127.0.0.1:99999"):
        done = facturier(settings, "flow", "report", flow, "--api", url, "--token", "fct_x")
        line = one_line_failure(done, 2)
        assert line.startswith("facturier flow report: argument --api: ") and url in line
    # No token at all: said before anything is sent.
    line = one_line_failure(facturier(settings, "flow", "report", flow), 2)
    assert line == "facturier: no API token: pass --token or set FACTURIER_API_TOKEN"


def test_the_api_refusals_are_sentences(api: Api, tmp_path: Path) -> None:
    settings = api.settings
    flow_id = uploaded_flow(api, tmp_path)
    done = facturier(settings, "flow", "report", flow_id, "--token", "fct_unknown")
    assert one_line_failure(done, 1) == (
        "facturier: The API refused the token (401): unknown token"
    )
    files = flow_files(tmp_path, 1)
    done = facturier(settings, "flow", "submit", *files, "--token", api.tokens["buyer"])
    assert one_line_failure(done, 1) == (
        "facturier: The API does not allow this token to do that (403):"
        " a buyer token cannot submit invoices"
    )
    done = facturier(settings, "flow", "report", flow_id, "--token", api.tokens["other_supplier"])
    assert one_line_failure(done, 1) == (
        f"facturier: The API found no such thing (404): no flow {flow_id} visible to this token"
    )
    # The flow commands meet no 422 (their arguments are checked first): the sentence of the
    # API's own 422 answers, both shapes, through the function the commands use.
    headers = {"Authorization": f"Bearer {api.tokens['supplier']}"}
    refused = httpx.post(
        f"{api.base}/invoices",
        json=invoice_body("CLI-422", recipient_siret="11000201100045"),
        headers=headers,
        timeout=30,
    )
    assert refused.status_code == 422
    with pytest.raises(ApiRefused) as invalid:
        api_json(refused)
    assert invalid.value.message.startswith("The API refused the request as invalid (422): ")
    assert "\n" not in invalid.value.message and "{" not in invalid.value.message
    shapeless = httpx.post(f"{api.base}/invoices", json={"number": 1}, headers=headers, timeout=30)
    assert shapeless.status_code == 422 and len(shapeless.json()["detail"]["errors"]) > 1
    with pytest.raises(ApiRefused) as invalid:
        api_json(shapeless)
    assert invalid.value.message.startswith("The API refused the request as invalid (422): ")
    assert "more)" in invalid.value.message and "[" not in invalid.value.message


# ---------------------------------------------------------------- arguments, files, settings


def test_bad_arguments_are_refused_on_one_line_with_exit_2(api: Api) -> None:
    settings = api.settings
    fec = ["accounting", "fec", "--structure", BUYER]
    for args, expected in (
        ([*fec, "--year", "99999"], "argument --year: 99999 is not between 1900 and 2999"),
        ([*fec, "--year", "2026", "--output", "/no/such/folder/fec.txt"], "no folder /no/such"),
        (["accounting", "fec", "--structure", "123", "--year", "2026"], "not a valid SIRET"),
        (["admin", "create-token", "--role", "supplier", "--label", "x"], "needs --scope"),
        (["admin", "create-token", "--role", "king", "--label", "x"], "invalid choice"),
        (["admin", "revoke-token", "not-an-id"], "neither a token id"),
        (["admin", "create-token", "--role", "admin", "--label", "x", "--days", "0"], "--days"),
        (["flow", "report", "not-a-uuid", "--token", "t"], "not a flow id"),
        (["flow", "submit", str(DEMO_DIRECTORY), "--timeout", "soon"], "--timeout"),
        (["notifications", "outbox", "--limit", "-1"], "-1 is not between 1 and 10000"),
        (["notifications", "purge", "--days", "-5"], "-5 is not between 0 and 100000"),
        (["admin"], "required: what"),
        (["nonsense"], "invalid choice"),
    ):
        line = one_line_failure(facturier(settings, *args), 2)
        assert expected in line, (args, line)
        assert not line.startswith("usage:")


def test_bad_input_files_are_one_line(api: Api, tmp_path: Path) -> None:
    settings = api.settings
    missing = tmp_path / "missing.json"
    line = one_line_failure(facturier(settings, "directory", "load", str(missing)), 2)
    assert line.endswith(
        f"argument file: {missing}: no such file (see facturier directory load --help)"
    )
    line = one_line_failure(facturier(settings, "flow", "submit", str(missing), "--token", "t"), 2)
    assert f"{missing}: no such file" in line
    broken = tmp_path / "broken.json"
    broken.write_text('{"structures": [')
    line = one_line_failure(facturier(settings, "directory", "load", str(broken)), 1)
    assert line.startswith("facturier: broken.json: Expecting value")
    bad_siret = tmp_path / "bad-siret.json"
    document = json.loads(DEMO_DIRECTORY.read_text())
    document["structures"][0]["siret"] = "11000201100045"
    bad_siret.write_text(json.dumps(document))
    line = one_line_failure(facturier(settings, "directory", "load", str(bad_siret)), 1)
    assert "11000201100045" in line and "SIRET" in line
    latin1 = tmp_path / "structures.csv"
    latin1.write_bytes("siret,name\n11000201100044,Tr\xe9sor\n".encode("latin-1"))
    line = one_line_failure(facturier(settings, "directory", "load", str(latin1)), 1)
    assert line.startswith("facturier: structures.csv: ")


def test_unreachable_postgresql_or_a_bad_setting_is_one_line(api: Api) -> None:
    settings = api.settings
    port = str(free_port())
    for args in (
        ["admin", "list-tokens"],
        ["admin", "create-token", "--role", "admin", "--label", "x"],
        ["admin", "revoke-token", "0123456789ab"],
        ["accounting", "fec", "--structure", BUYER, "--year", "2026"],
        ["audit", "verify"],
        ["directory", "load", str(DEMO_DIRECTORY)],
        ["notifications", "outbox"],
        ["notifications", "show", "73282932000074"],
        ["serve", "--api"],
    ):
        line = one_line_failure(facturier(settings, *args, FACTURIER_PG_PORT=port), 1)
        assert line.startswith(f"facturier: cannot reach PostgreSQL at 127.0.0.1:{port}: "), args
    done = facturier(settings, "admin", "list-tokens", FACTURIER_PG_PORT="five thousand")
    assert one_line_failure(done, 2) == (
        "facturier: FACTURIER_PG_PORT='five thousand': a whole number expected"
    )


def test_unreachable_kafka_is_one_line(api: Api) -> None:
    """After the Kafka client's own retries (about 30 s), which it does not print."""
    port = str(free_port())
    done = facturier(
        api.settings, "audit", "verify", "--topic", FACTURIER_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}"
    )
    line = one_line_failure(done, 1)
    assert line.startswith(f"facturier: cannot reach Kafka at 127.0.0.1:{port}: "), line
