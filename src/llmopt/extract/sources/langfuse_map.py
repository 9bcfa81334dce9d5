"""Langfuse GENERATION observations → contract columns, one DuckDB query over a staged file (`langfuse_stage`).

| contract column | from the export (Langfuse's own definitions, cited) |
|---|---|
| request_id | `id` |
| ts | `start_time` (UTC) |
| model | `provided_model_name`, else `model` |
| prompt_tokens | sum of the `usage_details` counts whose key contains `input` (Langfuse's "Input Tokens":
  `packages/shared/src/eventsTable.ts`; `input` itself excludes cached tokens, `input_cached_tokens` holds them) |
| completion_tokens | the same for `output` (reasoning tokens are `output_reasoning_tokens`) |
| cached_tokens | `input_cached_tokens`, else `input_cache_read`, else `cache_read_input_tokens` (one count under
  the name the SDK or ingestion used: not summed) |
| latency_ms / ttft_ms | `latency` / `time_to_first_token` × 1000 (seconds; `observations_v2` files of integrations
  created before 2026-04-01 hold milliseconds: `latency_unit`), else `end_time`/`completion_start_time` − `start_time` |
| status | `level = ERROR` → `error`, or `timeout` when `status_message` mentions a timeout; else `ok` |
| cost_usd | `cost_details.total`; where the file has no `cost_details`, `calculated_total_cost` or `total_cost`;
  NULL when Langfuse had no price (an empty `cost_details`: the events table's `total_cost` then reads 0) and on
  error rows |
| service, task_type, experiment_id, variant | `source.mapping` (defaults in `DEFAULT_SPECS`) |
| quality_score | the score named `source.mapping.quality.score` (joined in `langfuse.py`) |
"""

from __future__ import annotations

from llmopt.extract.sources.mapping import FieldSpec, MappingError, resolve
from llmopt.extract.sources.langfuse_stage import BAD_LINE

# Where service and task type come from when `source.mapping` does not say: the first that has a value.
DEFAULT_SPECS: dict[str, tuple[str, ...]] = {
    "service": ("metadata.service", "tag:service="),
    "task_type": ("metadata.task_type", "tag:task="),
    "experiment_id": (),
    "variant": (),
}
CACHED_KEYS = ("input_cached_tokens", "input_cache_read", "cache_read_input_tokens")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def field_specs(mapping) -> dict[str, list[FieldSpec]]:
    """Per mapped field, the specs tried in order (the user's one, else the defaults).

    Raises:
        MappingError: a spec this source cannot read (`resource:`, `attr:`, `ancestor:` are OTel's).
    """
    specs = {}
    for field, defaults in DEFAULT_SPECS.items():
        chosen = resolve(mapping, field, None)
        parsed = [chosen] if chosen else [FieldSpec.parse(text, field) for text in defaults]
        specs[field] = [s.require("path", "tag", "const", field=field, source="langfuse") for s in parsed]
    return specs


def spec_fields(specs: dict[str, list[FieldSpec]]) -> tuple[str, ...]:
    """The export fields the specs read (a path's first segment; `tags` for tag specs)."""
    out = [s.arg.split(".")[0] if s.kind == "path" else "tags" for chain in specs.values() for s in chain
           if s.kind != "const"]
    return tuple(dict.fromkeys(out))


def _spec_sql(spec: FieldSpec) -> str:
    if spec.kind == "const":
        return _literal(spec.arg)
    if spec.kind == "tag":      # the rest of the first tag that starts with the prefix
        first = (f"list_filter(json_extract_string(tags, '$[*]'), lambda t: starts_with(t, {_literal(spec.arg)}))[1]")
        return f"nullif(substr({first}, {len(spec.arg) + 1}), '')"
    head, _, rest = spec.arg.partition(".")
    column = '"' + head.replace('"', '""') + '"'
    if not rest:
        return f"nullif({column}, '')"
    return f"nullif(json_extract_string({column}, {_literal(FieldSpec('path', rest, rest).json_path())}), '')"


def _chain_sql(chain: list[FieldSpec]) -> str:
    return "NULL::VARCHAR" if not chain else f"coalesce({', '.join(_spec_sql(s) for s in chain)})"


def unmapped(field: str, chain: list[FieldSpec]) -> str:
    """The quarantine reason of a row whose `field` none of `chain` found."""
    tried = " or ".join(repr(s.text) for s in chain)
    return f"{field} not found in the record (tried {tried}; set source.mapping.{field})"


def _sum_keys(word: str) -> str:
    return (f"list_sum(list_transform(list_filter(map_entries(usage), lambda e: contains(lower(e.key), '{word}')), "
            "lambda e: e.value))")


def mapping_sql(staged: str, specs: dict[str, list[FieldSpec]]) -> str:
    """The query of one staged file's GENERATION rows in [$start, $end) (and its unreadable lines that belong
    there) as contract columns; `$scale` is the file's latency unit in ms, `$home` whether lines without a
    start time belong to this window."""
    service, task = _chain_sql(specs["service"]), _chain_sql(specs["task_type"])
    cached = ", ".join(f"map_extract_value(usage, '{k}')" for k in CACHED_KEYS)
    timeout = "(lower(status_message) like '%timeout%' or lower(status_message) like '%timed out%')"
    return f"""
    with rows as (
        select *, TRY_CAST(start_time AS TIMESTAMPTZ) as ts,
               TRY_CAST(TRY_CAST(usage_details AS JSON) AS MAP(VARCHAR, DOUBLE)) as usage,
               case when upper(level) = 'ERROR' then case when {timeout} then 'timeout' else 'error' end
                    when {BAD_LINE} is null then 'ok' end as status,
               {service} as service, {task} as task_type,
               {_chain_sql(specs["experiment_id"])} as experiment_id, {_chain_sql(specs["variant"])} as variant
        from {staged}
        where type = 'GENERATION' or ({BAD_LINE} is not null and type is null)
    )
    select
        nullif(id, '') as request_id, ts, service, task_type,
        coalesce(nullif(provided_model_name, ''), nullif(model, '')) as model,
        coalesce({_sum_keys("input")}, case when status in ('error', 'timeout') then 0 end) as prompt_tokens,
        coalesce({_sum_keys("output")}, case when status in ('error', 'timeout') then 0 end) as completion_tokens,
        coalesce({cached}) as cached_tokens,
        coalesce(TRY_CAST(latency AS DOUBLE) * $scale,
                 epoch_ms(TRY_CAST(end_time AS TIMESTAMPTZ)) - epoch_ms(ts)) as latency_ms,
        coalesce(TRY_CAST(time_to_first_token AS DOUBLE) * $scale,
                 epoch_ms(TRY_CAST(completion_start_time AS TIMESTAMPTZ)) - epoch_ms(ts)) as ttft_ms,
        status,
        case when status <> 'ok' then NULL
             when cost_details is NULL then coalesce(TRY_CAST(calculated_total_cost AS DOUBLE), TRY_CAST(total_cost AS DOUBLE))
             else TRY_CAST(json_extract_string(cost_details, '$.total') AS DOUBLE) end as cost_usd,
        experiment_id, variant, trace_id,
        TRY_CAST(latency AS DOUBLE) as latency_as_written,
        source_file,
        case when {BAD_LINE} is not null then {BAD_LINE} || ' in ' || source_file
             when service is null then {_literal(unmapped("service", specs["service"]))}
             when task_type is null then {_literal(unmapped("task_type", specs["task_type"]))}
             when nullif(provided_model_name, '') is null and nullif(model, '') is null
                  then 'model not found in the record (provided_model_name is empty)'
             when status = 'ok' and {_sum_keys("input")} is null
                  then 'usage_details has no input token count (the SDK reported no usage)'
        end as mapping_reason
    from rows
    where (ts >= $start and ts < $end) or (ts is null and {BAD_LINE} is not null and $home)
    """


__all__ = ["DEFAULT_SPECS", "MappingError", "field_specs", "mapping_sql", "spec_fields", "unmapped"]
