"""Field specs of `source.mapping`: where a field no format standardises (service, task_type, …) is read from.

| spec | reads |
|---|---|
| `metadata.requester_metadata.task` | a field of the record (dotted path; `$.`-style JSON path in DuckDB) |
| `resource:service.name` | an attribute of the OTel resource |
| `attr:app.task_type` | an attribute of the span itself |
| `ancestor:app.task_type` | the attribute on the nearest ancestor span of the same trace that has it |
| `tag:task=` | the rest of the first tag starting with the prefix (Langfuse/LiteLLM tags) |
| `const:support` | the same value for every row |

A source supports the kinds that make sense for its format and says so when given another (`MappingError`).
A row whose required field maps to nothing is quarantined with the spec that was tried (`unmapped_reason`).
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("path", "resource", "attr", "ancestor", "tag", "const")


class MappingError(ValueError):
    """A mapping spec the source cannot read (names the setting and the spec)."""


@dataclass(frozen=True)
class FieldSpec:
    """One parsed spec: its kind and argument (the path, attribute name, tag prefix or constant)."""

    kind: str
    arg: str
    text: str

    @classmethod
    def parse(cls, text: str, field: str) -> FieldSpec:
        """Parse `text` (the value of `source.mapping.<field>`).

        Raises:
            MappingError: an unknown kind or an empty argument.
        """
        kind, sep, arg = text.partition(":")
        if not sep:
            kind, arg = "path", text
        if kind not in KINDS or not arg:
            raise MappingError(f"source.mapping.{field}: {text!r} is not a field spec (a dotted path, or one of "
                               f"{', '.join(k + ':' for k in KINDS[1:])} followed by a name)")
        if kind == "path" and not all(part.strip() for part in arg.split(".")):
            raise MappingError(f"source.mapping.{field}: {text!r} has an empty path segment")
        return cls(kind, arg, text)

    def json_path(self) -> str:
        """The DuckDB JSON path of a `path` spec: `metadata.requester_metadata.task` → `$.metadata.requester_metadata.task`."""
        return "$." + ".".join(f'"{part}"' if not part.isidentifier() else part for part in self.arg.split("."))

    def require(self, *kinds: str, field: str, source: str) -> FieldSpec:
        """This spec, if its kind is one of `kinds`."""
        if self.kind not in kinds:
            raise MappingError(f"source.mapping.{field}: {self.text!r} — the {source} source reads "
                               f"{', '.join(kinds)} specs, not {self.kind}")
        return self


def resolve(mapping, field: str, default: str | None) -> FieldSpec | None:
    """The spec for `field`: the user's (`source.mapping.<field>`), else the format's `default` (None: none)."""
    text = getattr(mapping, field, None) or default
    return None if text is None else FieldSpec.parse(text, field)


def unmapped_reason(field: str, spec: FieldSpec | None) -> str:
    """The quarantine reason of a row whose required `field` mapped to nothing."""
    tried = f"tried {spec.text!r}" if spec else "no mapping: set source.mapping." + field
    return f"{field} not found in the record ({tried})"
