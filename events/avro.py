"""Avro single-object encoding: `C3 01` + 8-byte CRC-64-AVRO fingerprint + Avro body.

Every message names the exact schema it was written with, so a reader holding any later,
backward-compatible schema decodes it (Avro schema resolution). The schemas live in
`schemas/avro/<name>.v<N>.avsc`; all versions are kept because old messages stay on the
topic and in auditors' replays.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
_FILE_NAME = re.compile(r"^(?P<name>[a-z0-9_]+)\.v(?P<version>\d+)\.avsc$")


class UnknownSchema(LookupError):
    """A message names a schema fingerprint this process does not know."""


class NotSingleObjectEncoded(ValueError):
    """A message does not start with the Avro single-object marker."""


@dataclass(frozen=True)
class Schema:
    name: str
    version: int
    definition: dict[str, Any]
    parsed: Any
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO, as written after the marker

    @classmethod
    def from_definition(cls, name: str, version: int, definition: dict[str, Any]) -> Schema:
        parsed = parse_schema(definition)
        # The canonical form drops logical types, so this map (not the fingerprint) keeps them.
        canonical = to_parsing_canonical_form(definition)
        return cls(
            name, version, definition, parsed, bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        )


class SchemaRegistry:
    """Every known version of every schema, by name and by fingerprint."""

    def __init__(self, schemas: list[Schema]) -> None:
        self._by_fingerprint = {s.fingerprint: s for s in schemas}
        self._latest: dict[str, Schema] = {}
        for s in sorted(schemas, key=lambda s: s.version):
            self._latest[s.name] = s

    @classmethod
    def load(cls) -> SchemaRegistry:
        """The schemas shipped in `schemas/avro/`."""
        schemas = []
        for entry in resources.files("facturier.schemas").joinpath("avro").iterdir():
            match = _FILE_NAME.match(entry.name)
            if match:
                schemas.append(
                    Schema.from_definition(
                        match["name"], int(match["version"]), json.loads(entry.read_text("utf-8"))
                    )
                )
        return cls(schemas)

    def latest(self, name: str) -> Schema:
        return self._latest[name]

    def by_fingerprint(self, fp: bytes) -> Schema:
        try:
            return self._by_fingerprint[fp]
        except KeyError:
            raise UnknownSchema(f"no schema with fingerprint {fp.hex()}") from None

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        return encode(self.latest(name), record)

    def decode(self, data: bytes, reader: Schema | None = None) -> dict[str, Any]:
        """Decode with the writer schema named in the message, resolved to `reader` (by
        default the newest version of the same schema)."""
        writer = self.by_fingerprint(fingerprint_of(data))
        return decode(data, writer, reader or self.latest(writer.name))


def fingerprint_of(data: bytes) -> bytes:
    if data[:2] != MAGIC or len(data) < HEADER_SIZE:
        raise NotSingleObjectEncoded("message is not Avro single-object encoded")
    return data[2:HEADER_SIZE]


def encode(schema: Schema, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(MAGIC)
    out.write(schema.fingerprint)
    schemaless_writer(out, schema.parsed, record)
    return out.getvalue()


def decode(data: bytes, writer: Schema, reader: Schema) -> dict[str, Any]:
    if fingerprint_of(data) != writer.fingerprint:
        raise UnknownSchema("message was not written with the given writer schema")
    body = io.BytesIO(data[HEADER_SIZE:])
    # The payload union names its record (event type); an optional record (null | X) does not.
    record = schemaless_reader(
        body,
        writer.parsed,
        reader.parsed,
        return_record_name=True,
        return_record_name_override=True,
    )
    assert isinstance(record, dict)
    return record
