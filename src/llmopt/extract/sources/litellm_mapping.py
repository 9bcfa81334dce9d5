"""LiteLLM's fields → the contract's columns, in DuckDB: shared by its S3 objects and its spend log table.

Both producers are read first into a relation `raw` of LiteLLM's own values (epoch seconds, its status words, its
model names); `contract_sql` turns that into contract columns, one vectorised query:

| LiteLLM | contract |
|---|---|
| `id` / `request_id` | request_id |
| `startTime` (epoch s) | ts |
| (`endTime` − `startTime`)·1000 | latency_ms |
| (`completionStartTime` − `startTime`)·1000, successes only | ttft_ms |
| `status` success → ok; failure → timeout if `error_information.error_class` names a timeout, else error | status |
| `response_cost`, null on a failure or when LiteLLM says it could not price the call | cost_usd |
| `custom_llm_provider` (else the prefix of `model`) | provider |
| `model` without its `<provider>/` prefix | model |
| `model_group` `<service>/<task_type>` (llmopt's export alias, `llmopt.publish.exports`), else the mapping | service, task_type |
| `prompt_tokens`, `completion_tokens`; usage `prompt_tokens_details.cached_tokens` | tokens |
| `model_parameters.max_tokens` (or `max_completion_tokens`), `.temperature` | max_tokens, temperature |

A row whose required field maps to nothing keeps that field null and says why in `mapping_reason`.
"""

from __future__ import annotations

from llmopt.extract.sources import SOURCE_FILE
from llmopt.extract.sources.mapping import FieldSpec, resolve, unmapped_reason
from llmopt.validate.contract import MAPPING_REASON

# where the request's own metadata lands: the proxy copies a request's `metadata` to `requester_metadata`
DEFAULTS = {"service": "metadata.requester_metadata.service", "task_type": "metadata.requester_metadata.task",
            "experiment_id": "metadata.requester_metadata.experiment_id",
            "variant": "metadata.requester_metadata.variant"}
MAPPED_FIELDS = ("service", "task_type", "experiment_id", "variant")


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def field_specs(mapping, defaults: dict[str, str] = DEFAULTS) -> dict[str, FieldSpec | None]:
    """The spec of each mapped field (the user's, else the `defaults`) and of `quality` (a score's path, or a name
    under the defaults' metadata dictionary; none by default)."""
    specs = {field: resolve(mapping, field, defaults.get(field)) for field in MAPPED_FIELDS}
    score, under = mapping.quality.score, defaults["service"].rpartition(".")[0]
    specs["quality"] = None if score is None else FieldSpec.parse(
        score if ":" in score or "." in score else f"{under}.{score}", "quality.score")
    for field, spec in specs.items():
        if spec is not None:
            spec.require("path", "tag", "const", field=field, source="litellm")
    return specs


def spec_sql(spec: FieldSpec | None, document: str, tags: str) -> str:
    """The DuckDB expression of one spec over a JSON `document` and a JSON list of `tags` (text)."""
    if spec is None:
        return "NULL"
    if spec.kind == "const":
        return quote(spec.arg)
    if spec.kind == "tag":       # the rest of the first tag that starts with the prefix
        prefix = quote(spec.arg)
        return (f"substr(list_filter(CAST(try(json_extract_string({tags}, '$[*]')) AS VARCHAR[]), "
                f"t -> starts_with(t, {prefix}))[1], {len(spec.arg) + 1})")
    return f"try(json_extract_string({document}, {quote(spec.json_path())}))"


def contract_sql(specs: dict[str, FieldSpec | None], explicit: set[str], start: str, end: str) -> str:
    """The query over `raw` giving contract columns (+ source_file, mapping_reason) of rows in [start, end).

    `raw` has: request_id, start_s, end_s, completion_start_s (epoch seconds), status, error_class, provider_raw,
    model_raw, model_group, cost, cost_failed, prompt_tokens, completion_tokens, cached_tokens, max_tokens,
    temperature, finish_reason, one `<field>_m` per mapped field and quality_m, source_file, name_ts (the time of
    the object's name, for rows without a ts) and json_error (a reason the text did not parse).
    An explicit user mapping of service/task_type wins over the `<service>/<task_type>` alias; the default does not.
    """
    alias = ("(regexp_full_match(model_group, '[^/]+/[^/]+') AND model_group IS DISTINCT FROM model_raw "
             "AND split_part(model_group, '/', 1) IS DISTINCT FROM provider)")

    def routed(field: str, part: int) -> str:
        mapped = f"nullif({field}_m, '')"
        if field in explicit:
            return mapped
        return f"coalesce(CASE WHEN {alias} THEN split_part(model_group, '/', {part}) END, {mapped})"

    reasons = [("json_error IS NOT NULL", "json_error"),
               ("request_id IS NULL", quote(unmapped_reason("request_id", FieldSpec("path", "id", "id")))),
               ("ts IS NULL", quote(unmapped_reason("ts", FieldSpec("path", "startTime", "startTime")))),
               ("service IS NULL", quote(unmapped_reason("service", specs["service"]))),
               ("task_type IS NULL", quote(unmapped_reason("task_type", specs["task_type"]))),
               ("model IS NULL", quote(unmapped_reason("model", FieldSpec("path", "model", "model")))),
               ("status IS NULL", "'status ' || coalesce(raw_status, 'missing') || ' is not success or failure'")]
    reason = "CASE " + " ".join(f"WHEN {cond} THEN {text}" for cond, text in reasons) + " END"
    return f"""
    WITH base AS (
      SELECT *, coalesce(nullif(provider_raw, ''),
                         CASE WHEN contains(model_raw, '/') THEN split_part(model_raw, '/', 1) END) AS provider
      FROM raw),
    mapped AS (
      SELECT
        nullif(request_id, '') AS request_id,
        to_timestamp(TRY_CAST(start_s AS DOUBLE)) AS ts,
        {routed('service', 1)} AS service,
        {routed('task_type', 2)} AS task_type,
        provider,
        CASE WHEN provider IS NOT NULL AND starts_with(model_raw, provider || '/')
             THEN substr(model_raw, length(provider) + 2) ELSE nullif(model_raw, '') END AS model,
        TRY_CAST(prompt_tokens AS DOUBLE) AS prompt_tokens,
        TRY_CAST(completion_tokens AS DOUBLE) AS completion_tokens,
        TRY_CAST(cached_tokens AS DOUBLE) AS cached_tokens,
        TRY_CAST(max_tokens AS DOUBLE) AS max_tokens,
        TRY_CAST(temperature AS DOUBLE) AS temperature,
        (TRY_CAST(end_s AS DOUBLE) - TRY_CAST(start_s AS DOUBLE)) * 1000 AS latency_ms,
        CASE WHEN status = 'success' THEN
          (TRY_CAST(completion_start_s AS DOUBLE) - TRY_CAST(start_s AS DOUBLE)) * 1000 END AS ttft_ms,
        CASE WHEN status = 'success' THEN 'ok'
             WHEN status = 'failure' AND lower(coalesce(error_class, '')) LIKE '%timeout%' THEN 'timeout'
             WHEN status = 'failure' THEN 'error' END AS status,
        status AS raw_status,
        finish_reason,
        CASE WHEN status = 'success' AND NOT coalesce(cost_failed, false) THEN TRY_CAST(cost AS DOUBLE) END
          AS cost_usd,
        TRY_CAST(quality_m AS DOUBLE) AS quality_score,
        nullif(experiment_id_m, '') AS experiment_id,
        nullif(variant_m, '') AS variant,
        source_file, name_ts, json_error
      FROM base)
    SELECT * EXCLUDE (raw_status, name_ts, json_error), {reason} AS {MAPPING_REASON}
    FROM mapped
    WHERE CASE WHEN ts IS NOT NULL THEN ts >= {start} AND ts < {end}
               ELSE name_ts >= {start} AND name_ts < {end} END
    """


OUTPUT_EXTRA = (SOURCE_FILE, MAPPING_REASON)
